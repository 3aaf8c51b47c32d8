// Package wsock is the only code that writes to a client's WebSocket.
//
// coder/websocket handles the handshake, reading and control frames, but
// it flushes every message with a syscall of its own and has no way to join
// many messages into one frame without copying them through its writer. A
// live room fans one event out to thousands of connections, so the hub
// joins what is queued for a connection into one text frame (a batch) and
// this package puts it on the wire: on Unix with one non-blocking write(2)
// straight to the socket where the socket takes it (sock_unix.go), and
// with coder/websocket's own writer elsewhere (sock_other.go).
//
// A Conn keeps the *websocket.Conn to itself, so nothing outside this
// package can write a frame that would interleave with a batch; the
// library's own control frames (pong, ping, close) reach the socket through
// the same lock as batches.
//
// Ownership: one goroutine at a time writes batches (the caller's rule;
// the room hub's writing flag keeps it); any goroutine may Ping, Close or
// CloseNow; one goroutine reads.
package wsock

import (
	"context"
	"encoding/binary"
	"net/http"
	"sync/atomic"

	"github.com/coder/websocket"
)

// Headroom is the room a batch buffer keeps in front of its payload for the
// largest WebSocket frame header (2 bytes + 8 of length): the header is
// written there, so header and payload go out in one write with no copy.
const Headroom = 10

// Conn is one client's WebSocket after the handshake.
type Conn struct {
	ws *websocket.Conn
	// since is when the socket write in progress began (unix nanos), or
	// when a batch was left unfinished, 0 when neither: the hub closes a
	// connection whose write stalls.
	since atomic.Int64
	out   sock // the write side (per platform)
}

// AcceptOptions configures Accept.
type AcceptOptions struct {
	// OriginPatterns are the browser origins allowed besides the server's
	// own host ("*" allows any); see websocket.AcceptOptions.
	OriginPatterns []string
	// ReadLimit is the largest client message in bytes (0: the library's
	// default); a larger one closes the connection with 1009.
	ReadLimit int64
}

func (o AcceptOptions) websocket() *websocket.AcceptOptions {
	ao := &websocket.AcceptOptions{OriginPatterns: o.OriginPatterns}
	for _, p := range o.OriginPatterns {
		if p == "*" {
			ao.InsecureSkipVerify = true
		}
	}
	return ao
}

// Accept upgrades an HTTP request to a WebSocket. On error the response has
// been written.
func Accept(w http.ResponseWriter, r *http.Request, opts AcceptOptions) (*Conn, error) {
	c := &Conn{}
	ws, err := c.accept(w, r, opts.websocket())
	if err != nil {
		return nil, err
	}
	if opts.ReadLimit > 0 {
		ws.SetReadLimit(opts.ReadLimit)
	}
	c.ws = ws
	return c, nil
}

// Read reads the next client message. Only one goroutine may read, and one
// must, or pongs and the peer's close are never seen.
func (c *Conn) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	return c.ws.Read(ctx)
}

// Ping writes a ping (between batches, never inside one) and waits for
// the pong, which the reading goroutine receives.
func (c *Conn) Ping(ctx context.Context) error { return c.ws.Ping(ctx) }

// Close writes a close frame with code and reason after any batch in
// progress and waits (at most about 5 s) for the peer's, then closes the
// socket.
func (c *Conn) Close(code websocket.StatusCode, reason string) error {
	return c.ws.Close(code, reason)
}

// CloseNow closes the socket at once; a write blocked on it returns an
// error.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }

// WriteStart is when the socket write in progress began (unix nanos), or
// 0 when none is in progress.
func (c *Conn) WriteStart() int64 { return c.since.Load() }

// encodeText makes buf[Headroom:] one unmasked, final text frame (RFC 6455
// section 5.2; a server never masks) by writing the header into the
// headroom, and returns the frame as it goes on the wire.
func encodeText(buf []byte) []byte {
	n := len(buf) - Headroom
	var h int
	switch {
	case n <= 125:
		h = 2
		buf[Headroom-1] = byte(n)
	case n <= 0xffff:
		h = 4
		buf[Headroom-3] = 126
		binary.BigEndian.PutUint16(buf[Headroom-2:], uint16(n))
	default:
		h = 10
		buf[Headroom-9] = 127
		binary.BigEndian.PutUint64(buf[Headroom-8:], uint64(n))
	}
	start := Headroom - h
	buf[start] = 0x81 // FIN, opcode text
	return buf[start:]
}

// Flush returns once the rest of a batch WriteBatch left unfinished is on
// the wire, blocking as long as the socket does, or the socket failed.
func (c *Conn) Flush() error {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.finishLocked()
}

// finishLocked writes the rest of an unfinished batch, if any (the
// platform's writeLocked); c.out.mu must be held.
func (c *Conn) finishLocked() error {
	p := c.out.pending.Swap(nil)
	if c.out.err != nil {
		return c.out.err
	}
	if p != nil {
		return c.writeLocked(*p)
	}
	return nil
}
