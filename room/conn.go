package room

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/wsock"
	"github.com/liveserver/liveserver/protocol"
)

// Conn is one client connection as the hub sees it: an outbound queue
// bounded in bytes, and the rooms it joined.
//
// Goroutines: ReadLoop's caller owns the connection's one long-lived
// goroutine, which reads and, when it returns, ends the connection. Writes
// are made by the hub's writer pool, or, for a connection whose socket is
// full or that is closing, by a writer goroutine that exists only until its
// queue is empty again. So an idle connection costs one parked goroutine and
// a few small buffers.
// Anything may call Send and Close.
type Conn struct {
	hub *Hub
	ws  socket // the client's WebSocket (internal/wsock)
	id  uint64

	mu         sync.Mutex
	queue      [][]byte // ordered messages, oldest first
	queued     int      // bytes in queue and vol
	queueSince time.Time
	vol        []volatileMsg // conflated messages, one per room and key
	writing    bool          // a writer (pool turn or goroutine) owns the queue
	// listed: writing, and on a worker's ready list that no writer has
	// taken yet; Reply may take the turn (the worker then skips it).
	listed bool
	// replying: Reply is queuing and decides who writes, not
	// startWriterLocked.
	replying  bool
	closing   bool // no more sends; the writer closes after the queue
	closeCode websocket.StatusCode
	closeWhy  string
	// noHandshake: close without waiting for the client's close frame
	// (CloseNow).
	noHandshake bool
	rooms       []*sub // rooms joined or joining (a few: a slice beats a map)
	// own and ownq account the queued messages this connection holds alone
	// (replies, errors, its join's stock messages) against the node's
	// budget; see budget.go.
	own  int
	ownq [][]byte // own messages in queue, oldest first

	inMu     sync.Mutex
	inCond   *sync.Cond // signals room in inbox, and the handler's end
	inbox    []inMsg    // client messages waiting for the handler
	handling bool       // a handler goroutine is running

	done     chan struct{} // closed when the connection has ended
	lastRead atomic.Int64  // unix nanos of the last frame or pong from the client
	pinging  atomic.Bool
}

type inMsg struct {
	typ  websocket.MessageType
	data []byte
}

// maxInbox is how many client messages may wait for the handler before the
// reader stops reading (and TCP pushes back on the client).
const maxInbox = 32

// subLocked returns the subscription to a room, or nil.
func (c *Conn) subLocked(room string) *sub {
	for _, s := range c.rooms {
		if s.room == room {
			return s
		}
	}
	return nil
}

// removeSubLocked removes and returns the subscription to a room, or nil.
func (c *Conn) removeSubLocked(room string) *sub {
	for i, s := range c.rooms {
		if s.room == room {
			c.rooms = append(c.rooms[:i], c.rooms[i+1:]...)
			if len(c.rooms) == 0 {
				c.rooms = nil
			}
			return s
		}
	}
	return nil
}

type volatileMsg struct {
	room, key string
	msg       []byte
	own       bool // charged to the node's budget (see budget.go)
}

// AcceptOptions configures Accept.
type AcceptOptions struct {
	// OriginPatterns are the browser origins allowed besides the server's
	// own host ("*" allows any); see websocket.AcceptOptions.
	OriginPatterns []string
	// ReadLimit is the largest client message in bytes; a larger one
	// closes the connection with 1009.
	ReadLimit int64
}

// Accept upgrades an HTTP request to a WebSocket connection registered with
// the hub. On error the response has been written. The caller must run
// ReadLoop (usually in a new goroutine: the HTTP handler may return).
func (h *Hub) Accept(w http.ResponseWriter, r *http.Request, opts AcceptOptions) (*Conn, error) {
	ws, err := wsock.Accept(w, r, wsock.AcceptOptions{OriginPatterns: opts.OriginPatterns, ReadLimit: opts.ReadLimit})
	if err != nil {
		return nil, err
	}
	c := &Conn{hub: h, ws: ws, id: h.nextID.Add(1), done: make(chan struct{})}
	c.inCond = sync.NewCond(&c.inMu)
	c.MarkRead()
	if err := h.register(c); err != nil {
		ws.Close(protocol.CloseGoingAway, "server shutting down")
		return nil, err
	}
	return c, nil
}

// ReadLoop reads client messages and passes each to handle, in order, until
// the connection ends; then it waits for the last handle to return and
// unregisters the connection.
//
// handle runs on a goroutine of its own that exists only while messages
// wait, so the reading goroutine, parked in Read for most of a connection's
// life, keeps a small stack however deep handling goes.
func (c *Conn) ReadLoop(handle func(typ websocket.MessageType, data []byte)) {
	defer close(c.done)
	defer c.hub.unregister(c)
	defer c.ws.CloseNow()
	defer c.waitHandler()
	for {
		// No context: a cancellable one costs a registration per read. The
		// hub ends a connection by closing it, which ends this Read.
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		c.MarkRead()
		c.inMu.Lock()
		for len(c.inbox) >= maxInbox {
			c.inCond.Wait()
		}
		c.inbox = append(c.inbox, inMsg{typ, data})
		if !c.handling {
			c.handling = true
			go c.handleLoop(handle)
		}
		c.inMu.Unlock()
	}
}

// handleLoop is the handler goroutine: it ends when the inbox is empty.
func (c *Conn) handleLoop(handle func(typ websocket.MessageType, data []byte)) {
	for {
		c.inMu.Lock()
		if len(c.inbox) == 0 {
			c.inbox = nil
			c.handling = false
			c.inCond.Broadcast()
			c.inMu.Unlock()
			return
		}
		m := c.inbox[0]
		c.inbox[0] = inMsg{}
		c.inbox = c.inbox[1:]
		c.inCond.Broadcast()
		c.inMu.Unlock()
		handle(m.typ, m.data)
	}
}

// waitHandler drops unhandled messages and waits for the handler to end.
func (c *Conn) waitHandler() {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	c.inbox = nil
	for c.handling {
		c.inCond.Wait()
	}
}

// Send queues an ordered message for this connection alone (a reply, an
// error). It never blocks; if the queue would pass the connection's byte
// limit, or the node is over its budget and this queue is among the largest
// (see budget.go), the connection is closed as a slow consumer and Send
// returns false.
func (c *Conn) Send(msg []byte) bool {
	c.mu.Lock()
	ok := c.sendOwnLocked(msg)
	c.mu.Unlock()
	return ok
}

func (c *Conn) sendLocked(msg []byte) bool { return c.queueLocked(msg, time.Now(), nil) }

// Reply is Send for the answer to the client's own request, written at
// once on the calling goroutine (a non-blocking write; a full socket hands
// over to a writer goroutine as in the pool) when no writer is at the
// connection. A connection that a room's fan-out put on a worker's ready
// list counts as free: Reply takes its turn and the worker skips it. So an
// answer does not wait in line behind the fan-out of a large room (10,000
// connections' writes); the caller, the connection's handler, pays for the
// write.
func (c *Conn) Reply(msg []byte) bool {
	c.mu.Lock()
	c.replying = true
	ok := c.sendOwnLocked(msg)
	c.replying = false
	mine := false
	switch {
	case !c.writing && c.queued > 0: // also the error of a close that sendOwnLocked began
		c.writing, mine = true, true
	case c.writing && c.listed:
		c.listed, mine = false, true
	}
	c.mu.Unlock()
	if mine {
		putFrameBuf(c.writeTurn(newFrameBuf(), false))
	}
	return ok
}

// queueLocked queues an ordered message at now. A connection it makes ready
// to write goes to f's list if f is not nil (the caller hands the list to
// the writer pool), else straight to the pool.
func (c *Conn) queueLocked(msg []byte, now time.Time, f *fanout) bool {
	if c.closing {
		return false
	}
	if c.queued+len(msg) > c.hub.cfg.MaxQueueBytes {
		c.closeSlowLocked()
		return false
	}
	if c.queued == 0 {
		c.queueSince = now
	}
	c.queue = append(c.queue, msg)
	c.queued += len(msg)
	c.startWriterLocked(f)
	return true
}

// sendVolatileLocked queues a message that replaces any queued message of
// the same room and key.
func (c *Conn) sendVolatileLocked(room, key string, msg []byte) {
	c.volatileLocked(room, key, msg, time.Now(), nil)
}

// volatileLocked is sendVolatileLocked at now, with f as in queueLocked.
func (c *Conn) volatileLocked(room, key string, msg []byte, now time.Time, f *fanout) {
	c.putVolatileLocked(room, key, msg, now, f, false)
}

// putVolatileLocked is volatileLocked; own charges msg to the node's
// budget (a message made for this connection alone).
func (c *Conn) putVolatileLocked(room, key string, msg []byte, now time.Time, f *fanout, own bool) {
	if c.closing {
		return
	}
	for i := range c.vol {
		if c.vol[i].key == key && c.vol[i].room == room {
			c.queued += len(msg) - len(c.vol[i].msg)
			c.replaceOwnVolLocked(&c.vol[i], msg, own)
			c.hub.metrics.conflated.Inc()
			return
		}
	}
	if own && c.hub.budget.over(c.own, len(msg)) {
		c.closeOverBudgetLocked()
		return
	}
	if c.queued+len(msg) > c.hub.cfg.MaxQueueBytes {
		c.closeSlowLocked()
		return
	}
	if c.queued == 0 {
		c.queueSince = now
	}
	c.vol = append(c.vol, volatileMsg{room, key, msg, own})
	c.queued += len(msg)
	if own {
		c.chargeOwnLocked(len(msg))
	}
	c.startWriterLocked(f)
}

// startWriterLocked hands c to a writer unless it has one: to f's list if
// f is not nil, else to the pool.
func (c *Conn) startWriterLocked(f *fanout) {
	if !c.writing && !c.replying {
		c.writing, c.listed = true, true
		if f != nil {
			f.add(c)
			return
		}
		c.hub.writers.schedule(c)
	}
}

// closeSlowLocked drops the backlog, queues a slow_consumer error and
// closes with 4000 once it is written.
func (c *Conn) closeSlowLocked() {
	c.hub.metrics.slowClosed.Inc()
	c.dropOwnLocked()
	c.queue, c.vol, c.queued = nil, nil, 0
	msg := protocol.ErrorMessage(protocol.Millis(time.Now()), protocol.Errorf(protocol.CodeSlowConsumer, "outbound backlog over the server's limit"))
	c.queue = append(c.queue, msg)
	c.queued = len(msg)
	c.closeLocked(protocol.CloseSlowConsumer, "slow consumer")
}

// Close closes the connection with code once what is already queued (plus
// final, if not nil) is written. It is idempotent: the first close wins.
func (c *Conn) Close(code websocket.StatusCode, reason string, final []byte) {
	c.mu.Lock()
	if !c.closing && final != nil {
		c.queue = append(c.queue, final)
		c.queued += len(final)
	}
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

func (c *Conn) closeLocked(code websocket.StatusCode, reason string) {
	if c.closing {
		return
	}
	c.closing = true
	c.closeCode, c.closeWhy = code, reason
	c.startWriterLocked(nil)
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// MarkRead records activity from the client (keepalive).
func (c *Conn) MarkRead() { c.lastRead.Store(time.Now().UnixNano()) }

// writeLoop is a connection's own writer goroutine, for when the writer
// pool cannot serve it (see writerPool): it sends what is queued, several
// messages to a frame separated by '\n', blocking as long as the socket
// does, and ends when the queue is empty, after the close handshake if one
// was asked for, or when a write fails. buf, if not nil, is its first frame
// buffer.
func (c *Conn) writeLoop(buf []byte) {
	if buf == nil {
		buf = newFrameBuf()
	}
	defer func() { putFrameBuf(buf) }()
	for {
		frame, n, closing := c.take(buf)
		if n == 0 {
			if closing {
				c.mu.Lock()
				code, why, now := c.closeCode, c.closeWhy, c.noHandshake
				c.mu.Unlock()
				if now {
					c.closeWithoutHandshake(code, why)
				} else {
					c.ws.Close(code, why) // waits for the client's close, at most 5s
				}
			}
			return
		}
		if _, err := c.ws.WriteBatch(frame, true); err != nil {
			c.writeFailed()
			return
		}
		c.sent(n, len(frame)-wsock.Headroom)
		buf = keepBuf(frame, buf)
	}
}

// writeFailed ends a connection whose socket write failed: what is queued
// can never be sent.
func (c *Conn) writeFailed() {
	c.ws.CloseNow()
	c.mu.Lock()
	c.closing, c.writing = true, false
	c.dropOwnLocked()
	c.queue, c.vol, c.queued = nil, nil, 0
	c.mu.Unlock()
}

// sent counts a frame of n messages and payload bytes.
func (c *Conn) sent(n, payload int) {
	c.hub.metrics.messages.Add(float64(n))
	c.hub.metrics.frames.Inc()
	c.hub.metrics.bytes.Add(float64(payload))
}

// Frame buffers are pooled: writers come and go with bursts.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func newFrameBuf() []byte { return (*frameBufs.Get().(*[]byte))[:0] }

func putFrameBuf(b []byte) {
	if cap(b) <= maxKeptBuffer {
		frameBufs.Put(&b)
	}
}

const (
	maxFrameBatch = 64 << 10 // payload bytes joined into one frame
	maxKeptBuffer = 128 << 10
)

// take moves queued messages into one frame buffer (headroom, then the
// payload): ordered messages first, then the conflated ones (so a room's
// volatile messages never overtake its snapshot). n is the number of
// messages taken; when it is 0 and the connection is not closing, the
// writer is marked stopped, under the same lock, so no Send is missed.
func (c *Conn) take(buf []byte) (frame []byte, n int, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.takeLocked(buf)
}

// claim takes the turn of a connection found on a ready list: false if a
// Reply took it meanwhile (the list's entry is stale).
func (c *Conn) claim() bool {
	c.mu.Lock()
	ok := c.listed
	c.listed = false
	c.mu.Unlock()
	return ok
}

// writeListed is writeLoop for a connection taken off a ready list that
// no worker will serve, unless a Reply took its turn.
func (c *Conn) writeListed() {
	if c.claim() {
		c.writeLoop(nil)
	}
}

func (c *Conn) takeLocked(buf []byte) (frame []byte, n int, closing bool) {
	if c.queued > 0 {
		c.hub.metrics.queueDelay.Observe(time.Since(c.queueSince).Seconds())
	}
	buf = append(buf[:0], make([]byte, wsock.Headroom)...)
	add := func(msg []byte) bool {
		if n > 0 && len(buf)+1+len(msg) > maxFrameBatch+wsock.Headroom {
			return false
		}
		if n > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, msg...)
		n++
		c.queued -= len(msg)
		return true
	}
	i := 0
	for ; i < len(c.queue); i++ {
		if !add(c.queue[i]) {
			break
		}
		c.dequeuedLocked(c.queue[i])
		c.queue[i] = nil
	}
	c.queue = c.queue[i:]
	if len(c.queue) == 0 {
		c.queue = nil
		j := 0
		for ; j < len(c.vol); j++ {
			if !add(c.vol[j].msg) {
				break
			}
			if c.vol[j].own {
				c.releaseOwnLocked(len(c.vol[j].msg))
			}
		}
		c.vol = c.vol[j:]
		if len(c.vol) == 0 {
			c.vol = nil
		}
	}
	if c.queued > 0 {
		c.queueSince = time.Now()
	}
	if n == 0 && !c.closing {
		c.writing = false
	}
	return buf, n, c.closing
}
