package room

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// Joins at the same seq share one encoded snapshot (with the joiner's
// viewer count spliced in); a join given shared bytes after a purchase also
// gets the stock the bytes miss; a new seq is encoded again.
func TestJoinsShareSnapshotPerSeq(t *testing.T) {
	f := newHubFixture(t, func(c *Config) { c.SnapshotShareWindow = time.Hour })
	encodes := func() float64 { return testutil.ToFloat64(f.hub.metrics.snapshotEncodes) }
	first := f.viewer(t)()
	wantSeq(t, first, "snapshot", 0)
	second := f.viewer(t)()
	if encodes() != 1 {
		t.Fatalf("two joins at seq 0: %v encodings, want 1", encodes())
	}
	// The second is the first's bytes with its own count spliced in.
	if second["viewers"] != 2.0 {
		t.Fatalf("second joiner's snapshot viewers = %v, want 2", second["viewers"])
	}
	second["viewers"] = first["viewers"]
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("shared snapshot differs:\n%v\n%v", first, second)
	}

	// A purchase changes stock but not seq; its stock message is lost to
	// the hub here, as for a viewer that was joining when it went out.
	if _, err := f.store.Buy(context.Background(), inventory.BuyRequest{Room: "r", User: "u", ID: "1", Product: "a", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	if st := next(); st["type"] != "stock" || st["product"] != "a" || st["remaining"] != 4.0 || st["v"] != 2.0 {
		t.Fatalf("after the shared snapshot: %v, want stock of a: 4 left, v 2", st)
	}
	if encodes() != 1 {
		t.Fatalf("%v encodings after three joins at seq 0, want 1", encodes())
	}
	f.pin(t, "b") // seq 1, not delivered to the hub: the join reads it
	m := f.viewer(t)()
	wantSeq(t, m, "snapshot", 1)
	if encodes() != 2 {
		t.Fatalf("a join at a new seq: %v encodings, want 2", encodes())
	}
}

// The node's budget counts what a connection holds alone (replies, its
// join's stock), not room messages, and releases it as it is written.
func TestQueueBudgetAccounting(t *testing.T) {
	h := NewHub(Config{Source: inventory.NewMemoryStore(inventory.MemoryConfig{}), MaxNodeQueueBytes: 1000})
	c := &Conn{hub: h, done: make(chan struct{}), writing: true} // no writer: the test takes
	shared := bytes.Repeat([]byte("s"), 500)
	c.mu.Lock()
	c.sendLocked(shared)
	c.volatileLocked("r", protocol.ViewersKey, shared, time.Now(), nil)
	c.mu.Unlock()
	if h.QueuedBytes() != 0 {
		t.Fatalf("room messages charged: %d", h.QueuedBytes())
	}
	c.Send(bytes.Repeat([]byte("o"), 100))
	c.mu.Lock()
	c.sendVolatileOwnLocked("r", protocol.StockKey("a"), bytes.Repeat([]byte("v"), 50))
	c.mu.Unlock()
	if h.QueuedBytes() != 150 {
		t.Fatalf("own bytes %d, want 150", h.QueuedBytes())
	}
	// A room's stock message conflates the join's: no longer charged.
	c.mu.Lock()
	c.volatileLocked("r", protocol.StockKey("a"), []byte("shared stock"), time.Now(), nil)
	c.mu.Unlock()
	if h.QueuedBytes() != 100 {
		t.Fatalf("own bytes %d after conflation, want 100", h.QueuedBytes())
	}
	c.take(nil)
	if h.QueuedBytes() != 0 || c.own != 0 || len(c.ownq) != 0 || h.budget.backlogged.Load() != 0 {
		t.Fatalf("after take: node %d, conn %d, %d own queued, %d backlogged", h.QueuedBytes(), c.own, len(c.ownq), h.budget.backlogged.Load())
	}
}

// Over the budget, the connection with the large backlog is closed as a
// slow consumer; one with a small backlog keeps working.
func TestQueueBudgetClosesLargest(t *testing.T) {
	h := NewHub(Config{Source: inventory.NewMemoryStore(inventory.MemoryConfig{}), MaxNodeQueueBytes: 1000})
	big := &Conn{hub: h, done: make(chan struct{}), writing: true}
	small := &Conn{hub: h, done: make(chan struct{}), writing: true}
	small.Send(bytes.Repeat([]byte("m"), 10))
	for i := 0; i < 100 && !big.closing; i++ {
		big.Send(bytes.Repeat([]byte("b"), 100))
	}
	if !big.closing || big.closeCode != protocol.CloseSlowConsumer {
		t.Fatalf("the large backlog was not closed (closing %v, code %v)", big.closing, big.closeCode)
	}
	if got := testutil.ToFloat64(h.metrics.budgetClosed); got != 1 {
		t.Fatalf("budget closes = %v", got)
	}
	if !small.Send(bytes.Repeat([]byte("m"), 10)) || small.closing {
		t.Fatal("a small backlog was refused")
	}
	if h.QueuedBytes() != 20 {
		t.Fatalf("queued %d after the close, want the small one's 20", h.QueuedBytes())
	}
}

// A room_closed message removes the room: joined viewers get it last and
// are unsubscribed, and the room leaves the hub.
func TestHubClosesRoom(t *testing.T) {
	f := newHubFixture(t)
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	if err := f.store.DeleteRoom(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	f.hub.HandleMessage("r", <-f.pub.got)
	if m := next(); m["type"] != protocol.TypeRoomClosed || m["room"] != "r" {
		t.Fatalf("got %v, want room_closed", m)
	}
	eventuallyRoom(t, func() bool {
		f.hub.mu.RLock()
		defer f.hub.mu.RUnlock()
		return len(f.hub.rooms) == 0
	})
	if v := f.hub.Viewers("r"); v != 0 {
		t.Fatalf("viewers of a closed room: %d", v)
	}
}

func eventuallyRoom(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A room deleted while its room_closed was lost (the broker was down) is
// closed by the resync after the reconnect, which finds it gone.
func TestHubClosesRoomFoundGoneOnResync(t *testing.T) {
	f := newHubFixture(t)
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	if err := f.store.DeleteRoom(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	<-f.pub.got // lost
	f.hub.HandleReconnect()
	if m := next(); m["type"] != protocol.TypeRoomClosed || m["room"] != "r" {
		t.Fatalf("got %v, want room_closed", m)
	}
	f.hub.mu.RLock()
	defer f.hub.mu.RUnlock()
	if len(f.hub.rooms) != 0 {
		t.Fatalf("%d rooms left on the hub", len(f.hub.rooms))
	}
}
