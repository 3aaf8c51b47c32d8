package room

import (
	"bufio"
	"bytes"
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
// ones. Client messages are small (4 KiB at most) and writes are corked
// below, so neither buffer needs to be large.
const (
	readBufSize  = 256
	writeBufSize = 64
)

// cork sits between coder/websocket's buffered writer and the socket. While
// corked, what the library writes for a frame (header and payload, in as many
// pieces as it likes) is collected in memory, and flush then sends it with
// one write: one syscall per frame, whatever the frame's size. Uncorked
// (control frames the library writes on its own: pongs, close) it writes
// straight through. Every write to the socket goes through mu, so corked
// and direct writes never interleave.
type cork struct {
	mu     sync.Mutex
	conn   net.Conn
	corked bool
	buf    *[]byte
	// since is when the current socket write began (unix nanos), 0 when
	// none is in progress: the hub's sweeper closes a connection whose
	// write stalls.
	since atomic.Int64
}

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (c *cork) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	return c.writeLocked(p)
}

func (c *cork) writeLocked(p []byte) (int, error) {
	c.since.Store(time.Now().UnixNano())
	n, err := c.conn.Write(p)
	c.since.Store(0)
	return n, err
}

// start corks the writer; flush must follow.
func (c *cork) start() {
	c.mu.Lock()
	c.corked = true
	c.buf = corkBufs.Get().(*[]byte)
	c.mu.Unlock()
}

// flush uncorks and writes what was collected.
func (c *cork) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	buf := c.buf
	c.buf = nil
	_, err := c.writeLocked(*buf)
	if cap(*buf) <= 256<<10 {
		*buf = (*buf)[:0]
		corkBufs.Put(buf)
	}
	return err
}

// hijacker wraps a ResponseWriter so that the connection coder/websocket
// hijacks reads through a small buffer and writes through a cork.
type hijacker struct {
	http.ResponseWriter
	cork *cork
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
	h.cork.conn = conn
	// Keep whatever the HTTP server had already read past the request
	// (coder/websocket re-reads the hijacked conn through the reader).
	var rc net.Conn = conn
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		rc = &prefixConn{Conn: conn, r: io.MultiReader(bytes.NewReader(append([]byte(nil), b...)), conn)}
	}
	return rc, bufio.NewReadWriter(bufio.NewReaderSize(rc, readBufSize), bufio.NewWriterSize(h.cork, writeBufSize)), nil
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
