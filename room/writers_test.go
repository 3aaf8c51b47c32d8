package room

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	ltestutil "github.com/liveserver/liveserver/internal/testutil"
)

// A peer that stops reading fills its socket: the pool hands the connection
// to a writer goroutine of its own mid-frame, pings interleave only between
// frames, and once the peer reads again it gets every message, whole and in
// order.
func TestWriterPoolHandsOffFullSockets(t *testing.T) {
	f := newHubFixture(t, func(c *Config) { c.MaxQueueBytes = 256 << 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	var c *Conn
	ltestutil.Eventually(t, "the connection registered", func() bool {
		f.hub.mu.RLock()
		defer f.hub.mu.RUnlock()
		for k := range f.hub.conns {
			c = k
		}
		return c != nil
	})

	// 32 MiB in 4 KiB messages: far more than loopback socket buffers hold.
	const total = 8192
	pad := bytes.Repeat([]byte("x"), 4096)
	var pings sync.WaitGroup
	for i := range total {
		if !c.Send(fmt.Appendf(nil, "%d %s", i, pad)) {
			t.Fatalf("send %d refused", i)
		}
		if i%1024 == 0 {
			pings.Add(1)
			go func() {
				defer pings.Done()
				pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
				defer pcancel()
				if err := c.ws.Ping(pctx); err != nil {
					t.Errorf("ping: %v", err)
				}
			}()
		}
	}
	time.Sleep(100 * time.Millisecond) // let the socket fill while nobody reads

	next := 0
	for next < total {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d messages: %v", next, err)
		}
		for _, m := range bytes.Split(data, []byte("\n")) {
			if bytes.HasPrefix(m, []byte(`{"type":"snapshot"`)) {
				continue
			}
			sp := bytes.IndexByte(m, ' ')
			n, err := strconv.Atoi(string(m[:max(sp, 0)]))
			if sp < 0 || err != nil || n != next || !bytes.Equal(m[sp+1:], pad) {
				t.Fatalf("message %d: got %.40q (%d bytes)", next, m, len(m))
			}
			next++
		}
	}
	pings.Wait()
	if got := testutil.ToFloat64(f.hub.metrics.handoffs); got == 0 {
		t.Fatal("no frame was handed off: the socket never filled, so this test tested nothing")
	}
}
