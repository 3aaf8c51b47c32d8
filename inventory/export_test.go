package inventory

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
