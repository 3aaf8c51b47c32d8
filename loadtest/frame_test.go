package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestNextMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  []string
	}{
		{"one", `{"type":"pong"}`, []string{`{"type":"pong"}`}},
		{"batched", "{\"a\":1}\n{\"b\":2}\n{\"c\":3}", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}},
		{"trailing newline", "{\"a\":1}\n", []string{`{"a":1}`}},
		{"empty lines and CRLF", "\n{\"a\":1}\r\n\n  \n{\"b\":2}\r\n", []string{`{"a":1}`, `{"b":2}`}},
		{"empty", "", nil},
		{"only newlines", "\n\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, m := range splitFrame([]byte(tt.frame)) {
				got = append(got, string(m))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
				t.Errorf("splitFrame(%q) = %q, want %q", tt.frame, got, tt.want)
			}
		})
	}
}

func TestScanFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     string
		typ     string
		room    string
		seq     uint64
		hasSeq  bool
		hasRoom bool
	}{
		{"pinned", `{"type":"pinned","room":"r1","seq":42,"ts":1,"product":{"id":"p1","name":"Tote"}}`, "pinned", "r1", 42, true, true},
		{"keys in any order", `{"seq":7,"ts":1,"room":"a-b_c","type":"sale"}`, "sale", "a-b_c", 7, true, true},
		{"spaces", `{ "type" : "catalog" , "room" : "x" , "seq" : 3 }`, "catalog", "x", 3, true, true},
		{"volatile", `{"type":"stock","room":"r","product":"p1","remaining":4,"v":9,"ts":5}`, "stock", "r", 0, false, true},
		{"seq null", `{"type":"pinned","room":"r","seq":null}`, "pinned", "r", 0, false, true},
		{"no room", `{"type":"pong","id":"o1","ts":5}`, "pong", "", 0, false, false},
		{"key text inside strings", `{"type":"pinned","room":"r","seq":5,"product":{"id":"p1","name":"\"seq\":9 \"room\":\"evil\" \"type\":\"x\""}}`, "pinned", "r", 5, true, true},
		{"key text as a value first", `{"title":"type","type":"snapshot","room":"seq","seq":0}`, "snapshot", "seq", 0, true, true},
		{"escaped quote before key text", `{"name":"a\\","type":"stock","room":"r"}`, "stock", "r", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := scanFields([]byte(tt.msg))
			if string(f.typ) != tt.typ || string(f.room) != tt.room || f.seq != tt.seq || f.hasSeq != tt.hasSeq || (f.room != nil) != tt.hasRoom {
				t.Errorf("scanFields(%s) = type %q room %q (present %v) seq %d (present %v); want %q %q (%v) %d (%v)",
					tt.msg, f.typ, f.room, f.room != nil, f.seq, f.hasSeq, tt.typ, tt.room, tt.hasRoom, tt.seq, tt.hasSeq)
			}
		})
	}
}

// TestScanFieldsAgreesWithJSON checks the scanner against encoding/json on
// messages whose nested strings are random and full of quotes, backslashes
// and key-like text.
func TestScanFieldsAgreesWithJSON(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{`"`, `\`, `"seq":`, `"type":"`, `"room":"`, `:`, `,`, `{`, `}`, "\n", "é", "a", "1", " "}
	randStr := func() string {
		var b strings.Builder
		for n := r.IntN(12); n > 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		return b.String()
	}
	type product struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	type event struct {
		Type    string  `json:"type"`
		Room    string  `json:"room"`
		Seq     uint64  `json:"seq"`
		TS      int64   `json:"ts"`
		Product product `json:"product"`
		Title   string  `json:"title"`
	}
	for i := 0; i < 5000; i++ {
		e := event{Type: "pinned", Room: fmt.Sprintf("room-%d", r.IntN(100)), Seq: r.Uint64N(1 << 40), TS: 1,
			Product: product{ID: randStr(), Name: randStr()}, Title: randStr()}
		b, _ := json.Marshal(e)
		// Put the nested fields first sometimes: key order must not matter.
		if i%2 == 1 {
			var m map[string]any
			json.Unmarshal(b, &m)
			b, _ = json.Marshal(m) // sorted keys: product, room, seq, title, ts, type
		}
		f := scanFields(b)
		if string(f.typ) != e.Type || string(f.room) != e.Room || !f.hasSeq || f.seq != e.Seq {
			t.Fatalf("scanFields(%s) = %q %q %d %v, want %q %q %d", b, f.typ, f.room, f.seq, f.hasSeq, e.Type, e.Room, e.Seq)
		}
	}
}

func TestRawField(t *testing.T) {
	t.Parallel()
	msg := []byte(`{"id":"b\"7","ok":true,"order":null,"n":-12,"obj":{"x":1}}`)
	for key, want := range map[string]string{`"id"`: `b\"7`, `"ok"`: "true", `"order"`: "null", `"n"`: "-12"} {
		got, ok := rawField(msg, []byte(key))
		if !ok || string(got) != want {
			t.Errorf("rawField(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
	for _, key := range []string{`"obj"`, `"missing"`} {
		if got, ok := rawField(msg, []byte(key)); ok {
			t.Errorf("rawField(%s) = %q, want not found", key, got)
		}
	}
	if _, ok := rawField([]byte(`{"id":"unterminated`), keyID); ok {
		t.Error("an unterminated string was accepted")
	}
}

func TestParseUint(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"0": 0, "42": 42, "18446744073709551615": 1<<64 - 1} {
		if got, ok := parseUint([]byte(in)); !ok || got != want {
			t.Errorf("parseUint(%s) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-1", "1.5", "1e3", "null", "18446744073709551616", "123456789012345678901"} {
		if got, ok := parseUint([]byte(in)); ok {
			t.Errorf("parseUint(%s) = %d, want an error", in, got)
		}
	}
}

func BenchmarkScanFields(b *testing.B) {
	frame := []byte(`{"type":"pinned","room":"lt-1","seq":1234,"ts":1700000000000,"product":{"id":"p2","name":"Runner Sneakers","price":8999,"currency":"USD","image":"/demo/img/sneakers.svg","remaining":20,"v":3}}` + "\n" +
		`{"type":"viewers","room":"lt-1","count":1500,"ts":1700000000000}`)
	b.ReportAllocs()
	for b.Loop() {
		for m, rest := nextMessage(frame); len(m) > 0; m, rest = nextMessage(rest) {
			_ = scanFields(m)
		}
	}
}
