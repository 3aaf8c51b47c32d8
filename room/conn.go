package room

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/protocol"
)

// Conn is one client connection as the hub sees it: an outbound queue with a
// single writer, and the rooms it joined. The goroutine that calls WriteLoop
// owns the socket's writes; anything may call Send, SendVolatile and Close.
type Conn struct {
	hub *Hub
	ws  *websocket.Conn
	// User is the authenticated user, for logs; set before Register.
	id uint64

	mu         sync.Mutex
	queue      [][]byte // ordered messages, oldest first
	queued     int      // bytes in queue and vol
	queueSince time.Time
	vol        []volatileMsg // conflated messages, one per key
	closing    bool          // no more sends; the writer closes after the queue
	closeCode  websocket.StatusCode
	closeWhy   string
	rooms      map[string]*sub // rooms joined or joining, by id

	wake      chan struct{} // cap 1: the writer has work
	done      chan struct{} // closed when the writer has ended
	doneOnce  sync.Once
	writeFrom atomic.Int64 // unix nanos when the current write started, 0 when idle
	lastRead  atomic.Int64 // unix nanos of the last frame or pong from the client
	pinging   atomic.Bool
}

type volatileMsg struct {
	room, key string
	msg       []byte
}

// errClosed is returned by WriteLoop after a close the hub asked for.
var errClosed = errors.New("room: connection closed")

// Send queues an ordered message (a reply, an error, an event). It never
// blocks; if the queue would pass the byte limit the connection is closed as
// a slow consumer and Send returns false.
func (c *Conn) Send(msg []byte) bool {
	c.mu.Lock()
	ok := c.sendLocked(msg)
	c.mu.Unlock()
	return ok
}

func (c *Conn) sendLocked(msg []byte) bool {
	if c.closing {
		return false
	}
	if c.queued+len(msg) > c.hub.cfg.MaxQueueBytes {
		c.closeSlowLocked()
		return false
	}
	if c.queued == 0 {
		c.queueSince = time.Now()
	}
	c.queue = append(c.queue, msg)
	c.queued += len(msg)
	c.signal()
	return true
}

// sendVolatileLocked queues a message that replaces any queued message of
// the same room and key.
func (c *Conn) sendVolatileLocked(room, key string, msg []byte) {
	if c.closing {
		return
	}
	for i := range c.vol {
		if c.vol[i].key == key && c.vol[i].room == room {
			c.queued += len(msg) - len(c.vol[i].msg)
			c.vol[i].msg = msg
			c.hub.metrics.conflated.Inc()
			return
		}
	}
	if c.queued+len(msg) > c.hub.cfg.MaxQueueBytes {
		c.closeSlowLocked()
		return
	}
	if c.queued == 0 {
		c.queueSince = time.Now()
	}
	c.vol = append(c.vol, volatileMsg{room, key, msg})
	c.queued += len(msg)
	c.signal()
}

func (c *Conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeSlowLocked drops the backlog, queues a slow_consumer error and
// closes with 4000 once it is written.
func (c *Conn) closeSlowLocked() {
	c.hub.metrics.slowClosed.Inc()
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
	c.signal()
}

// Done is closed when the connection's writer has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// MarkRead records activity from the client (keepalive).
func (c *Conn) MarkRead() { c.lastRead.Store(time.Now().UnixNano()) }

// WriteLoop writes queued messages until ctx ends, the socket fails, or a
// Close has been written. Several queued messages go in one frame, separated
// by '\n'. It always returns a non-nil error.
func (c *Conn) WriteLoop(ctx context.Context) error {
	defer c.doneOnce.Do(func() { close(c.done) })
	var buf []byte
	for {
		select {
		case <-c.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
		for {
			frame, n, owned, closing := c.take(buf[:0])
			if n > 0 {
				c.writeFrom.Store(time.Now().UnixNano())
				err := c.ws.Write(ctx, websocket.MessageText, frame)
				c.writeFrom.Store(0)
				if err != nil {
					return err
				}
				c.hub.metrics.messages.Add(float64(n))
				c.hub.metrics.frames.Inc()
				c.hub.metrics.bytes.Add(float64(len(frame)))
				if owned && cap(frame) <= maxKeptBuffer {
					buf = frame
				}
				continue
			}
			if closing {
				c.mu.Lock()
				code, why := c.closeCode, c.closeWhy
				c.mu.Unlock()
				c.ws.Close(code, why)
				return errClosed
			}
			break
		}
		// Keep no buffer while idle: an idle connection should cost little.
		buf = nil
	}
}

const (
	maxFrameBatch = 64 << 10 // bytes joined into one frame
	maxKeptBuffer = 128 << 10
)

// take moves queued messages into one frame: ordered messages first, then
// the conflated ones (so a room's volatile messages never overtake its
// snapshot). n is the number of messages taken.
// A lone message is returned as it is (owned false): it is shared with other
// connections and must not be written into.
func (c *Conn) take(buf []byte) (frame []byte, n int, owned, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queued > 0 {
		c.hub.metrics.queueDelay.Observe(time.Since(c.queueSince).Seconds())
	}
	add := func(msg []byte) bool {
		if n > 0 && len(buf)+1+len(msg) > maxFrameBatch {
			return false
		}
		if n == 0 && len(c.queue)+len(c.vol) == 1 {
			frame = msg
		} else {
			if n > 0 {
				buf = append(buf, '\n')
			}
			buf = append(buf, msg...)
		}
		n++
		c.queued -= len(msg)
		return true
	}
	i := 0
	for ; i < len(c.queue); i++ {
		if !add(c.queue[i]) {
			break
		}
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
		}
		c.vol = c.vol[j:]
		if len(c.vol) == 0 {
			c.vol = nil
		}
	}
	if c.queued > 0 {
		c.queueSince = time.Now()
	}
	if frame != nil {
		return frame, n, false, c.closing
	}
	return buf, n, true, c.closing
}
