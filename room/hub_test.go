package room

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liveserver/liveserver/internal/wsock"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// lossyPublisher hands the store's envelopes to the test instead of the
// hub, so the test decides what the hub receives (drops, duplicates).
type lossyPublisher struct{ got chan []byte }

func (p *lossyPublisher) Publish(_ context.Context, _ string, data []byte) error {
	p.got <- append([]byte(nil), data...)
	return nil
}

type hubFixture struct {
	hub   *Hub
	store *inventory.MemoryStore
	pub   *lossyPublisher
	url   string
}

func newHubFixture(t *testing.T, opts ...func(*Config)) *hubFixture {
	t.Helper()
	pub := &lossyPublisher{got: make(chan []byte, 4096)}
	store := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: pub})
	if _, err := store.PutRoom(context.Background(), "r", inventory.RoomSpec{Title: "R", Products: []inventory.ProductSpec{
		{ID: "a", Name: "A", Price: 1, Currency: "USD", Stock: 5}, {ID: "b", Name: "B", Price: 2, Currency: "USD", Stock: 5},
	}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Source: store, ViewersInterval: time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	hub := NewHub(cfg)
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := hub.Accept(w, r, AcceptOptions{})
		if err != nil {
			return
		}
		if err := hub.Join(context.Background(), c, "r", nil, nil); err != nil {
			t.Errorf("join: %v", err)
		}
		go c.ReadLoop(func(websocket.MessageType, []byte) {})
	}))
	t.Cleanup(func() {
		ts.Close()
		hub.Close()
		store.Close()
	})
	return &hubFixture{hub: hub, store: store, pub: pub, url: "ws" + strings.TrimPrefix(ts.URL, "http")}
}

// viewer connects and returns a function that yields the next message.
func (f *hubFixture) viewer(t *testing.T) func() map[string]any {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ws, _, err := websocket.Dial(ctx, f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); ws.CloseNow() })
	var pending [][]byte
	return func() map[string]any {
		t.Helper()
		if len(pending) == 0 {
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			defer rcancel()
			_, data, err := ws.Read(rctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			pending = bytes.Split(data, []byte("\n"))
		}
		var m map[string]any
		json.Unmarshal(pending[0], &m)
		pending = pending[1:]
		return m
	}
}

func (f *hubFixture) pin(t *testing.T, product string) []byte {
	t.Helper()
	if err := f.store.Pin(context.Background(), "r", product); err != nil {
		t.Fatal(err)
	}
	return <-f.pub.got
}

func wantSeq(t *testing.T, m map[string]any, typ string, seq float64) {
	t.Helper()
	if m["type"] != typ || m["seq"] != seq {
		t.Fatalf("got %v, want %s seq %v", m, typ, seq)
	}
}

// A lost event is fetched from the history; duplicates are dropped.
func TestHubRepairsGapFromHistory(t *testing.T) {
	f := newHubFixture(t)
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	e1 := f.pin(t, "a")
	f.pin(t, "b") // lost on the way
	e3 := f.pin(t, "a")
	f.hub.HandleMessage("r", e1)
	f.hub.HandleMessage("r", e1) // a duplicate
	f.hub.HandleMessage("r", e3)
	wantSeq(t, next(), "pinned", 1)
	wantSeq(t, next(), "pinned", 2)
	wantSeq(t, next(), "pinned", 3)
	if got := testutil.ToFloat64(f.hub.metrics.gapsRepaired.WithLabelValues("history")); got != 1 {
		t.Fatalf("gaps repaired from history = %v", got)
	}
}

// When the history no longer holds the gap, every viewer gets a snapshot;
// after a broker reconnect too.
func TestHubResyncsWithSnapshot(t *testing.T) {
	f := newHubFixture(t)
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	f.hub.HandleMessage("r", f.pin(t, "a"))
	wantSeq(t, next(), "pinned", 1)
	for range inventory.HistorySize + 10 {
		f.pin(t, "b") // all lost
	}
	last := f.pin(t, "a")
	f.hub.HandleMessage("r", last)
	m := next()
	wantSeq(t, m, "snapshot", float64(inventory.HistorySize+12))
	if m["pinned"].(map[string]any)["id"] != "a" {
		t.Fatalf("resync snapshot %v", m)
	}
	f.hub.HandleMessage("r", last) // already covered by the snapshot
	f.hub.HandleReconnect()
	wantSeq(t, next(), "snapshot", float64(inventory.HistorySize+12))
}

// Queued messages go out in one frame, ordered ones first; volatile ones
// are conflated per room and key.
func TestConnBatchesAndConflates(t *testing.T) {
	h := NewHub(Config{Source: inventory.NewMemoryStore(inventory.MemoryConfig{})})
	c := &Conn{hub: h, done: make(chan struct{}), writing: true} // no writer: the test takes
	c.Send([]byte(`{"n":1}`))
	c.mu.Lock()
	c.sendVolatileLocked("r", protocol.StockKey("a"), []byte(`{"stock":1}`))
	c.sendVolatileLocked("r", protocol.ViewersKey, []byte(`{"viewers":1}`))
	c.sendVolatileLocked("r", protocol.StockKey("a"), []byte(`{"stock":2}`))
	c.sendVolatileLocked("r2", protocol.StockKey("a"), []byte(`{"stock":9}`))
	c.mu.Unlock()
	c.Send([]byte(`{"n":2}`))
	frame, n, _ := c.take(nil)
	want := `{"n":1}` + "\n" + `{"n":2}` + "\n" + `{"stock":2}` + "\n" + `{"viewers":1}` + "\n" + `{"stock":9}`
	if string(frame[wsock.Headroom:]) != want || n != 5 {
		t.Fatalf("frame %q (%d messages), want %q", frame[wsock.Headroom:], n, want)
	}
	if c.queued != 0 {
		t.Fatalf("queued bytes %d after taking everything", c.queued)
	}
}

// Past the byte limit a connection drops its backlog and closes with 4000
// after a slow_consumer error.
func TestConnSlowConsumer(t *testing.T) {
	h := NewHub(Config{Source: inventory.NewMemoryStore(inventory.MemoryConfig{}), MaxQueueBytes: 100})
	c := &Conn{hub: h, done: make(chan struct{}), writing: true} // no writer: the test takes
	if !c.Send(bytes.Repeat([]byte("x"), 60)) {
		t.Fatal("first message refused")
	}
	if c.Send(bytes.Repeat([]byte("y"), 60)) {
		t.Fatal("message over the limit accepted")
	}
	frame, _, closing := c.take(nil)
	if !closing || c.closeCode != protocol.CloseSlowConsumer || !bytes.Contains(frame, []byte(`"slow_consumer"`)) || bytes.Contains(frame, []byte("x")) {
		t.Fatalf("after overflow: frame %q closing %v code %v", frame, closing, c.closeCode)
	}
	if c.Send([]byte("z")) {
		t.Fatal("send accepted on a closing connection")
	}
}

// A burst of volatile messages is fanned out a few times, not once per
// message, and the last value always arrives.
func TestHubThrottlesVolatile(t *testing.T) {
	f := newHubFixture(t)
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	for i := 1; i <= 200; i++ {
		msg := []byte(fmt.Sprintf(`{"type":"stock","room":"r","product":"a","remaining":%d,"v":%d}`, 200-i, i))
		f.hub.HandleMessage("r", protocol.VolatileEnvelope(protocol.StockKey("a"), msg))
	}
	seen := 0
	for {
		m := next()
		seen++
		if m["v"] == 200.0 {
			break
		}
	}
	if seen > 10 {
		t.Fatalf("%d stock messages for a burst of 200: not throttled", seen)
	}
}

// flakySource fails snapshots while failing is set.
type flakySource struct {
	Source
	failing atomic.Bool
}

func (f *flakySource) Snapshot(ctx context.Context, room string) (protocol.Snapshot, error) {
	if f.failing.Load() {
		return protocol.Snapshot{}, errors.New("store down")
	}
	return f.Source.Snapshot(ctx, room)
}

// A resync whose snapshot read fails is retried until it succeeds.
func TestHubRetriesFailedResync(t *testing.T) {
	f := newHubFixture(t)
	flaky := &flakySource{Source: f.store}
	f.hub.src = flaky
	next := f.viewer(t)
	wantSeq(t, next(), "snapshot", 0)
	f.pin(t, "a") // lost: only a snapshot will tell the viewer
	flaky.failing.Store(true)
	f.hub.HandleReconnect()
	flaky.failing.Store(false)
	m := next() // from the maintenance loop's retry, within a second or two
	wantSeq(t, m, "snapshot", 1)
}

// A peer that stops answering pings is dropped; one that answers stays.
func TestHubPingsFindDeadPeers(t *testing.T) {
	f := newHubFixture(t, func(c *Config) { c.PingInterval, c.PingTimeout = 200*time.Millisecond, 300*time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alive, _, err := websocket.Dial(ctx, f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer alive.CloseNow()
	readerDone := make(chan struct{})
	defer func() { alive.CloseNow(); <-readerDone }()
	go func() { // keeps reading, so the client answers pings
		defer close(readerDone)
		for {
			if _, _, err := alive.Read(ctx); err != nil {
				return
			}
		}
	}()
	dead, _, err := websocket.Dial(ctx, f.url, nil) // never reads: never answers a ping
	if err != nil {
		t.Fatal(err)
	}
	defer dead.CloseNow()
	deadline := time.Now().Add(10 * time.Second)
	for f.hub.Conns() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after the silent peer stopped answering pings, want 1", f.hub.Conns())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // several ping rounds for the live one
	if f.hub.Conns() != 1 {
		t.Fatal("the peer that answers pings was dropped")
	}
}
