package inventory

import (
	"context"
	"sync"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// DefaultOrderRetention is how long orders are kept when no retention is
// configured.
const DefaultOrderRetention = 30 * 24 * time.Hour

// retentionSweep is how often a store trims every room's order log: a
// tenth of the retention, between a second and an hour. Reads and (in
// memory) purchases also trim the log they touch.
func retentionSweep(retention time.Duration) time.Duration {
	return min(max(retention/10, time.Second), time.Hour)
}

// orderLog is a room's order log in memory, oldest first. It outlives its
// room: a deleted room's orders stay readable until the retention trims
// them, and a room created again under the same id continues the log (as
// the Redis stream does).
type orderLog struct {
	mu     sync.Mutex
	orders []Order
	pos    map[string]int // order id -> position: index + base
	base   int            // orders trimmed from the front so far
}

func newOrderLog() *orderLog { return &orderLog{pos: map[string]int{}} }

// add appends an order, first trimming those older than cutoff (Unix ms).
func (l *orderLog) add(o Order, cutoff int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trimLocked(cutoff)
	l.pos[o.Order] = l.base + len(l.orders)
	l.orders = append(l.orders, o)
}

// trim drops the orders older than cutoff and reports whether the log is
// now empty.
func (l *orderLog) trim(cutoff int64) (empty bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trimLocked(cutoff)
	return len(l.orders) == 0
}

// trimLocked drops orders from the front while they are older than
// cutoff. Orders are appended in time order, so the old ones are a prefix.
func (l *orderLog) trimLocked(cutoff int64) {
	n := 0
	for n < len(l.orders) && l.orders[n].At < cutoff {
		delete(l.pos, l.orders[n].Order)
		n++
	}
	if n == 0 {
		return
	}
	l.base += n
	// A fresh slice, so the trimmed orders' memory goes too.
	l.orders = append([]Order(nil), l.orders[n:]...)
}

// page returns up to limit orders after the order after ("" from the
// start), and the id to pass for the next page ("" at the end).
func (l *orderLog) page(after string, limit int, cutoff int64) ([]Order, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trimLocked(cutoff)
	start := 0
	if after != "" {
		pos, ok := l.pos[after]
		if !ok {
			return nil, "", errBadAfter(after)
		}
		start = pos - l.base + 1
	}
	end := min(start+limit, len(l.orders))
	out := append([]Order(nil), l.orders[start:end]...)
	next := ""
	if end < len(l.orders) && len(out) > 0 {
		next = out[len(out)-1].Order
	}
	return out, next, nil
}

// orderCutoff is the Unix ms before which orders are past the retention.
func (s *MemoryStore) orderCutoff() int64 {
	return protocol.Millis(s.clock.Now().Add(-s.retention))
}

// logOf returns a room's order log, the room live or deleted, or nil.
func (s *MemoryStore) logOf(id string) *orderLog {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r := s.rooms[id]; r != nil {
		return r.log
	}
	return s.logs[id]
}

// Orders implements Store. A deleted room's orders are read until the
// retention has trimmed them all.
func (s *MemoryStore) Orders(_ context.Context, id, after string, limit int) ([]Order, string, error) {
	l := s.logOf(id)
	if l == nil {
		return nil, "", errNoRoom(id)
	}
	return l.page(after, max(limit, 1), s.orderCutoff())
}

// sweepOrders trims every order log and forgets the deleted rooms' logs
// it emptied; it re-arms itself until Close.
func (s *MemoryStore) sweepOrders() {
	cutoff := s.orderCutoff()
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return
	}
	logs := make([]*orderLog, 0, len(s.rooms))
	for _, r := range s.rooms {
		logs = append(logs, r.log)
	}
	var emptied []string
	for id, l := range s.logs {
		if l.trim(cutoff) {
			emptied = append(emptied, id)
		}
	}
	s.mu.RUnlock()
	for _, l := range logs {
		l.trim(cutoff)
	}
	s.mu.Lock()
	for _, id := range emptied {
		if l := s.logs[id]; l != nil && l.trim(cutoff) {
			delete(s.logs, id)
		}
	}
	if !s.closed {
		s.stopOrderSweep = s.clock.AfterFunc(retentionSweep(s.retention), s.sweepOrders)
	}
	s.mu.Unlock()
}

// DeleteRoom implements Store: the room's catalog, stock, pin, sale,
// history and remembered purchase answers go at once; its order log stays
// readable until the retention trims it. The room's viewers get
// room_closed and leave.
func (s *MemoryStore) DeleteRoom(ctx context.Context, id string) error {
	s.mu.Lock()
	r := s.rooms[id]
	if r == nil {
		s.mu.Unlock()
		return errNoRoom(id)
	}
	delete(s.rooms, id)
	s.logs[id] = r.log
	r.mu.Lock() // before s.mu is released, so no one finds the room half gone
	s.mu.Unlock()
	defer r.mu.Unlock()
	r.gone = true
	r.stopTimersLocked()
	r.stopAuctionTimersLocked()
	r.auc = auctionState{}
	r.products, r.index, r.versions, r.hist, r.idem, r.idemOrder, r.sale, r.saleUsers = nil, nil, nil, nil, nil, nil, nil, nil
	s.publish(ctx, id, protocol.VolatileEnvelope(protocol.ClosedKey, protocol.Marshal(protocol.RoomClosed{
		Type: protocol.TypeRoomClosed, Room: id, TS: protocol.Millis(s.clock.Now()),
	})))
	return nil
}
