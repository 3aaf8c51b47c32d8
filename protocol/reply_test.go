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
		{map[string]any{"amount": int64(5), "leading": false, "ends_at": int64(1796545385258), "current": 7},
			map[string]any{"amount": 5.0, "leading": false, "ends_at": 1796545385258.0, "current": 7.0}},
		{map[string]any{"s": "a<b", "t": "é", "u": []int{1}, "v": nil}, map[string]any{"s": "a<b", "t": "é", "u": []any{1.0}, "v": nil}},
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

// The hand-written members are what encoding/json writes, byte for byte.
func TestAppendFlatMatchesJSON(t *testing.T) {
	fields := map[string]any{"amount": int64(1200), "leading": true, "current": 1300, "ends_at": int64(-3), "code": "bid_too_low"}
	got, ok := appendFlat(nil, fields)
	if !ok {
		t.Fatal("plain fields not taken")
	}
	want := Marshal(fields)
	if string(want) != "{"+string(got)+"}" {
		t.Fatalf("%s, want %s", got, want)
	}
	for _, v := range []any{"a<b", "é", `q"`, 1.5, nil, []int{1}} {
		if _, ok := appendFlat(nil, map[string]any{"x": v}); ok {
			t.Fatalf("%#v taken: encoding/json writes it otherwise or it is not flat", v)
		}
	}
}
