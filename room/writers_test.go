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
	ws, c := f.dialOne(ctx, t)

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

// A reply does not wait in line behind a fan-out: a connection that a
// fan-out listed but no worker has reached is written by Reply at once,
// its queue in order, and the worker then skips the stale entry.
func TestReplyTakesListedTurn(t *testing.T) {
	f := newHubFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, c := f.dialOne(ctx, t)
	var got []string
	read := func(want int) {
		t.Helper()
		for len(got) < want {
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			_, data, err := ws.Read(rctx)
			rcancel()
			if err != nil {
				t.Fatalf("read after %q: %v", got, err)
			}
			for _, m := range bytes.Split(data, []byte("\n")) {
				if !bytes.HasPrefix(m, []byte(`{"type":"snapshot"`)) {
					got = append(got, string(m))
				}
			}
		}
	}

	// The join's snapshot written, no writer is at c.
	ltestutil.Eventually(t, "the snapshot written", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.writing
	})
	// The fan-out lists c but does not hand its list to the pool yet: only
	// Reply can write before flush.
	var fo fanout
	fo.start(f.hub.writers)
	c.mu.Lock()
	c.queueLocked([]byte("event"), time.Now(), &fo)
	listed := c.listed
	c.mu.Unlock()
	if !listed {
		t.Fatal("the fan-out did not list the connection")
	}
	c.Reply([]byte("reply"))
	read(2)
	fo.flush() // the worker finds a stale entry
	c.Send([]byte("after"))
	read(3)
	if want := []string{"event", "reply", "after"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Each message written once: three and the snapshot (counted just
	// after their write, so perhaps after the client read them).
	ltestutil.Eventually(t, "4 messages counted as sent", func() bool {
		return testutil.ToFloat64(f.hub.metrics.messages) == 4
	})
}

// Replies and fan-outs racing on one connection: every message arrives
// once, each stream in its order.
func TestReplyRacesFanOut(t *testing.T) {
	f := newHubFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, c := f.dialOne(ctx, t)
	const n = 5000
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			var fo fanout
			fo.start(f.hub.writers)
			c.mu.Lock()
			c.queueLocked(fmt.Appendf(nil, "e%d", i), time.Now(), &fo)
			c.mu.Unlock()
			fo.flush()
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			c.Reply(fmt.Appendf(nil, "r%d", i))
		}
	}()
	next := map[byte]int{}
	for next['e']+next['r'] < 2*n {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read after e%d r%d: %v", next['e'], next['r'], err)
		}
		for _, m := range bytes.Split(data, []byte("\n")) {
			if bytes.HasPrefix(m, []byte(`{"type":"snapshot"`)) {
				continue
			}
			k, err := strconv.Atoi(string(m[1:]))
			if err != nil || k != next[m[0]] {
				t.Fatalf("got %q, want %c%d", m, m[0], next[m[0]])
			}
			next[m[0]]++
		}
	}
	wg.Wait()
}

// dialOne dials the fixture's one connection (no read limit) and returns
// both ends; the client end closes with the test.
func (f *hubFixture) dialOne(ctx context.Context, t *testing.T) (*websocket.Conn, *Conn) {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
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
	return ws, c
}
