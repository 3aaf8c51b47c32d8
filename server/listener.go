package server

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The node's file descriptors: every TCP connection (WebSocket, HTTP
// request, HTTP keep-alive waiting for its next request) holds one, and
// running out fails accept(2) for everyone ("too many open files"). So the
// listener holds at most a fixed number of connections, set below the
// open-file limit less what the node needs besides (the Redis pool,
// listeners, logs); -max-conns (WebSockets) stays below that with room for
// HTTP. At the cap, an idle keep-alive connection is closed to make room
// (its client reconnects when it has something to ask); if none is idle,
// the newcomer is answered 503 at once, never left to time out in the
// kernel's backlog.

const (
	// fdReserve is the descriptors kept for what is not a client
	// connection: standard streams, listeners (public, debug, metrics),
	// the poller, files the process collector reads (about 16 in all),
	// and the refusals in progress (maxRefusing).
	fdReserve = 64
	// maxHTTPReserve is the most of the listener's connections kept out
	// of -max-conns's default, for HTTP requests while WebSockets are at
	// their cap.
	maxHTTPReserve = 256
	// defaultMaxConns is -max-conns's default when the open-file limit
	// allows it.
	defaultMaxConns = 19000
	// maxRefusing is how many refused connections may be answered at
	// once; past it a refused connection is simply closed.
	maxRefusing = 32
	// refuseLinger bounds the time a refused connection is kept to answer
	// it (the 503 written, the request drained so that closing does not
	// reset the connection under the answer).
	refuseLinger = time.Second
)

// refusedResponse is the answer to a connection over the listener's cap.
var refusedResponse = func() []byte {
	body := `{"error":{"code":"unavailable","message":"this node is at its connection limit; try another or retry later"}}` + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

// connBudget derives the listener's cap (tcp) and the WebSocket cap (ws)
// from the open-file limit nofile (0: unknown), the descriptors the
// backend holds (the Redis pool), and the configured caps (0: derive).
// A configured cap the open-file limit cannot hold is an error.
func connBudget(nofile, backendFDs, maxTCP, maxWS int) (tcp, ws int, err error) {
	avail := nofile - backendFDs - fdReserve
	switch {
	case nofile > 0 && avail < 1:
		return 0, 0, fmt.Errorf("the open-file limit (%d) leaves no room for connections (the node needs %d besides); raise it (ulimit -n)", nofile, backendFDs+fdReserve)
	case maxTCP > 0 && nofile > 0 && maxTCP > avail:
		return 0, 0, fmt.Errorf("-max-tcp-conns %d is above what the open-file limit (%d) allows: at most %d (the node needs %d descriptors besides); raise the limit (ulimit -n) or lower -max-tcp-conns", maxTCP, nofile, avail, backendFDs+fdReserve)
	case maxTCP > 0:
		tcp = maxTCP
	case nofile > 0:
		tcp = avail
	default:
		tcp = defaultMaxConns + maxHTTPReserve
	}
	if maxWS > tcp {
		return 0, 0, fmt.Errorf("-max-conns %d is above the connections the node can hold open (%d, from the open-file limit %d less %d for Redis and the node itself, or -max-tcp-conns); raise the open-file limit (ulimit -n) or lower -max-conns", maxWS, tcp, nofile, backendFDs+fdReserve)
	}
	if maxWS > 0 {
		return tcp, maxWS, nil
	}
	return tcp, max(1, min(defaultMaxConns, tcp-min(maxHTTPReserve, tcp/4))), nil
}

// budgetConns sets the listener's cap and, unless configured, -max-conns
// from the open-file limit and the backend's descriptors.
func (s *Server) budgetConns() error {
	tcp, ws, err := connBudget(openFileLimit(), s.be.fds, s.cfg.MaxTCPConns, s.cfg.MaxConns)
	if err != nil {
		return err
	}
	s.maxTCP, s.cfg.MaxConns = tcp, ws
	return nil
}

// ConnLimits reports the TCP connections the node's listener holds at most
// (LimitListener) and the WebSocket connections it accepts (-max-conns).
func (s *Server) ConnLimits() (tcp, ws int) { return s.maxTCP, s.cfg.MaxConns }

// Listener caps the TCP connections accepted from the listener under it.
// Give its ConnState to the http.Server, which lets it tell idle
// keep-alive connections from busy ones.
type Listener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open int
	idle list.List // *limitedConn waiting for their next request, oldest first

	refusing chan struct{} // semaphore of refusals in progress
	wg       sync.WaitGroup
	evicted  atomic.Int64
	refused  atomic.Int64
}

// LimitListener caps ln at the node's connection budget (see Config's
// MaxTCPConns). The caller serves HTTP on the result with its ConnState.
func (s *Server) LimitListener(ln net.Listener) *Listener {
	return NewListener(ln, s.maxTCP)
}

// NewListener caps ln at max open connections.
func NewListener(ln net.Listener, max int) *Listener {
	return &Listener{Listener: ln, max: max, refusing: make(chan struct{}, maxRefusing)}
}

// limitedConn is an accepted connection, counted until it closes.
type limitedConn struct {
	net.Conn
	l      *Listener
	once   sync.Once
	closed bool          // under l.mu
	elem   *list.Element // in l.idle while idle; under l.mu
}

// Accept returns the next connection within the cap, closing the oldest
// idle keep-alive connection to make room if it must, and answering 503 to
// those it cannot make room for.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		for l.open >= l.max && l.idle.Len() > 0 {
			victim := l.idle.Remove(l.idle.Front()).(*limitedConn)
			victim.elem = nil
			l.mu.Unlock()
			l.evicted.Add(1)
			victim.Close()
			l.mu.Lock()
		}
		if l.open >= l.max {
			l.mu.Unlock()
			l.refuse(conn)
			continue
		}
		l.open++
		l.mu.Unlock()
		return &limitedConn{Conn: conn, l: l}, nil
	}
}

// refuse answers a connection over the cap with a 503 and closes it,
// lingering a little so that the answer is read rather than reset by
// request bytes still arriving. Past maxRefusing refusals in progress it
// does not wait: it writes the answer, drops what has arrived and closes
// (a fresh socket takes the short answer without blocking).
func (l *Listener) refuse(conn net.Conn) {
	l.refused.Add(1)
	select {
	case l.refusing <- struct{}{}:
	default:
		conn.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		conn.Write(refusedResponse)
		conn.SetReadDeadline(time.Now())
		io.Copy(io.Discard, io.LimitReader(conn, 64<<10))
		conn.Close()
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() { <-l.refusing }()
		conn.SetDeadline(time.Now().Add(refuseLinger))
		conn.Write(refusedResponse)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(conn, 64<<10))
		conn.Close()
	}()
}

// ConnState is for http.Server.ConnState: it keeps the idle keep-alive
// connections, which Accept may close to make room.
func (l *Listener) ConnState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok || lc.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st == http.StateIdle {
		if lc.elem == nil && !lc.closed {
			lc.elem = l.idle.PushBack(lc)
		}
		return
	}
	if lc.elem != nil {
		l.idle.Remove(lc.elem)
		lc.elem = nil
	}
}

// Close closes the listener and waits for the refusals in progress (at
// most refuseLinger). Connections already accepted stay open.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.wg.Wait()
	return err
}

// Open is the number of connections accepted and not yet closed.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Max is the cap.
func (l *Listener) Max() int { return l.max }

// Close closes the connection and gives its place back.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		l := c.l
		l.mu.Lock()
		c.closed = true
		if c.elem != nil {
			l.idle.Remove(c.elem)
			c.elem = nil
		}
		l.open--
		l.mu.Unlock()
	})
	return err
}

// SyscallConn exposes the socket's descriptor, as *net.TCPConn does: the
// hub's writer pool writes to WebSocket connections without blocking
// through it.
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// ReadFrom keeps the socket's own ReadFrom (sendfile) for net/http.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// CloseWrite half-closes the connection when the socket can.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
