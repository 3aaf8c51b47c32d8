package inventory_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/liveserver/liveserver/inventory"
)

// BenchmarkMemoryBuy measures one purchase through the memory store's whole
// atomic step (idempotency, stock, order, stock message) from parallel
// buyers on one room.
func BenchmarkMemoryBuy(b *testing.B) {
	s := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: &recorderDiscard{}})
	defer s.Close()
	if _, err := s.PutRoom(ctx, "bench", inventory.RoomSpec{Products: []inventory.ProductSpec{{ID: "p1", Name: "P", Price: 1, Currency: "USD", Stock: 1 << 40}}}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "bench", User: fmt.Sprint("u", i%1000), ID: fmt.Sprint(i), Product: "p1", Qty: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type recorderDiscard struct{}

func (recorderDiscard) Publish(context.Context, string, []byte) error { return nil }
