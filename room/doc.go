// Package room owns the live side of liveserver: WebSocket connections,
// their subscriptions to rooms, and the fan-out of room messages to them.
//
// A Hub receives every room message as an envelope (see protocol) from a
// Broker: sequenced events are delivered to each subscriber in seq order with
// no gap (a gap is repaired from the Source's history, or by a fresh
// snapshot), and volatile messages are conflated per key so a lagging client
// gets the latest value rather than a backlog. Broadcast never blocks: each
// Conn has one writer and a queue bounded in bytes; a client whose queue
// overflows or whose writes stall is closed with 4000.
//
// Goroutines: the caller of Conn.WriteLoop (the HTTP handler goroutine) owns
// the socket's writes; the Hub owns one maintenance goroutine (viewer
// counts, keepalive pings, stalled-write detection) that ends in Shutdown or
// Close. All exported methods are safe for concurrent use.
//
// Lock order: Hub.subMu, then Hub.mu, then hubRoom.mu, then Conn.mu.
package room
