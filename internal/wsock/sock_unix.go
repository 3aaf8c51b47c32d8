//go:build unix

package wsock

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// Buffer sizes under coder/websocket. net/http hands a hijacker 4 KiB read
// and write buffers, which stay with the connection for its life; most of a
// live-shopping connection's life is idle, so they are swapped for small
// ones. Client messages are small (4 KiB at most). The library itself only
// writes control frames here (pong, ping, close: at most 2+125 bytes), so
// its write buffer holds any of them whole and flushes it in one Write:
// a control frame reaches the socket in one piece, never split around a
// batch.
const (
	readBufSize  = 256
	writeBufSize = 128
)

// sock is the write side of a connection's socket: batches go straight to
// the socket, control frames come through ctlWriter (coder/websocket's
// bufio.Writer writes to it).
//
// mu is held from the first byte of a write to its last, and always
// released by the goroutine that took it. A batch that the socket did not
// take whole at once (its buffer is full), or that found mu taken (a
// control frame is being written), is left in pending: whoever takes mu
// next writes it before anything else, so no frame is ever split by
// another, and the batch's writer (the goroutine the hub hands a slow
// connection to) calls Flush, which returns once pending is on the wire,
// written by itself or by a control frame's writer. Nobody waits for the
// socket holding a lock that another goroutine must release.
type sock struct {
	mu   sync.Mutex
	conn net.Conn
	// raw is conn's file descriptor, for non-blocking writes; nil if conn
	// has none (every batch then goes to Flush).
	raw syscall.RawConn
	// err is the first failed write, under mu: the socket is dead, and
	// every later write fails with it.
	err error
	// pending is the unwritten rest of a batch, or nil; only the goroutine
	// that swaps it out may write it, under mu.
	pending atomic.Pointer[[]byte]
}

func (c *Conn) accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, error) {
	return websocket.Accept(&hijacker{ResponseWriter: w, c: c}, r, opts)
}

// WriteBatch sends buf[Headroom:] as one text frame, writing the header
// into buf's headroom.
//
// With wait it blocks as long as the socket does and reports true. Without
// it, it writes what the socket takes at once, and reports false when the
// frame is not all on the wire yet: the rest is then left with the Conn,
// which writes it before any other frame, and the caller must call Flush
// (usually from a goroutine of its own) before it reuses buf or writes the
// next batch. On error nothing of buf is kept.
func (c *Conn) WriteBatch(buf []byte, wait bool) (bool, error) {
	wire := encodeText(buf)
	s := &c.out
	if wait {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := c.finishLocked(); err != nil {
			return false, err
		}
		if err := c.writeLocked(wire); err != nil {
			return false, err
		}
		return true, nil
	}
	if !s.mu.TryLock() {
		// A control frame is being written: it may wait for the socket.
		c.leave(wire)
		return false, nil
	}
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	n, err := s.writeNow(wire)
	if err != nil {
		s.err = err
		return false, err
	}
	if n < len(wire) {
		// The socket's buffer is full: the rest must follow before any
		// other frame.
		c.leave(wire[n:])
		return false, nil
	}
	return true, nil
}

// leave hands the rest of a batch to whoever takes mu next.
func (c *Conn) leave(rest []byte) {
	c.since.Store(time.Now().UnixNano())
	c.out.pending.Store(&rest)
}

// writeLocked writes p whole, blocking as long as the socket does;
// c.out.mu must be held.
func (c *Conn) writeLocked(p []byte) error {
	t := time.Now().UnixNano()
	c.since.Store(t)
	_, err := c.out.conn.Write(p)
	c.since.CompareAndSwap(t, 0) // unless a batch was left meanwhile
	if err != nil {
		c.out.err = err
	}
	return err
}

// CloseWithoutHandshake writes a close frame with code and reason (after
// the rest of an unfinished batch), giving the socket at most timeout to
// take them, and closes the socket without waiting for the peer's answer.
func (c *Conn) CloseWithoutHandshake(code websocket.StatusCode, reason string, timeout time.Duration) error {
	frame := closeFrame(code, reason)
	c.out.mu.Lock()
	c.out.conn.SetWriteDeadline(time.Now().Add(timeout))
	if c.finishLocked() == nil {
		c.writeLocked(frame)
	}
	c.out.mu.Unlock()
	return c.ws.CloseNow()
}

// closeFrame is a close frame with code and reason (RFC 6455 section
// 5.5.1; a server never masks), the reason cut to the 123 bytes that fit.
func closeFrame(code websocket.StatusCode, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	frame := make([]byte, 4, 4+len(reason))
	frame[0] = 0x88 // FIN, opcode close
	frame[1] = byte(2 + len(reason))
	binary.BigEndian.PutUint16(frame[2:], uint16(code))
	return append(frame, reason...)
}

// writeNow writes as much of p as the socket takes without waiting and
// returns how much that was; s.mu must be held.
func (s *sock) writeNow(p []byte) (int, error) {
	if s.raw == nil {
		return 0, nil
	}
	var n int
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, err := syscall.Write(int(fd), p[n:])
			if m > 0 {
				n += m
			}
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true // full: the rest is left for Flush
			case err != nil:
				werr = err
				return true
			case m <= 0:
				return true
			}
		}
		return true
	})
	if werr != nil {
		return n, werr
	}
	return n, err
}

// ctlWriter is where coder/websocket writes its control frames (through a
// bufio.Writer of writeBufSize, one Write per frame).
type ctlWriter struct{ c *Conn }

func (w ctlWriter) Write(p []byte) (int, error) {
	c := w.c
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if err := c.finishLocked(); err != nil {
		return 0, err
	}
	if err := c.writeLocked(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// hijacker wraps a ResponseWriter so that the connection coder/websocket
// hijacks reads through a small buffer and writes through ctlWriter.
type hijacker struct {
	http.ResponseWriter
	c *Conn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("wsock: the ResponseWriter cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.c.out.conn = conn
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			h.c.out.raw = raw
		}
	}
	// Keep whatever the HTTP server had already read past the request
	// (coder/websocket re-reads the hijacked conn through the reader).
	var rc net.Conn = conn
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		rc = &prefixConn{Conn: conn, r: io.MultiReader(bytes.NewReader(append([]byte(nil), b...)), conn)}
	}
	return rc, bufio.NewReadWriter(bufio.NewReaderSize(rc, readBufSize), bufio.NewWriterSize(ctlWriter{h.c}, writeBufSize)), nil
}

// Flush lets the wrapper pass for an http.Flusher, as coder/websocket
// checks for one on HTTP/2.
func (h *hijacker) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// prefixConn reads bytes already buffered before the conn itself.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }
