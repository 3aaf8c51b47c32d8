package main

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/liveserver/liveserver/protocol"
)

// The hand-built bid is the JSON encoding/json would make, escapes
// included (those go through encoding/json).
func TestBidMessage(t *testing.T) {
	for _, room := range []string{"lt-1a2b-r7", `r"q`, "é"} {
		var got, want map[string]any
		if err := json.Unmarshal(bidMessage("bid-3", room, "0b3c5f2e-8a8e-4d41-9a55-0f1f1c1d2e3f", 1200), &got); err != nil {
			t.Fatalf("room %q: %v", room, err)
		}
		b, _ := json.Marshal(map[string]any{"type": "bid", "id": "bid-3", "room": room, "auction": "0b3c5f2e-8a8e-4d41-9a55-0f1f1c1d2e3f", "amount": 1200})
		_ = json.Unmarshal(b, &want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("room %q: %v, want %v", room, got, want)
		}
	}
}

// Bid replies as the server encodes them are read back.
func TestParseBidReply(t *testing.T) {
	ok := protocol.Reply("b1", 5, map[string]any{"amount": 1200, "leading": true, "current": 1300, "ends_at": 1796545385258})
	if r, good := parseBidReply(ok); !good || !r.ok || r.amount != 1200 || r.current != 1300 || r.endsAt != 1796545385258 {
		t.Fatalf("%s: %+v %v", ok, r, good)
	}
	e := protocol.Errorf(protocol.CodeBidTooLow, "bid at least 1400")
	e.MinBid = 1400
	refused := protocol.ReplyError("b2", 5, e)
	if r, good := parseBidReply(refused); !good || r.ok || r.code != protocol.CodeBidTooLow || r.minBid != 1400 {
		t.Fatalf("%s: %+v %v", refused, r, good)
	}
	if _, good := parseBidReply([]byte(`{"type":"reply"}`)); good {
		t.Fatal("a reply without ok was read")
	}
}
