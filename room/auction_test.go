package room

import (
	"context"
	"testing"
	"time"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// A bid changes the auction without a seq: a join given the shared
// snapshot encoded before it also gets the leading bid as a bid message.
func TestSharedSnapshotBringsLeadingBid(t *testing.T) {
	f := newHubFixture(t, func(c *Config) { c.SnapshotShareWindow = time.Hour })
	ctx := context.Background()
	a, err := f.store.StartAuction(ctx, "r", inventory.AuctionSpec{Product: "a", StartPrice: 10, Increment: 1, DurationMS: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	first := f.viewer(t)() // encodes the snapshot at the auction's seq
	if au, _ := first["auction"].(map[string]any); au == nil || au["bids"] != 0.0 {
		t.Fatalf("first snapshot's auction %v", first["auction"])
	}
	if _, err := f.store.Bid(ctx, inventory.BidRequest{Room: "r", User: "u", ID: "1", Auction: a.ID, Amount: 12, Author: protocol.Author{ID: "h", Name: "u***", Role: "viewer"}}); err != nil {
		t.Fatal(err)
	}
	next := f.viewer(t)
	snap := next()
	if snap["type"] != "snapshot" {
		t.Fatalf("first message %v", snap)
	}
	for {
		m := next()
		if m["type"] == "stock" {
			continue
		}
		if m["type"] != "bid" || m["current"] != 12.0 || m["v"] != 1.0 || m["auction"] != a.ID {
			t.Fatalf("after the shared snapshot: %v, want the leading bid", m)
		}
		break
	}
}
