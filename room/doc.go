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
// (viewer counts, keepalive pings, stalled-write detection) and its writer
// pool, one goroutine per core that writes for every connection with
// something queued (writers.go); all end in Shutdown or Close. A connection
// whose socket is full gets a writer goroutine of its own until its queue is
// empty, and a handler goroutine runs only while client messages wait. All
// exported methods are safe for concurrent use.
//
// Lock order: Hub.subMu, then Hub.mu, then hubRoom.mu, then Conn.mu, then a
// writer shard's mu. A socket's mu (sock.mu) is never taken with any of
// them held.
package room
