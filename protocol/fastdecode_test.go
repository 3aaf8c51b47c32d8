package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
)

var fastSeeds = []string{
	`{"type":"join","room":"demo","since":3,"id":"a"}`,
	`{"type":"buy","id":"b","room":"r","product":"p1","qty":2}`,
	`{"type":"buy","id":7,"room":"r","product":"p1","qty":-1.5e+3}`,
	`{"type":"sale_start","id":"s","room":"r","product":"p","price":1,"quantity":5,"per_user_limit":1,"duration_ms":1000,"starts_in_ms":0}`,
	`{"type":"auth","token":"x.y.z"}`, `{"type":"ping"}`, ` { "type" : "leave" , "room" : "r" } `,
	`{"type":null,"room":null,"since":null,"id":null}`, `{}`, "{\n}\n", `{"type":"buy","qty":1e400}`,
	`{"type":"bid","id":"b1","room":"r","auction":"0b3c5f2e-8a8e-4d41-9a55-0f1f1c1d2e3f","amount":1200,"max":5000}`,
	`{"type":"comment","id":"c1","room":"r","text":"does it come in blue?"}`, `{"type":"react","room":"r","kind":"heart"}`,
	// inputs the fast path must leave to encoding/json
	`{`, `null`, `[]`, `{"id":{}}`, `{"type":"join","room":"\u0000"}`,
	`{"Type":"ping"}`, `{"type":"ping","type":"buy"}`, `{"type":"ping","extra":1}`, `{"type":5}`,
	`{"type":"ping"} x`, `{"type":"pi\"ng"}`, `{"type":"é"}`, `{"qty":01}`, `{"qty":1.}`, `{"qty":-}`,
	`{"qty":true}`, `{"type":"ping",}`, `{"type" "ping"}`, `{"qty":nul}`,
	`{"type":"comment","text":"caf\u00e9"}`, `{"type":"comment","text":"é"}`, `{"type":"bid","amount":1,"amount":2}`,
}

// FuzzFastRawMatchesJSON checks that whatever the fast path accepts, it
// decodes exactly as json.Unmarshal does. The seed corpus runs with the
// normal tests.
func FuzzFastRawMatchesJSON(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast rawClientMessage
		if !fastRaw(data, &fast) {
			return
		}
		var slow rawClientMessage
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(normalize(fast), normalize(slow)) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", data, normalize(fast), normalize(slow))
		}
	})
}

// normalize makes absent and empty raw values compare equal (encoding/json
// leaves a field nil, the fast path too; an explicit value is never empty).
func normalize(r rawClientMessage) map[string]any {
	s := func(p *string) any {
		if p == nil {
			return nil
		}
		return *p
	}
	b := func(m json.RawMessage) any {
		if m == nil {
			return nil
		}
		return string(m)
	}
	return map[string]any{
		"type": s(r.Type), "token": s(r.Token), "room": s(r.Room), "product": s(r.Product),
		"id": b(r.ID), "since": b(r.Since), "qty": b(r.Qty), "price": b(r.Price), "quantity": b(r.Quantity),
		"per_user_limit": b(r.PerUserLimit), "duration_ms": b(r.DurationMS), "starts_in_ms": b(r.StartsInMS),
		"text": b(r.Text), "kind": b(r.Kind), "auction": s(r.Auction), "amount": b(r.Amount), "max": b(r.Max),
		// the fields the fast path never fills: encoding/json must leave them too
		"comment": b(r.Comment), "user": b(r.User), "purge": b(r.Purge), "enabled": b(r.Enabled),
		"slow_mode_ms": b(r.SlowModeMS), "announcement": b(r.Announcement), "start_price": b(r.StartPrice),
		"increment": b(r.Increment), "extend_ms": b(r.ExtendMS), "sudden_death": b(r.SuddenDeath), "reserve_price": b(r.ReservePrice),
	}
}

// The fast path takes the plain messages clients send, and only those.
func TestFastRawTakesPlainMessages(t *testing.T) {
	for _, s := range fastSeeds[:14] {
		var r rawClientMessage
		if !fastRaw([]byte(s), &r) {
			t.Errorf("fast path refused the plain message %s", s)
		}
	}
	for _, s := range fastSeeds[14:] {
		var r rawClientMessage
		if fastRaw([]byte(s), &r) {
			t.Errorf("fast path accepted %s, which encoding/json must decide", s)
		}
	}
}

func BenchmarkDecodeClient(b *testing.B) {
	msg := []byte(`{"type":"buy","room":"demo","product":"p1","qty":1,"id":"b42"}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, _, err := DecodeClient(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var r rawClientMessage
			if err := json.Unmarshal(msg, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzPlainStringMatchesJSON checks that a string plainString takes is the
// string json.Unmarshal decodes.
func FuzzPlainStringMatchesJSON(f *testing.F) {
	for _, s := range []string{`"b42"`, `""`, `"a\"b"`, `"é"`, `"a\u0041"`, `"x`, `x"`, `"`, "\"\t\"", `"~ !"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		plain, ok := plainString(raw)
		if !ok {
			return
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != string(plain) {
			t.Fatalf("%q: plainString %q, encoding/json %q (%v)", raw, plain, s, err)
		}
	})
}
