package inventory

import (
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// remembered reports whether a purchase's answer is kept for
// IdempotencyTTL, so that a retry with the same id gets it again: an order
// (pe nil), and the refusals that depend on stock and sales, which a retry
// must not turn into an order (sold_out, limit_exceeded, sale_not_live).
// Anything else (not_found, bad_request, unavailable, ...) took nothing and
// could not have, so a retry simply runs again; that keeps a flood of bad
// requests from costing memory (or a Redis key) each. buy.lua keeps the
// same set.
func remembered(pe *protocol.Error) bool {
	if pe == nil {
		return true
	}
	switch pe.Code {
	case protocol.CodeSoldOut, protocol.CodeLimitExceeded, protocol.CodeSaleNotLive:
		return true
	}
	return false
}

// sweepEvery is how often the memory store drops expired purchase and bid
// answers (and ended auctions past AuctionRetention) of every room, so that
// a room nobody buys in any more does not keep them (a purchase or a bid
// drops its own room's expired ones as well).
const sweepEvery = time.Minute

// scheduleSweepLocked arms the next sweep; s.mu must be held.
func (s *MemoryStore) scheduleSweepLocked() {
	s.stopSweep = s.clock.AfterFunc(sweepEvery, s.sweep)
}

// sweep drops the expired purchase answers of every room, then arms the
// next sweep unless the store has closed.
func (s *MemoryStore) sweep() {
	s.mu.RLock()
	rooms := make([]*memRoom, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.RUnlock()
	for _, r := range rooms {
		r.mu.Lock()
		r.expireIdemLocked(s.clock.Now())
		r.auc.expireLocked(s.clock.Now()) // bid answers and ended auctions
		r.mu.Unlock()
	}
	s.mu.Lock()
	if !s.closed {
		s.scheduleSweepLocked()
	}
	s.mu.Unlock()
}
