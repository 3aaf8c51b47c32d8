// Package server is the edge of liveserver: it serves the HTTP API and the
// WebSocket endpoint, authenticates callers, dispatches client messages to
// the room hub, the pinning service and the inventory store, and maps their
// errors to the protocol's codes, logging failures once, in one place
// (clientError, errors.go).
//
// A Server is one node. Shutdown ends every goroutine below gracefully
// (connections are closed with 1001 first); Close ends them at once,
// dropping connections.
//
// # Goroutines
//
// Who runs what, who starts and ends it, and what it may touch:
//
//	goroutine              started by / ends                           runs
//	---------------------  ------------------------------------------  ---------------------------------------------
//	HTTP handler           net/http, per request; returns when the     handleWS: authenticates, upgrades (room.Hub.
//	                       request is answered (for /ws: right after   Accept), sets the session up, starts the read
//	                       the upgrade)                                loop. API routes: the whole request, purchases
//	                                                                   included (synchronous)
//	read loop              handleWS, one per WebSocket connection;     room.Conn.ReadLoop: reads frames, queues them
//	                       counted in Server.handlers (Shutdown waits  for the handler goroutine, and when the
//	                       for it); ends when the connection does      connection ends waits for that goroutine and
//	                                                                   unregisters the connection
//	handler (per burst)    the read loop, when a message arrives and   session.onMessage for each waiting message, in
//	                       none runs; ends when no message waits. At   order: decoding, rate limit, auth, join/leave,
//	                       most one per connection at a time           buy, creator actions
//	auth timer             time.AfterFunc in handleWS, without a       closes with 1008 (no handshake) unless authed
//	                       token; stopped when the read loop ends
//	expiry timer           the session (watchExpiry), for a token      closes with 1008 (token_expired) once until
//	                       with exp; re-armed on refresh, stopped      has passed
//	                       when the read loop ends
//	writer pool            room.Hub.Run, one per CPU; ends in the      writes queued frames for every connection whose
//	                       hub's Close                                 socket takes them at once
//	hand-off writer        the writer pool, one per connection at      writes for one connection whose socket is full
//	                       most; ends when its queue is empty or a     or that is closing, then the close handshake
//	                       write fails (the hub's sweep closes a
//	                       socket stalled past WriteTimeout)
//	hub maintenance        room.Hub.Run; ends in the hub's Close       viewer counts and presence reports, the sweep
//	                                                                   (pings, closing stalled sockets, each in a
//	                                                                   goroutine of a bounded set the hub waits
//	                                                                   for), retrying failed resyncs, the end of
//	                                                                   chat sampling in rooms gone quiet
//	volatile flush timer   the hub, per room with stock or viewers     fans out a room's coalesced volatile messages;
//	                       waiting; stopped when the room goes or the  stopped in Close
//	                       hub closes
//	broker loop            the broker's Run (room.MemoryBroker's       room.Hub.HandleMessage: the fan-out of every
//	                       dispatcher, or room.RedisBroker's receive   room event and comment, bans, gap repairs;
//	                       loop); ends in the broker's Close           HandleReconnect: the resync of every room
//	purchase batcher       inventory.RedisStore, a fixed set           purchases in Redis pipelines; calls each
//	                       (cluster mode only); ends in the store's    BuyAsync callback, so a WebSocket purchase's
//	                       Close                                       reply is sent from here
//	sale timers / poller   the inventory store; end in its Close       sale transitions (start, end) and auction
//	                                                                   instants (start, end: the order or the unit back)
//	mode keeper            the Redis backend (cluster mode); ends in   refreshes the node's mode marker (and the dev
//	                       the backend's close                         secret) in Redis
//	reaction tally         chat.NewTally in New; ends in Close, after  flushes the node's reaction counts to the chat
//	                       the hub and before the backend (its last    store every 250 ms per room (Redis: one script
//	                       flush needs the store)                      per room), which publishes reactions
//	refusal writer         Listener.Accept, per refused connection,    answers 503 to a connection over the
//	                       a bounded set; ends within refuseLinger;    listener's cap, then closes it
//	                       waited for in Listener.Close
//
// # Session fields
//
// A session (ws.go) is one connection's protocol state. Its fields s, c
// and slot are set by the HTTP handler before the read loop starts and only
// read afterwards, by any goroutine (room.Conn's Send and Close are safe
// for concurrent use; the slot's state is under its limits' lock, and the read loop releases
// it when the connection ends). who, stopExpiry, closed, limiter, strikes and strikeFrom
// belong to the connection's handler goroutine: there is at most one at a
// time, and the connection's inbox lock orders one burst's goroutine before
// the next, so they need no lock of their own; the HTTP handler sets them up
// before the read loop starts, and the read loop stops the expiry timer only
// after ReadLoop has waited for the last handler. authed and until are
// atomic: the handler goroutine sets them, the auth and expiry timers read
// them. A purchase's callback, which may run on a batcher goroutine, gets
// who by value and touches only s and c.
package server
