package inventory_test

import (
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
)

// A retention longer than the Unix epoch (a century) keeps every order and
// never fails a read.
func TestRedisRetentionLongerThanEpoch(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	s := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: uniquePrefix(), OrderRetention: 100 * 365 * 24 * time.Hour})
	t.Cleanup(func() { s.Close() })
	mustPut(t, s, "r", 5)
	if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r", User: "u", ID: "1", Product: "p1", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	orders, _, err := s.Orders(ctx, "r", "", 10)
	if err != nil || len(orders) != 1 {
		t.Fatalf("orders: %v %v", orders, err)
	}
}
