// Package room owns the live side of liveserver: WebSocket connections,
// their subscriptions to rooms, and the fan-out of room messages to them.
//
// A Hub receives every room message as an envelope (see protocol) from a
// Broker: sequenced events are delivered to each subscriber in seq order with
// no gap (a gap is repaired from the Source's history, or by a fresh
// snapshot), and volatile messages are conflated per key so a lagging client
// gets the latest value rather than a backlog. Broadcast never blocks: each
// Conn has a queue bounded in bytes; a client whose queue overflows or whose
// writes stall is closed with 4000.
//
// Goroutines: ReadLoop's caller owns a connection's reading goroutine, the
// one goroutine an idle connection has. The Hub owns a maintenance goroutine
// (viewer counts, stalled-write detection, keepalive pings, each ping or
// close in a goroutine of a bounded set), its writer pool, one goroutine per
// core that writes for every connection with something queued (writers.go),
// and a timer per room and class of volatile messages waiting (stock and
// ticker; auction bids); all end in Shutdown
// or Close, and what the hub does on its own behalf (gap repairs, resyncs,
// presence reports) runs under a context Close cancels. A connection whose
// socket is full gets a writer goroutine of its own until its queue is
// empty, and a handler goroutine runs only while client messages wait. No
// goroutine is started with Hub.mu held. All exported methods are safe for
// concurrent use.
//
// Writing: one writer per connection at a time, and only while Conn.writing
// is set (under Conn.mu): a fan-out's list, a shard's ready list, a
// worker's turn, a Reply's turn, or the connection's own writer goroutine;
// the writer clears the flag under the same lock that finds the queue
// empty, so no Send is missed. A connection waiting on a list (Conn.listed)
// may have its turn taken by Reply, which writes on the handler's goroutine
// so that an answer does not wait behind a large room's fan-out; the list's
// entry is then stale and skipped, as claiming a turn needs Conn.listed. Only internal/wsock touches the socket (socket.go): a
// frame the socket does not take whole at once stays with the socket and
// the connection goes to its own goroutine, which waits in Flush. No lock
// is ever released by a goroutine other than the one that took it.
//
// Lock order: Hub.subMu, then Hub.mu, then hubRoom.mu, then Conn.mu, then a
// writer shard's mu. The socket's own lock (inside internal/wsock) is
// never taken with any of them held.
package room
