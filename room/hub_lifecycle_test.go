package room

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/protocol"
)

// conns returns the hub's connections.
func (h *Hub) connList() []*Conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*Conn
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

// deadPeer connects and never reads, so it never answers a ping.
func (f *hubFixture) deadPeer(t *testing.T) {
	t.Helper()
	ws, _, err := websocket.Dial(context.Background(), f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
}

// Close ends a ping in flight at once (not after PingTimeout) and waits
// for its goroutine, and drops the connection: its read loop ends.
func TestHubCloseEndsPings(t *testing.T) {
	f := newHubFixture(t, func(c *Config) { c.PingInterval, c.PingTimeout = 50*time.Millisecond, time.Hour })
	f.deadPeer(t)
	testutil.Eventually(t, "a connection", func() bool { return f.hub.Conns() == 1 })
	c := f.hub.connList()[0]
	testutil.Eventually(t, "a ping in flight", func() bool { return c.pinging.Load() })
	f.hub.Close()
	if c.pinging.Load() {
		t.Fatal("a ping goroutine outlived Close")
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection's read loop outlived Close")
	}
}

// The goroutines sweep starts are bounded: with two slots and five peers
// that never answer, at most two pings are out at a time, and every peer
// is still found dead in turn.
func TestHubBoundsPings(t *testing.T) {
	f := newHubFixture(t, func(c *Config) {
		c.PingInterval, c.PingTimeout, c.maxPings = 50*time.Millisecond, 300*time.Millisecond, 2
	})
	for range 5 {
		f.deadPeer(t)
	}
	testutil.Eventually(t, "five connections", func() bool { return f.hub.Conns() == 5 })
	conns := f.hub.connList()
	var most int
	testutil.Eventually(t, "every dead peer dropped", func() bool {
		out := 0
		for _, c := range conns {
			if c.pinging.Load() {
				out++
			}
		}
		most = max(most, out)
		return f.hub.Conns() == 0
	})
	if most > 2 {
		t.Fatalf("%d pings out at once, bound 2", most)
	}
	if most == 0 {
		t.Fatal("never saw a ping out: the check above checked nothing")
	}
}

// blockingSource blocks history reads until their context ends.
type blockingSource struct {
	Source
	block   atomic.Bool
	entered chan struct{}
}

func (b *blockingSource) Since(ctx context.Context, room string, seq uint64) ([]protocol.Envelope, bool, error) {
	if b.block.Load() {
		b.entered <- struct{}{}
		<-ctx.Done()
		return nil, false, ctx.Err()
	}
	return b.Source.Since(ctx, room, seq)
}

// A gap repair runs under the hub's lifetime: Close ends one in flight
// rather than leaving the broker's goroutine blocked for FetchTimeout.
func TestHubCloseCancelsRepair(t *testing.T) {
	f := newHubFixture(t, func(c *Config) { c.FetchTimeout = time.Hour })
	src := &blockingSource{Source: f.store, entered: make(chan struct{}, 1)}
	f.hub.src = src
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	f.hub.HandleMessage("r", f.pin(t, "a"))
	wantSeq(t, next(), "pinned", 1)
	f.pin(t, "b") // lost
	e3 := f.pin(t, "a")
	src.block.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.hub.HandleMessage("r", e3) // a gap: repair reads the history
	}()
	<-src.entered
	f.hub.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the repair in flight did not end with Close")
	}
}

// Close stops a room's pending volatile flush; a volatile message after
// Close starts no timer.
func TestHubCloseStopsTimers(t *testing.T) {
	f := newHubFixture(t, func(c *Config) { c.VolatileInterval = time.Hour })
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	stock := func(v int) []byte {
		return protocol.VolatileEnvelope(protocol.StockKey("a"), protocol.Marshal(protocol.Stock{Type: protocol.TypeStock, Room: "r", Product: "a", V: int64(v)}))
	}
	f.hub.HandleMessage("r", stock(1)) // goes at once
	f.hub.HandleMessage("r", stock(2)) // waits an hour
	f.hub.mu.RLock()
	r := f.hub.rooms["r"]
	f.hub.mu.RUnlock()
	pending := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.vol.timer != nil || r.vol.pending != nil
	}
	if !pending() {
		t.Fatal("no flush pending before Close: the check below checks nothing")
	}
	f.hub.Close()
	if pending() {
		t.Fatal("the room's flush timer is still set after Close")
	}
	f.hub.HandleMessage("r", stock(3))
	f.hub.HandleMessage("r", stock(4))
	if pending() {
		t.Fatal("a volatile message after Close set a timer")
	}
}
