package room

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/internal/testutil"
)

// The Broker contract: what the Hub relies on from any Broker, checked
// against every implementation (as centrifuge's map_broker_shared_test.go
// does), so a new one is held to the same rules.

// closingBroker is a Broker the suite can close; both implementations are.
type closingBroker interface {
	Broker
	io.Closer
}

// brokerBackend is one fresh backend of an implementation.
type brokerBackend struct {
	// newBroker returns a broker that is not yet running; the suite runs
	// and closes it.
	newBroker func(t *testing.T) closingBroker
	// disrupt breaks every broker's link to the backend and restores it;
	// nil when the implementation has no link to lose.
	disrupt func(t *testing.T)
	// sharded: rooms may travel on different connections (Redis Cluster),
	// so messages of two rooms may arrive in either order.
	sharded bool
}

var brokerImpls = []struct {
	name  string
	setup func(t *testing.T) brokerBackend
}{
	{"memory", func(t *testing.T) brokerBackend {
		return brokerBackend{newBroker: func(*testing.T) closingBroker { return NewMemoryBroker() }}
	}},
	{"redis", func(t *testing.T) brokerBackend {
		srv := redistest.Start(t)
		rdb := redistest.NewClient(t, srv.Addr())
		if err := rdb.Ping(context.Background()).Err(); err != nil { // dial now, not inside a goroutine check
			t.Fatal(err)
		}
		prefix := "t-" + uuid.NewString() + ":"
		return brokerBackend{
			newBroker: func(*testing.T) closingBroker {
				return NewRedisBroker(rdb, RedisBrokerConfig{KeyPrefix: prefix, PingInterval: 200 * time.Millisecond})
			},
			disrupt: func(*testing.T) { srv.Kill(); srv.Restart() },
		}
	}},
	{"redis-cluster", func(t *testing.T) brokerBackend {
		c := redistest.StartCluster(t, 3, 0)
		rdb := c.Client()
		// Create the client's per-node clients (and their goroutines) now,
		// not inside a goroutine check.
		if err := rdb.ForEachShard(context.Background(), func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() }); err != nil {
			t.Fatal(err)
		}
		prefix := "t-" + uuid.NewString() + ":"
		return brokerBackend{
			newBroker: func(*testing.T) closingBroker {
				return NewShardedRedisBroker(rdb, RedisBrokerConfig{KeyPrefix: prefix, PingInterval: 200 * time.Millisecond})
			},
			sharded: true,
			// The master of room a's slot (the suite's reconnect test
			// subscribes a only) restarts.
			disrupt: func(t *testing.T) {
				m := c.MasterOf(rkeys.New(prefix).Events("a"))
				m.Kill()
				m.Restart()
				c.WaitHealthy(3)
			},
		}
	}},
}

// logHandler is a BrokerHandler that keeps one log of what it is given, in
// the order it was given: messages as "room:data", reconnects as "reconnect".
type logHandler struct {
	mu  sync.Mutex
	log []string
}

const reconnectMark = "reconnect"

func (h *logHandler) HandleMessage(room string, data []byte) {
	h.mu.Lock()
	h.log = append(h.log, room+":"+string(data))
	h.mu.Unlock()
}

func (h *logHandler) HandleReconnect() {
	h.mu.Lock()
	h.log = append(h.log, reconnectMark)
	h.mu.Unlock()
}

func (h *logHandler) entries() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.log)
}

// of is the data delivered for room, in order.
func (h *logHandler) of(room string) []string {
	var out []string
	for _, e := range h.entries() {
		if d, ok := cutRoom(e, room); ok {
			out = append(out, d)
		}
	}
	return out
}

func cutRoom(entry, room string) (string, bool) {
	if len(entry) > len(room) && entry[:len(room)+1] == room+":" {
		return entry[len(room)+1:], true
	}
	return "", false
}

func (h *logHandler) has(entry string) bool { return slices.Contains(h.entries(), entry) }

func runBroker(t *testing.T, be brokerBackend) (closingBroker, *logHandler) {
	t.Helper()
	b := be.newBroker(t)
	h := &logHandler{}
	if err := b.Run(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, h
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestBrokerContract(t *testing.T) {
	for _, impl := range brokerImpls {
		t.Run(impl.name, func(t *testing.T) {
			t.Run("DeliversSubscribedRooms", func(t *testing.T) { testBrokerDelivers(t, impl.setup(t)) })
			t.Run("UnsubscribeStopsDelivery", func(t *testing.T) { testBrokerUnsubscribe(t, impl.setup(t)) })
			t.Run("OrderPerRoom", func(t *testing.T) { testBrokerOrder(t, impl.setup(t)) })
			t.Run("Reconnect", func(t *testing.T) { testBrokerReconnect(t, impl.setup(t)) })
			t.Run("Close", func(t *testing.T) { testBrokerClose(t, impl.setup(t)) })
		})
	}
}

// A message published after Subscribe returns reaches the handler, with its
// room and bytes; a room not subscribed is not delivered. (The check that
// nothing came relies on a broker delivering one publisher's messages in
// publication order across rooms, as one Redis and memory do: the marker
// published last arrives last. On a Redis Cluster rooms on two masters
// come on two connections, in either order: a message of a channel no
// node subscribed is delivered by no master at all.)
func testBrokerDelivers(t *testing.T, be brokerBackend) {
	ctx := context.Background()
	b, h := runBroker(t, be)
	mustDo(t, "subscribe", b.Subscribe(ctx, "a"))
	mustDo(t, "subscribe", b.Subscribe(ctx, "b"))
	mustDo(t, "publish", b.Publish(ctx, "a", []byte("S1\n{\"x\":1}")))
	mustDo(t, "publish", b.Publish(ctx, "unsubscribed", []byte("S1\n{}")))
	mustDo(t, "publish", b.Publish(ctx, "b", []byte("marker")))
	testutil.Eventually(t, "the marker", func() bool { return h.has("b:marker") && h.has("a:S1\n{\"x\":1}") })
	got, want := h.entries(), []string{"a:S1\n{\"x\":1}", "b:marker"}
	if be.sharded {
		slices.Sort(got)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}

// After Unsubscribe the room's messages stop; other rooms go on.
func testBrokerUnsubscribe(t *testing.T, be brokerBackend) {
	ctx := context.Background()
	b, h := runBroker(t, be)
	mustDo(t, "subscribe", b.Subscribe(ctx, "a"))
	mustDo(t, "subscribe", b.Subscribe(ctx, "b"))
	mustDo(t, "publish", b.Publish(ctx, "a", []byte("1")))
	testutil.Eventually(t, "the first message", func() bool { return h.has("a:1") })
	mustDo(t, "unsubscribe", b.Unsubscribe(ctx, "a"))
	mustDo(t, "publish", b.Publish(ctx, "a", []byte("2")))
	mustDo(t, "publish", b.Publish(ctx, "b", []byte("marker")))
	testutil.Eventually(t, "the marker", func() bool { return h.has("b:marker") })
	if got := h.of("a"); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("room a after Unsubscribe: %q, want only \"1\"", got)
	}
	// Subscribing again resumes delivery.
	mustDo(t, "subscribe again", b.Subscribe(ctx, "a"))
	mustDo(t, "publish", b.Publish(ctx, "a", []byte("3")))
	testutil.Eventually(t, "a message after subscribing again", func() bool { return h.has("a:3") })
}

// Each room's messages arrive in publication order, none lost on a
// healthy link, whatever the interleaving with other rooms.
func testBrokerOrder(t *testing.T, be brokerBackend) {
	ctx := context.Background()
	b, h := runBroker(t, be)
	rooms := []string{"a", "b", "c"}
	for _, r := range rooms {
		mustDo(t, "subscribe", b.Subscribe(ctx, r))
	}
	const n = 300
	var wg sync.WaitGroup
	for _, r := range rooms { // one publisher per room, concurrently
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if err := b.Publish(ctx, r, fmt.Appendf(nil, "%d", i)); err != nil {
					t.Errorf("publish %s %d: %v", r, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	for _, r := range rooms {
		testutil.Eventually(t, "room "+r+"'s last message", func() bool { return h.has(r + ":" + want[n-1]) })
		if got := h.of(r); !slices.Equal(got, want) {
			t.Fatalf("room %s: %d messages, out of order or missing: first %q", r, len(got), got[:min(len(got), 10)])
		}
	}
}

// When the link is lost and comes back, the handler's HandleReconnect is
// called, and before any message published after the link came back (the
// hub resynchronizes every room there, and no event may overtake the
// snapshots); then delivery resumes.
func testBrokerReconnect(t *testing.T, be brokerBackend) {
	if be.disrupt == nil {
		t.Skip("no link to lose: this implementation never calls HandleReconnect")
	}
	ctx := context.Background()
	b, h := runBroker(t, be)
	mustDo(t, "subscribe", b.Subscribe(ctx, "a"))
	mustDo(t, "publish", b.Publish(ctx, "a", []byte("before")))
	testutil.Eventually(t, "the message before", func() bool { return h.has("a:before") })

	be.disrupt(t)
	// Publishes while the broker reconnects are lost (at most once): try
	// until one arrives.
	testutil.Eventually(t, "a message after the link came back", func() bool {
		_ = b.Publish(ctx, "a", []byte("after"))
		time.Sleep(20 * time.Millisecond)
		return h.has("a:after")
	})
	log := h.entries()
	rec := slices.Index(log, reconnectMark)
	after := slices.Index(log, "a:after")
	if rec < 0 || rec > after {
		t.Fatalf("log %q: want a reconnect before the first message after the link came back", log)
	}
	if n := countOf(log, reconnectMark); n != 1 {
		t.Fatalf("log %q: %d reconnects for one lost link", log, n)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, e := range s {
		if e == v {
			n++
		}
	}
	return n
}

// Close ends every goroutine the broker started and may be called again;
// a broker closed refuses new subscriptions.
func testBrokerClose(t *testing.T, be brokerBackend) {
	ctx := context.Background()
	before := goleak.IgnoreCurrent() // the backend's own (redis-server's reaper) are not the broker's
	b := be.newBroker(t)
	h := &logHandler{}
	mustDo(t, "run", b.Run(h))
	mustDo(t, "subscribe", b.Subscribe(ctx, "a"))
	mustDo(t, "publish", b.Publish(ctx, "a", []byte("1")))
	testutil.Eventually(t, "a message", func() bool { return h.has("a:1") })
	mustDo(t, "close", b.Close())
	mustDo(t, "second close", b.Close())
	if err := b.Subscribe(ctx, "b"); err == nil {
		t.Fatal("Subscribe after Close succeeded")
	}
	goleak.VerifyNone(t, before)
}
