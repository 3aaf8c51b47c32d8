package inventory_test

import (
	"testing"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
)

func TestMemoryAuctionContract(t *testing.T) {
	runAuctionContract(t, func(t *testing.T) *auctionEnv {
		clk := clock.NewFake(auctionT0)
		s := inventory.NewMemoryStore(inventory.MemoryConfig{Clock: clk, Publisher: &recorder{}})
		t.Cleanup(func() { s.Close() })
		return &auctionEnv{s: s, clk: clk, started: map[string]string{}}
	})
}

// The same timelines on a real redis-server: the scripts take the fake
// clock's time (a test hook; production uses Redis TIME) and the test
// ticks where a timer or a poll would.
func TestRedisAuctionContract(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	runAuctionContract(t, func(t *testing.T) *auctionEnv {
		clk := clock.NewFake(auctionT0)
		s := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: uniquePrefix(), TimerPoll: -1})
		t.Cleanup(func() { s.Close() })
		inventory.SetAuctionClock(s, func() int64 { return clk.Now().UnixMilli() })
		return &auctionEnv{s: s, clk: clk, started: map[string]string{},
			tick: func(room, id string) error { return inventory.TickAuction(ctx, s, room, id) }}
	})
}
