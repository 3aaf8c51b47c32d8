package rkeys

import (
	"strings"
	"testing"
)

// Every name starts with the prefix; a room's names share its hash tag;
// the channel maps back to its room and nothing else does.
func TestNames(t *testing.T) {
	n := New("p:")
	keys := n.RoomKeys("r1", n.Request("r1", "x"))
	if len(keys) != 15 || keys[0] != "p:{room:r1}:meta" || keys[10] != "p:{room:r1}:orderidx" || keys[13] != "p:{room:r1}:auctions:ended" || keys[14] != "p:{room:r1}:req:x" {
		t.Fatalf("RoomKeys: %q", keys)
	}
	all := append(keys, n.Events("r1"), n.Viewers("r1"), n.Idempotency("r1", "a:b", "c"), n.BidIdempotency("r1", "a:b", "c"), n.RoomKey("r1", "orders"))
	for _, k := range all {
		if !strings.HasPrefix(k, "p:{room:r1}:") {
			t.Errorf("%q lacks the room's prefix and hash tag", k)
		}
	}
	if a, b := n.Idempotency("r1", "a:b", "c"), n.Idempotency("r1", "a", "b:c"); a == b {
		t.Errorf("idempotency keys collide: %q", a)
	}
	if a, b := n.BidIdempotency("r1", "a:b", "c"), n.BidIdempotency("r1", "a", "b:c"); a == b || a == n.Idempotency("r1", "a:b", "c") {
		t.Errorf("bid idempotency keys collide: %q", a)
	}
	for _, k := range []string{n.SaleTimers(), n.AuctionTimers(), n.DevSecret(), n.NodeMode()} {
		if !strings.HasPrefix(k, "p:") || strings.Contains(k, "{") {
			t.Errorf("%q: want the prefix and no room tag", k)
		}
	}
	if room, ok := n.RoomOfEvents(n.Events("a-b_c")); !ok || room != "a-b_c" {
		t.Errorf("RoomOfEvents(Events) = %q, %v", room, ok)
	}
	for _, ch := range []string{New("q:").Events("r1"), n.Viewers("r1"), "p:{room:r1}:event", ""} {
		if room, ok := n.RoomOfEvents(ch); ok {
			t.Errorf("RoomOfEvents(%q) = %q, want none", ch, room)
		}
	}
	if p := New("a*b:").RoomKeyPattern("orders"); p != `a\*b:{room:*}:orders` {
		t.Errorf("RoomKeyPattern = %q", p)
	}
	if room, ok := n.RoomOfKey(n.RoomKey("r-1", "orders"), "orders"); !ok || room != "r-1" {
		t.Errorf("RoomOfKey(RoomKey) = %q, %v", room, ok)
	}
	if _, ok := n.RoomOfKey(n.RoomKey("r-1", "hist"), "orders"); ok {
		t.Errorf("RoomOfKey matched another suffix")
	}
	if New("").Events("r") != "{room:r}:events" {
		t.Errorf("an empty prefix is no prefix")
	}
}
