package room

import (
	"context"
	"fmt"
	ltestutil "github.com/liveserver/liveserver/internal/testutil"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// A connection whose write stalls past WriteTimeout is closed as a slow
// consumer (counted), even when it has been silent long enough to be
// pinged: a ping would queue behind the stalled write, and its timeout,
// shorter here than the stall limit, used to drop the connection first,
// silently and uncounted.
func TestStalledWriteClosedAsSlowNotByPing(t *testing.T) {
	store := inventory.NewMemoryStore(inventory.MemoryConfig{})
	defer store.Close()
	if _, err := store.PutRoom(context.Background(), "r", inventory.RoomSpec{Title: "R", Products: []inventory.ProductSpec{
		{ID: "a", Name: "A", Price: 1, Currency: "USD", Stock: 5},
	}}); err != nil {
		t.Fatal(err)
	}
	// The queue limit is out of reach: only the stall limit may close it.
	// Pings wait for the test to make the connection silent.
	hub := NewHub(Config{Source: store, ViewersInterval: time.Hour, MaxQueueBytes: 256 << 20,
		WriteTimeout: 2 * time.Second, PingInterval: time.Hour, PingTimeout: 200 * time.Millisecond})
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	conns := make(chan *Conn, 1)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := hub.Accept(w, r, AcceptOptions{})
		if err != nil {
			return
		}
		if err := hub.Join(context.Background(), c, "r", nil, nil); err != nil {
			t.Errorf("join: %v", err)
		}
		conns <- c
		go c.ReadLoop(func(websocket.MessageType, []byte) {})
	}))
	ts.Listener = ltestutil.SmallSendBufListener{Listener: ts.Listener}
	ts.Start()
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return ltestutil.SmallRecvBufDialer(4<<10).DialContext(ctx, network, addr)
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow() // never reads
	c := <-conns

	// Events until a write has been blocked for a while: the socket is
	// full on both sides.
	pad := strings.Repeat("x", 1000)
	seq := uint64(0)
	for {
		if from := c.ws.WriteStart(); from != 0 && time.Since(time.Unix(0, from)) > 200*time.Millisecond {
			break
		}
		if seq == 100_000 { // 100 MB: no loopback socket holds that much
			t.Fatal("the socket never filled")
		}
		seq++
		hub.HandleMessage("r", protocol.SeqEnvelope(seq, fmt.Appendf(nil, "m %d %s", seq, pad)))
		if seq%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	// Silent past PingInterval: the next sweep finds it due for a ping.
	c.lastRead.Store(0)

	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the stalled connection was never closed")
	}
	if n := testutil.ToFloat64(hub.metrics.slowClosed); n != 1 {
		t.Fatalf("slow consumer closes = %v, want 1: the stalled connection was dropped by another path", n)
	}
}
