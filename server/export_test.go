package server

// IdleConns is the number of idle keep-alive connections l may close to
// make room, for tests that must know the order in which they went idle
// (the server marks a connection idle after writing its answer, which the
// client may read first).
func (l *Listener) IdleConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.Len()
}
