package inventory_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// benchBids runs parallel bidders with growing amounts against one live
// auction and reports accepted bids per second; bids that lost a race to
// a higher one are bid_too_low, as in a real last-second rush.
func benchBids(b *testing.B, s auctionStore, parallelism int) {
	mustPut(b, s, "bench", 1)
	a, err := s.StartAuction(ctx, "bench", inventory.AuctionSpec{Product: "p1", StartPrice: 1, Increment: 1, DurationMS: protocol.MaxAuctionDuration})
	if err != nil {
		b.Fatal(err)
	}
	author := protocol.Author{ID: "0123456789abcdef", Name: "b***", Role: "viewer"}
	var n, accepted atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := s.Bid(ctx, inventory.BidRequest{Room: "bench", User: fmt.Sprint("u", i), ID: "1", Auction: a.ID, Amount: i, Author: author})
			switch code(err) {
			case "":
				accepted.Add(1)
			case protocol.CodeBidTooLow:
			default:
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(accepted.Load())/b.Elapsed().Seconds(), "accepted/s")
}

// BenchmarkMemoryBid measures one bid through the memory store's whole
// atomic step (idempotency, clock, minimum, proxies, extension, bid
// message).
func BenchmarkMemoryBid(b *testing.B) {
	s := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: &recorderDiscard{}})
	defer s.Close()
	benchBids(b, s, 4)
}

// BenchmarkRedisBid measures bids through RedisStore, one script each, to
// compare with redis-benchmark running auction_bid.lua directly.
func BenchmarkRedisBid(b *testing.B) {
	srv := redistest.Start(b)
	s := newRedisStore(b, redistest.NewClient(b, srv.Addr()), uniquePrefix())
	benchBids(b, s, 32)
}
