package inventory_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/inventory"
)

// BenchmarkRedisBuyRooms measures purchases through RedisStore from many
// concurrent buyers over 30 rooms, each in a flash sale, on one Redis and
// on a 3-master Redis Cluster (all processes on this machine), and the
// cost of -redis-wait-replicas 1 (WAIT after each pipeline) on each with
// one replica per master:
//
//	go test -run '^$' -bench BuyRooms -benchtime 20000x ./inventory
func BenchmarkRedisBuyRooms(b *testing.B) {
	for _, topo := range []string{"single", "cluster3"} {
		for _, wait := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/wait=%d", topo, wait), func(b *testing.B) {
				var rdb redis.UniversalClient
				switch topo {
				case "single":
					srv := redistest.Start(b)
					if wait > 0 {
						host, port, _ := strings.Cut(srv.Addr(), ":")
						redistest.Start(b, redistest.WithArgs("--replicaof", host, port))
					}
					rdb = redistest.NewClient(b, srv.Addr())
					if wait > 0 {
						testutil.Eventually(b, "the replica in sync", func() bool {
							info, _ := rdb.Info(ctx, "replication").Result()
							return strings.Contains(info, "state=online")
						})
					}
				case "cluster3":
					rdb = redistest.StartCluster(b, 3, wait).Client()
				}
				benchBuyRooms(b, rdb, wait, 256)
			})
		}
	}
}

// BenchmarkRedisBuyWaitLatency is the time of one purchase at a time (one
// buyer), with and without WAIT 1 to a replica on this machine: the cost
// -redis-wait-replicas 1 adds to each purchase's answer.
//
//	go test -run '^$' -bench BuyWaitLatency -benchtime 5000x ./inventory
func BenchmarkRedisBuyWaitLatency(b *testing.B) {
	for _, wait := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait=%d", wait), func(b *testing.B) {
			srv := redistest.Start(b)
			host, port, _ := strings.Cut(srv.Addr(), ":")
			redistest.Start(b, redistest.WithArgs("--replicaof", host, port))
			rdb := redistest.NewClient(b, srv.Addr())
			testutil.Eventually(b, "the replica in sync", func() bool {
				info, _ := rdb.Info(ctx, "replication").Result()
				return strings.Contains(info, "state=online")
			})
			benchBuyRooms(b, rdb, wait, 0)
		})
	}
}

// benchBuyRooms buys in 30 rooms' flash sales with parallelism goroutines
// per CPU (0: one buyer).
func benchBuyRooms(b *testing.B, rdb redis.UniversalClient, wait, parallelism int) {
	const rooms = 30
	s := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: uniquePrefix(), WaitReplicas: wait})
	b.Cleanup(func() { s.Close() })
	for r := range rooms {
		room := fmt.Sprintf("bench%d", r)
		if _, err := s.PutRoom(ctx, room, inventory.RoomSpec{Products: []inventory.ProductSpec{{ID: "p1", Name: "P", Price: 1, Currency: "USD", Stock: 1 << 40}}}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.StartSale(ctx, room, inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 1 << 40, PerUserLimit: 1, DurationMS: 3600000}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ResetTimer()
	if parallelism == 0 {
		for i := range b.N {
			if _, err := s.Buy(ctx, inventory.BuyRequest{Room: fmt.Sprintf("bench%d", i%rooms), User: fmt.Sprint("u", i), ID: "1", Product: "p1", Qty: 1}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "purchases/s")
		return
	}
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			room := fmt.Sprintf("bench%d", i%rooms)
			if _, err := s.Buy(ctx, inventory.BuyRequest{Room: room, User: fmt.Sprint("u", i), ID: "1", Product: "p1", Qty: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "purchases/s")
}
