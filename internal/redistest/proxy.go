package redistest

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy between a client and a target address for fault
// injection: point the client at Addr, then Cut and Restore the network.
type Proxy struct {
	target string
	ln     net.Listener
	loopWG sync.WaitGroup // the accept loop

	mu     sync.Mutex
	idle   *sync.Cond // signalled when a link ends
	cut    bool
	closed bool
	links  map[*link]struct{}
}

// link is one proxied client connection. up is nil until the target has
// been dialled.
type link struct {
	client net.Conn
	up     net.Conn
	cancel context.CancelFunc // aborts the dial
	broken bool               // closed by Cut or Close
}

func (l *link) breakLocked() {
	l.broken = true
	l.cancel()
	_ = l.client.Close()
	if l.up != nil {
		_ = l.up.Close()
	}
}

// NewProxy starts a proxy to target listening on 127.0.0.1:0. It is closed,
// with every goroutine ended, in tb.Cleanup.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: proxy listen: %v", err)
	}
	p := &Proxy{target: target, ln: ln, links: make(map[*link]struct{})}
	p.idle = sync.NewCond(&p.mu)
	p.loopWG.Add(1)
	go p.acceptLoop()
	tb.Cleanup(p.Close)
	return p
}

// Addr returns the address clients should connect to, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every proxied connection, on both sides, so the client reads
// EOF, and closes new connections as soon as they are accepted until
// Restore. It returns once every goroutine of the closed links has ended.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.breakAllLocked()
}

// Restore makes the proxy accept and forward connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close stops listening, closes every connection and waits for every
// goroutine to end. It may be called more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.loopWG.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.breakAllLocked()
}

// breakAllLocked closes every link and waits (releasing mu meanwhile) until
// their goroutines have all removed themselves.
func (p *Proxy) breakAllLocked() {
	for l := range p.links {
		l.breakLocked()
	}
	for len(p.links) > 0 {
		p.idle.Wait()
	}
}

func (p *Proxy) acceptLoop() {
	defer p.loopWG.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		l := &link{client: c, cancel: cancel}
		p.links[l] = struct{}{}
		p.mu.Unlock()
		go p.serve(ctx, l)
	}
}

// serve dials the target and copies both ways until either side ends or
// the link is broken, then closes both connections.
func (p *Proxy) serve(ctx context.Context, l *link) {
	defer func() {
		p.mu.Lock()
		l.cancel()
		_ = l.client.Close()
		if l.up != nil {
			_ = l.up.Close()
		}
		delete(p.links, l)
		p.idle.Broadcast()
		p.mu.Unlock()
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	up, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	l.up = up
	broken := l.broken
	p.mu.Unlock()
	if broken {
		return
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, l.client)
		// The client went away (or the link was broken): end the other
		// direction too.
		_ = up.Close()
	}()
	_, _ = io.Copy(l.client, up)
	_ = l.client.Close()
	<-done
}
