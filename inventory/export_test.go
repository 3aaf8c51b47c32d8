package inventory

import "context"

// RememberedAnswers is the number of purchase answers the store keeps,
// over all rooms.
func (s *MemoryStore) RememberedAnswers() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, r := range s.rooms {
		r.mu.Lock()
		n += len(r.idem)
		r.mu.Unlock()
	}
	return n
}

// SetAuctionClock makes s's auction scripts use now (Unix ms) instead of
// Redis TIME, and arm no timers: the test moves the clock and calls
// TickAuction. Tests only.
func SetAuctionClock(s *RedisStore, now func() int64) { s.auctionNow = now }

// TickAuction runs the tick of an auction, as a timer or a poll would.
func TickAuction(ctx context.Context, s *RedisStore, room, id string) error {
	_, _, err := s.tickAuction(ctx, room, id)
	return err
}

// QueuedBids is how many bids wait for a pipeline.
func QueuedBids(s *RedisStore) int {
	s.bids.mu.Lock()
	defer s.bids.mu.Unlock()
	return len(s.bids.queue)
}
