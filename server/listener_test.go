package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// serveLimited serves a node on 127.0.0.1:0 behind its LimitListener, as
// cmd/liveserver does.
func serveLimited(t *testing.T, cfg server.Config) (*testNode, *server.Listener) {
	t.Helper()
	cfg.MaxConnsPerIP, cfg.HTTPRatePerIP, cfg.MsgRate = -1, -1, -1
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := srv.LimitListener(tcp)
	hs := &http.Server{Handler: srv.Handler(), ConnState: ln.ConnState, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		<-done
	})
	return &testNode{srv: srv, url: "http://" + tcp.Addr().String()}, ln
}

// keepAlive is a raw HTTP/1.1 client connection that stays open.
type keepAlive struct {
	conn net.Conn
	br   *bufio.Reader
}

func openKeepAlive(t *testing.T, n *testNode) *keepAlive {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(n.url, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keepAlive{conn: conn, br: bufio.NewReader(conn)}
}

// get sends GET path on the connection and returns the answer's status
// and body.
func (k *keepAlive) get(t *testing.T, path string) (int, string) {
	t.Helper()
	k.conn.SetDeadline(time.Now().Add(waitLong))
	defer k.conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(k.conn, "GET "+path+" HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// closedByServer reports whether the server has closed the connection.
func (k *keepAlive) closedByServer() bool {
	k.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	defer k.conn.SetReadDeadline(time.Time{})
	_, err := k.br.Peek(1)
	var ne net.Error
	return err != nil && !(asNetErr(err, &ne) && ne.Timeout())
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// The listener holds at most -max-tcp-conns connections. Idle keep-alive
// connections cannot starve anyone: at the cap the oldest idle one is
// closed to make room for a WebSocket or a health check. Connections that
// are all busy give a newcomer a 503 at once (never a wait in the kernel's
// backlog, never a descriptor past the cap).
func TestListenerCapIdleKeepAlives(t *testing.T) {
	const capN = 4
	n, ln := serveLimited(t, server.Config{SeedDemo: true, MaxTCPConns: capN, MaxConns: 2})
	if tcp, ws := n.srv.ConnLimits(); tcp != capN || ws != 2 {
		t.Fatalf("ConnLimits %d, %d; want %d, 2", tcp, ws, capN)
	}
	var idle []*keepAlive
	for i := range capN {
		k := openKeepAlive(t, n)
		if st, _ := k.get(t, "/healthz"); st != 200 {
			t.Fatalf("keep-alive /healthz: %d", st)
		}
		idle = append(idle, k)
		// The server marks a connection idle after writing the answer,
		// which the client may read first: wait, so that the order in
		// which they went idle is the order they were opened.
		testutil.Eventually(t, fmt.Sprintf("keep-alive %d idle", i), func() bool { return ln.IdleConns() == i+1 })
	}
	testutil.Eventually(t, "the keep-alives are idle at the cap", func() bool { return ln.Open() == capN })

	// A WebSocket and a health check get in past the idle keep-alives.
	ws, _, _, _ := dialWith(t, n.wsURL(), nil)
	if ws == nil {
		t.Fatal("WebSocket refused while only idle keep-alives held the listener")
	}
	ws.join("demo")
	fresh := openKeepAlive(t, n)
	if st, body := fresh.get(t, "/healthz"); st != 200 {
		t.Fatalf("/healthz past idle keep-alives: %d %s", st, body)
	}
	evicted := 0
	for _, k := range idle {
		if k.closedByServer() {
			evicted++
		}
	}
	if evicted != 2 {
		t.Fatalf("%d idle keep-alives closed to make room for 2 connections, want 2 (the oldest)", evicted)
	}
	if !idle[0].closedByServer() || !idle[1].closedByServer() {
		t.Fatal("the evicted keep-alives are not the oldest idle ones")
	}
	if got := ln.Open(); got > capN {
		t.Fatalf("%d connections open, cap %d", got, capN)
	}

	// Now every connection is busy: two that have not sent a request yet
	// (not idle), the WebSocket, and the fresh keep-alive put to work.
	var busy []net.Conn
	idle[0], idle[1] = nil, nil
	for _, k := range idle[2:] {
		k.conn.Close() // make room for the busy ones
	}
	testutil.Eventually(t, "closed keep-alives give their places back", func() bool { return ln.Open() == 2 })
	for range 2 {
		c, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		busy = append(busy, c)
	}
	testutil.Eventually(t, "busy connections counted", func() bool { return ln.Open() == capN })
	// The fresh keep-alive is idle again: it is the one that makes room.
	testutil.Eventually(t, "the fresh keep-alive idle", func() bool { return ln.IdleConns() == 1 })
	probe := openKeepAlive(t, n)
	if st, _ := probe.get(t, "/healthz"); st != 200 {
		t.Fatalf("/healthz at the cap with one idle keep-alive: %d", st)
	}
	if !fresh.closedByServer() {
		t.Fatal("the idle keep-alive was not the one closed")
	}
	// Replace the probe (idle now) by a third busy connection.
	probe.conn.Close()
	testutil.Eventually(t, "the probe gives its place back", func() bool { return ln.Open() == capN-1 })
	c, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	busy = append(busy, c)
	testutil.Eventually(t, "all busy", func() bool { return ln.Open() == capN })

	over := openKeepAlive(t, n)
	st, body := over.get(t, "/healthz")
	var out struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal([]byte(body), &out)
	if st != http.StatusServiceUnavailable || out.Error.Code != "unavailable" {
		t.Fatalf("a newcomer with every connection busy: %d %s; want 503 unavailable", st, body)
	}
	if got := ln.Open(); got != capN {
		t.Fatalf("%d connections open, cap %d", got, capN)
	}
	busy[0].Close()
	testutil.Eventually(t, "a place frees when a connection closes", func() bool {
		if ln.Open() >= capN {
			return false
		}
		st, _ := openKeepAlive(t, n).get(t, "/healthz")
		return st == 200
	})
}
