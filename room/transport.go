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
// the hub writes data frames itself with writeText, which frames the payload
// and sends header and payload in one write: one syscall per frame, no
// per-write context, no copy through the library. mu keeps a control frame
// and a data frame from ever interleaving.
type sock struct {
	mu   sync.Mutex
	conn net.Conn
	// since is when the current socket write began (unix nanos), 0 when
	// none is in progress: the hub's sweeper closes a connection whose
	// write stalls.
	since atomic.Int64
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

// writeText sends frame[frameHeadroom:] as one unmasked, final text frame
// (RFC 6455 section 5.2; a server never masks), writing the header into the
// headroom.
func (s *sock) writeText(frame []byte) error {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.writeLocked(frame[start:])
	return err
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
