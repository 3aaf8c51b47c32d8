package room

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/internal/testutil"
)

// recordingHandler is a BrokerHandler that keeps what it is given.
type recordingHandler struct {
	mu         sync.Mutex
	msgs       map[string][]string
	reconnects int
}

func (r *recordingHandler) HandleMessage(room string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.msgs == nil {
		r.msgs = map[string][]string{}
	}
	r.msgs[room] = append(r.msgs[room], string(data))
}

func (r *recordingHandler) HandleReconnect() {
	r.mu.Lock()
	r.reconnects++
	r.mu.Unlock()
}

func (r *recordingHandler) state(room string) ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs[room]...), r.reconnects
}

func newTestBroker(t *testing.T, rdb *redis.Client, prefix string) (*RedisBroker, *recordingHandler) {
	t.Helper()
	b := NewRedisBroker(rdb, RedisBrokerConfig{KeyPrefix: prefix, PingInterval: 200 * time.Millisecond})
	h := &recordingHandler{}
	if err := b.Run(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, h
}

// Subscribe returns once Redis confirmed it: a message published right
// after it is delivered. Unsubscribe stops delivery. Another room's channel
// and another prefix's are not delivered.
func TestRedisBrokerSubscribeDelivers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := "t-" + uuid.NewString() + ":"
	b, h := newTestBroker(t, rdb, prefix)
	other, _ := newTestBroker(t, rdb, "other:")
	ctx := context.Background()
	for i := range 20 {
		room := fmt.Sprintf("r%d", i)
		if err := b.Subscribe(ctx, room); err != nil {
			t.Fatal(err)
		}
		// Published by another client (a store's script does it), at once.
		if err := rdb.Publish(ctx, rkeys.New(prefix).Events(room), "S1\n{}").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Publish(ctx, "r0", []byte("S2\n{}")); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "r0", []byte("S2\n{}")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "every room's message", func() bool {
		for i := range 20 {
			if msgs, _ := h.state(fmt.Sprintf("r%d", i)); len(msgs) == 0 {
				return false
			}
		}
		msgs, _ := h.state("r0")
		return len(msgs) == 2
	})
	if err := b.Unsubscribe(ctx, "r0"); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "r0", []byte("S3\n{}")); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "r1", []byte("S2\n{}")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "r1's second message", func() bool { msgs, _ := h.state("r1"); return len(msgs) == 2 })
	if msgs, reconnects := h.state("r0"); len(msgs) != 2 || reconnects != 0 {
		t.Fatalf("r0 after Unsubscribe: %q, %d reconnects", msgs, reconnects)
	}
}

// After the link to Redis is cut and restored, or Redis restarts, the
// broker subscribes again and calls HandleReconnect once per reconnect;
// delivery goes on.
func TestRedisBrokerReconnect(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	b, h := newTestBroker(t, redistest.NewClient(t, proxy.Addr()), rkeys.DefaultPrefix)
	pub := redistest.NewClient(t, srv.Addr())
	ctx := context.Background()
	for _, room := range []string{"a", "b", "c"} {
		if err := b.Subscribe(ctx, room); err != nil {
			t.Fatal(err)
		}
	}
	publishUntilDelivered := func(what, payload string) {
		t.Helper()
		testutil.Eventually(t, what, func() bool {
			if err := pub.Publish(ctx, rkeys.New(rkeys.DefaultPrefix).Events("c"), payload).Err(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			msgs, _ := h.state("c")
			return len(msgs) > 0 && msgs[len(msgs)-1] == payload
		})
	}
	publishUntilDelivered("first message", "S1\n{}")

	proxy.Cut()
	// The hub always gives Subscribe a deadline: with the link cut, the
	// SUBSCRIBE may even be written (into a socket the peer closed), but no
	// confirmation comes.
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	if err := b.Subscribe(cctx, "d"); err == nil {
		t.Fatal("Subscribe succeeded with the link cut")
	}
	cancel()
	time.Sleep(300 * time.Millisecond)
	proxy.Restore()
	publishUntilDelivered("message after the cut", "S2\n{}")
	testutil.Eventually(t, "one reconnect", func() bool { _, n := h.state("c"); return n == 1 })

	srv.Kill()
	srv.Restart()
	publishUntilDelivered("message after the restart", "S3\n{}")
	testutil.Eventually(t, "a second reconnect", func() bool { _, n := h.state("c"); return n == 2 })
	// "d" failed to subscribe: it is not resubscribed behind the hub's back.
	if err := pub.Publish(ctx, rkeys.New(rkeys.DefaultPrefix).Events("d"), "S1\n{}").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if msgs, n := h.state("d"); len(msgs) != 0 || n != 2 {
		t.Fatalf("room d: %q, %d reconnects", msgs, n)
	}
}

// Close ends the receive loop and later calls fail.
func TestRedisBrokerClose(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b, _ := newTestBroker(t, redistest.NewClient(t, srv.Addr()), rkeys.DefaultPrefix)
	if err := b.Subscribe(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { b.Close(); b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := b.Subscribe(context.Background(), "b"); err == nil {
		t.Fatal("Subscribe after Close succeeded")
	}
}

// Counts of several nodes add up; a node that stops reporting stops
// counting after the TTL, and one that closes at once.
func TestRedisPresence(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := "t-" + uuid.NewString() + ":"
	ttl := 300 * time.Millisecond
	a := NewRedisPresence(rdb, RedisPresenceConfig{KeyPrefix: prefix, TTL: ttl})
	b := NewRedisPresence(rdb, RedisPresenceConfig{KeyPrefix: prefix, TTL: ttl})
	c := NewRedisPresence(rdb, RedisPresenceConfig{KeyPrefix: prefix, TTL: time.Minute})
	ctx := context.Background()
	report := func(p *RedisPresence, local map[string]int64) map[string]int64 {
		t.Helper()
		got, err := p.Report(ctx, local)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	report(a, map[string]int64{"r1": 3, "r2": 1})
	report(b, map[string]int64{"r1": 4})
	if got := report(c, map[string]int64{"r1": 5, "r2": 0}); got["r1"] != 12 || got["r2"] != 1 {
		t.Fatalf("totals %v, want r1 12, r2 1", got)
	}
	// a leaves r2 (reports 0); b goes silent and expires.
	report(a, map[string]int64{"r1": 3, "r2": 0})
	time.Sleep(ttl + 100*time.Millisecond)
	report(a, map[string]int64{"r1": 3})
	if got := report(c, map[string]int64{"r1": 5, "r2": 0}); got["r1"] != 8 || got["r2"] != 0 {
		t.Fatalf("totals %v after b expired, want r1 8, r2 0", got)
	}
	c.Close()
	if got := report(a, map[string]int64{"r1": 3}); got["r1"] != 3 {
		t.Fatalf("totals %v after c closed, want r1 3", got)
	}
	// After a restart (empty script cache, data gone) reports work again.
	srv.Kill()
	if _, err := a.Report(ctx, map[string]int64{"r1": 3}); err == nil {
		t.Fatal("Report with Redis down succeeded")
	}
	srv.Restart()
	testutil.Eventually(t, "a report after the restart", func() bool {
		got, err := a.Report(ctx, map[string]int64{"r1": 2})
		return err == nil && got["r1"] == 2
	})
}

// blackhole forwards TCP to a target until swallow is set; then it drops
// every byte both ways but keeps the connections open: a half-open link,
// which no read or write error reveals.
type blackhole struct {
	ln      net.Listener
	target  string
	swallow atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newBlackhole(t *testing.T, target string) *blackhole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackhole{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *blackhole) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.swallow.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

// A pub/sub link that goes silent without breaking (no error, no EOF) is
// pinged, then replaced; messages lost meanwhile lead to a resync.
func TestRedisBrokerReplacesSilentLink(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	hole := newBlackhole(t, srv.Addr())
	b, h := newTestBroker(t, redistest.NewClient(t, hole.ln.Addr().String()), rkeys.DefaultPrefix)
	pub := redistest.NewClient(t, srv.Addr())
	ctx := context.Background()
	if err := b.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	hole.swallow.Store(true)
	if err := pub.Publish(ctx, rkeys.New(rkeys.DefaultPrefix).Events("a"), "S1\n{}").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond) // several ping intervals of silence
	hole.swallow.Store(false)
	testutil.Eventually(t, "a resync after the silent link was replaced", func() bool { _, n := h.state("a"); return n == 1 })
	testutil.Eventually(t, "delivery on the new link", func() bool {
		if err := pub.Publish(ctx, rkeys.New(rkeys.DefaultPrefix).Events("a"), "S2\n{}").Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		msgs, _ := h.state("a")
		return len(msgs) > 0 && msgs[len(msgs)-1] == "S2\n{}"
	})
	if msgs, _ := h.state("a"); msgs[0] == "S1\n{}" {
		t.Fatalf("the message published into the black hole arrived: %q", msgs)
	}
}
