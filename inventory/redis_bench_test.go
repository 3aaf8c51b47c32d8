package inventory_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
)

// BenchmarkRedisBuy measures purchases through RedisStore from many
// concurrent buyers on one room (a flash sale without the WebSocket side),
// to compare with redis-benchmark running the buy script directly: the
// store's own cost, pipelines included, apart from a busy node's.
func BenchmarkRedisBuy(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redistest.NewClient(b, srv.Addr())
	s := newRedisStore(b, rdb, uniquePrefix())
	if _, err := s.PutRoom(ctx, "bench", inventory.RoomSpec{Products: []inventory.ProductSpec{{ID: "p1", Name: "P", Price: 1, Currency: "USD", Stock: 1 << 40}}}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(256) // goroutines per CPU: buyers waiting for answers
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "bench", User: fmt.Sprint("u", i), ID: "1", Product: "p1", Qty: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
