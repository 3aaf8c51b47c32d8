package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
)

// A reply is its head plus the fields, whichever way it is encoded.
func TestReplyEncodesHeadAndFields(t *testing.T) {
	for _, tc := range []struct {
		fields map[string]any
		want   map[string]any
	}{
		{nil, map[string]any{}},
		{map[string]any{"amount": 1200, "leading": true, "note": "a\"b<"}, map[string]any{"amount": 1200.0, "leading": true, "note": "a\"b<"}},
		{map[string]any{"ok": false, "x": 1}, map[string]any{"x": 1.0}}, // the head wins over a field of its name
	} {
		var got map[string]any
		raw := Reply(`id-"1"`, 42, tc.fields)
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		want := map[string]any{"type": "reply", "id": `id-"1"`, "ok": true, "ts": 42.0}
		for k, v := range tc.want {
			want[k] = v
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s decodes to %v, want %v", raw, got, want)
		}
	}
}
