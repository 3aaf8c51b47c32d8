package room

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
)

// Buffer sizes under coder/websocket. net/http hands a hijacker 4 KiB read
// and write buffers, which stay with the connection for its life; most of a
// live-shopping connection's life is idle, so they are swapped for small
// ones. Client messages are small (4 KiB at most). The library itself only
// writes control frames (pong, close: at most 2+125 bytes), so its write
// buffer holds any of them whole and flushes it in one write.
const (
	readBufSize  = 256
	writeBufSize = 128
)

// sock is the write side of a connection's socket. coder/websocket writes
// its control frames through it (as the io.Writer under its bufio.Writer);
// the hub writes data frames itself, framing the payload and sending header
// and payload in one write: one syscall per frame, no per-write context, no
// copy through the library. mu keeps a control frame and a data frame from
// ever interleaving; it is held from the first byte of a frame to its last.
type sock struct {
	mu   sync.Mutex
	conn net.Conn
	// since is when the current socket write began (unix nanos), 0 when
	// none is in progress: the hub's sweeper closes a connection whose
	// write stalls.
	since atomic.Int64
	// raw is conn's file descriptor, for the writer pool's non-blocking
	// writes; nil if conn has none.
	raw syscall.RawConn
}

func (s *sock) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(p)
}

func (s *sock) writeLocked(p []byte) (int, error) {
	s.since.Store(time.Now().UnixNano())
	n, err := s.conn.Write(p)
	s.since.Store(0)
	return n, err
}

// frameHeadroom is the room a frame buffer keeps in front of its payload
// for the largest WebSocket header (2 bytes + 8 of length).
const frameHeadroom = 10

// encodeText makes frame[frameHeadroom:] one unmasked, final text frame
// (RFC 6455 section 5.2; a server never masks) by writing the header into
// the headroom, and returns the frame as it goes on the wire.
func encodeText(frame []byte) []byte {
	n := len(frame) - frameHeadroom
	var h int
	switch {
	case n <= 125:
		h = 2
		frame[frameHeadroom-1] = byte(n)
	case n <= 0xffff:
		h = 4
		frame[frameHeadroom-3] = 126
		binary.BigEndian.PutUint16(frame[frameHeadroom-2:], uint16(n))
	default:
		h = 10
		frame[frameHeadroom-9] = 127
		binary.BigEndian.PutUint64(frame[frameHeadroom-8:], uint64(n))
	}
	start := frameHeadroom - h
	frame[start] = 0x81 // FIN, opcode text
	return frame[start:]
}

// writeText sends frame[frameHeadroom:] as one text frame, blocking while
// the socket does.
func (s *sock) writeText(frame []byte) error {
	wire := encodeText(frame)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.writeLocked(wire)
	return err
}

// writeNowLocked writes as much of p as the socket takes without waiting
// and returns how much that was. A socket without a file descriptor takes
// nothing this way (its writes all go through writeLocked). s.mu must be
// held.
func (s *sock) writeNowLocked(p []byte) (int, error) {
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
				return true // full: the caller waits elsewhere
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

// hijacker wraps a ResponseWriter so that the connection coder/websocket
// hijacks reads through a small buffer and writes through sock.
type hijacker struct {
	http.ResponseWriter
	sock *sock
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("room: the ResponseWriter cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.sock.conn = conn
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			h.sock.raw = raw
		}
	}
	// Keep whatever the HTTP server had already read past the request
	// (coder/websocket re-reads the hijacked conn through the reader).
	var rc net.Conn = conn
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		rc = &prefixConn{Conn: conn, r: io.MultiReader(bytes.NewReader(append([]byte(nil), b...)), conn)}
	}
	return rc, bufio.NewReadWriter(bufio.NewReaderSize(rc, readBufSize), bufio.NewWriterSize(h.sock, writeBufSize)), nil
}

// prefixConn reads bytes already buffered before the conn itself.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Flush lets the wrapper pass for an http.Flusher, as coder/websocket
// checks for one on HTTP/2.
func (h *hijacker) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
