package room

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/internal/testutil"
)

// resyncHandler records messages and which rooms it was asked to resync.
type resyncHandler struct {
	logHandler
	mu      sync.Mutex
	resyncs []string
}

func (h *resyncHandler) HandleResync(rooms []string) {
	h.mu.Lock()
	h.resyncs = append(h.resyncs, rooms...)
	h.mu.Unlock()
}

func (h *resyncHandler) resynced() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.resyncs)
}

// With a room on each of three masters, the broker holds one shard
// connection per master. One master dies and comes back: only its room is
// resynchronized (RoomResyncer), every room's delivery goes on, and the
// other shards' connections are untouched. Then the room's slot moves to
// another master: the broker follows it (the old master drops the
// subscription), resyncs that room, and delivers from the new master.
func TestShardedBrokerResyncsOnlyTheShardConcerned(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	rdb := c.Client()
	prefix := "t-" + uuid.NewString() + ":"
	names := rkeys.New(prefix)
	rooms := c.IDsOnEveryMaster(names.Events)
	b := NewShardedRedisBroker(rdb, RedisBrokerConfig{KeyPrefix: prefix, PingInterval: 200 * time.Millisecond})
	h := &resyncHandler{}
	if err := b.Run(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()
	for _, room := range rooms {
		mustDo(t, "subscribe", b.Subscribe(ctx, room))
	}
	b.mu.Lock()
	shards := len(b.shards)
	b.mu.Unlock()
	if shards != 3 {
		t.Fatalf("%d shard connections for rooms on 3 masters", shards)
	}
	delivered := func(room, msg string) func() bool {
		return func() bool {
			_ = b.Publish(ctx, room, []byte(msg))
			time.Sleep(20 * time.Millisecond)
			return h.has(room + ":" + msg)
		}
	}
	for _, room := range rooms {
		testutil.Eventually(t, room+": first message", delivered(room, "1"))
	}

	m := c.MasterOf(names.Events(rooms[0]))
	m.Kill()
	m.Restart()
	c.WaitHealthy(3)
	for _, room := range rooms {
		testutil.Eventually(t, room+": a message after the restart", delivered(room, "2"))
	}
	if got := h.resynced(); !slices.Equal(got, rooms[:1]) {
		t.Fatalf("resynced %q, want only %q (the restarted master's room)", got, rooms[:1])
	}

	// The room's slot moves to the master of another room.
	to := c.MasterOf(names.Events(rooms[1]))
	c.MigrateSlotOf(names.Events(rooms[0]), to, 0)
	testutil.Eventually(t, "the moved room resynced", func() bool { return len(h.resynced()) == 2 })
	testutil.Eventually(t, "a message after the move", delivered(rooms[0], "3"))
	if got := h.resynced(); !slices.Equal(got, []string{rooms[0], rooms[0]}) {
		t.Fatalf("resynced %q, want %q twice", got, rooms[0])
	}
	b.mu.Lock()
	at := b.at[names.Events(rooms[0])]
	b.mu.Unlock()
	if at == nil || at.addr != to.Addr() {
		t.Fatalf("room subscribed on %v, want %s", at, to.Addr())
	}
	// The master left without rooms keeps no connection of the broker.
	testutil.Eventually(t, "two shard connections for rooms on two masters", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.shards) == 2
	})
}
