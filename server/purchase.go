package server

import (
	"context"
	"time"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// Purchases, from either transport: POST /api/rooms/{room}/purchases
// (buy) and the WebSocket buy message (buyAsync).

// buy is a purchase, timed and counted.
func (s *Server) buy(ctx context.Context, who auth.Identity, m protocol.ClientMessage) (inventory.Receipt, error) {
	if !who.CanBuy() {
		return inventory.Receipt{}, protocol.Errorf(protocol.CodeUnauthorized, "authentication required")
	}
	start := time.Now()
	rec, err := s.store.Buy(ctx, s.buyRequest(who, m))
	s.countPurchase(start, err)
	return rec, err
}

// buyAsync is buy answering through done, which the store may call from
// another goroutine: a store that waits on Redis then holds no goroutine
// per purchase in flight (a flash sale has thousands). done must not
// block.
func (s *Server) buyAsync(ctx context.Context, who auth.Identity, m protocol.ClientMessage, done func(inventory.Receipt, error)) {
	if s.asyncBuyer == nil || !who.CanBuy() {
		done(s.buy(ctx, who, m))
		return
	}
	start := time.Now()
	s.asyncBuyer.BuyAsync(ctx, s.buyRequest(who, m), func(rec inventory.Receipt, err error) {
		s.countPurchase(start, err)
		done(rec, err)
	})
}

// buyRequest is the purchase of m by who. Handle lets the store refuse a
// buyer the room's chat banned in the same atomic step (no extra round
// trip).
func (s *Server) buyRequest(who auth.Identity, m protocol.ClientMessage) inventory.BuyRequest {
	return inventory.BuyRequest{Room: m.Room, User: who.User, ID: m.ID, Product: m.Product, Qty: m.Qty,
		Handle: s.chat.handles.Handle(m.Room, who.User)}
}

// countPurchase counts a purchase by outcome. It only classifies (the
// failure, if any, is logged once, where it is answered).
func (s *Server) countPurchase(start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = protocol.ErrorCode(err)
	}
	s.metrics.purchases.WithLabelValues(outcome).Inc()
	s.metrics.purchaseLatency.Observe(time.Since(start).Seconds())
}
