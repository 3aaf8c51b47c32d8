package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/protocol"
	"github.com/liveserver/liveserver/server"
)

// testNode is a server started in-process for one test.
type testNode struct {
	srv *server.Server
	url string // http://127.0.0.1:port
}

func startNode(t testing.TB, cfg server.Config) *testNode {
	t.Helper()
	return startNodeOn(t, cfg, nil)
}

// startNodeOn is startNode with the test server's listener wrapped by wrap
// (if not nil), to set options on the sockets it accepts.
func startNodeOn(t testing.TB, cfg server.Config, wrap func(net.Listener) net.Listener) *testNode {
	t.Helper()
	if cfg.MsgRate == 0 {
		cfg.MsgRate = -1
	}
	if cfg.ViewersInterval == 0 {
		cfg.ViewersInterval = 100 * time.Millisecond
	}
	// Every client of a test comes from 127.0.0.1: the per-client limits
	// are off unless a test sets them (limits_test.go tests them).
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = -1
	}
	if cfg.MaxConnsPerUser == 0 {
		cfg.MaxConnsPerUser = -1
	}
	if cfg.HTTPRatePerIP == 0 {
		cfg.HTTPRatePerIP = -1
	}
	if cfg.HTTPRatePerUser == 0 {
		cfg.HTTPRatePerUser = -1
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	if wrap != nil {
		ts.Listener = wrap(ts.Listener)
	}
	ts.Start()
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	return &testNode{srv: srv, url: ts.URL}
}

func (n *testNode) wsURL() string { return "ws" + strings.TrimPrefix(n.url, "http") + "/ws" }

// token returns a development-mode token from POST /dev/token.
func (n *testNode) token(t testing.TB, sub, role string, rooms ...string) string {
	t.Helper()
	var out struct{ Token string }
	status := n.do(t, "POST", "/dev/token", "", map[string]any{"sub": sub, "role": role, "rooms": rooms}, &out)
	if status != 200 || out.Token == "" {
		t.Fatalf("dev token: status %d", status)
	}
	return out.Token
}

// do makes an HTTP call with an optional token and JSON body, decodes the
// answer into out (if not nil) and returns the status.
func (n *testNode) do(t testing.TB, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: status %d, body %q: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func (n *testNode) putRoom(t testing.TB, token, room string, stock ...int64) {
	t.Helper()
	var products []map[string]any
	for i, s := range stock {
		products = append(products, map[string]any{"id": fmt.Sprintf("p%d", i+1), "name": fmt.Sprintf("Product %d", i+1), "price": 1000 * (i + 1), "currency": "USD", "image": "/x.svg", "stock": s})
	}
	var out map[string]any
	if st := n.do(t, "PUT", "/api/rooms/"+room, token, map[string]any{"title": "Room " + room, "products": products}, &out); st != 201 && st != 200 {
		t.Fatalf("PUT room: %d %v", st, out)
	}
}

type msg = map[string]any

// client is a real WebSocket client whose reader goroutine splits frames on
// '\n' and queues the messages.
type client struct {
	t     testing.TB
	ws    *websocket.Conn
	msgs  chan msg
	done  chan struct{}
	mu    sync.Mutex
	err   error          // why the reader stopped
	stock map[string]msg // the stock message with the highest v, by product; under mu
	nextN int
}

func dial(t testing.TB, url, token string) *client {
	t.Helper()
	c, resp, err := tryDial(url, token)
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, st)
	}
	cl := &client{t: t, ws: c, msgs: make(chan msg, 100000), done: make(chan struct{}), stock: map[string]msg{}}
	go cl.read()
	t.Cleanup(func() {
		c.CloseNow()
		<-cl.done
	})
	return cl
}

func tryDial(url, token string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{}
	if token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
	}
	c, resp, err := websocket.Dial(ctx, url, opts)
	if c != nil {
		c.SetReadLimit(1 << 20)
	}
	return c, resp, err
}

func (c *client) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var m msg
			if err := json.Unmarshal(line, &m); err != nil {
				c.mu.Lock()
				c.err = fmt.Errorf("server sent invalid JSON %q: %v", line, err)
				c.mu.Unlock()
				return
			}
			if m["type"] == "stock" {
				c.mu.Lock()
				p, _ := m["product"].(string)
				if old := c.stock[p]; old == nil || old["v"].(float64) < m["v"].(float64) {
					c.stock[p] = m
				}
				c.mu.Unlock()
			}
			c.msgs <- m
		}
	}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) sendRaw(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

const waitLong = testutil.WaitLong

// next returns the next message; it fails the test after timeout.
func (c *client) next(timeout time.Duration) msg {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.done:
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		c.t.Fatalf("connection ended while waiting for a message: %v", c.closeErr())
	case <-time.After(timeout):
		c.t.Fatalf("no message within %s", timeout)
	}
	return nil
}

// nextEvent is next, skipping viewers messages: they come once a second
// when a room's count changed, in between whatever else a test awaits.
func (c *client) nextEvent(timeout time.Duration) msg {
	c.t.Helper()
	for {
		if m := c.next(timeout); m["type"] != "viewers" {
			return m
		}
	}
}

// waitFor reads messages until one satisfies pred and returns it.
func (c *client) waitFor(what string, pred func(msg) bool) msg {
	c.t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case m := <-c.msgs:
			if pred(m) {
				return m
			}
		case <-c.done:
			for {
				select {
				case m := <-c.msgs:
					if pred(m) {
						return m
					}
					continue
				default:
				}
				break
			}
			c.t.Fatalf("connection ended while waiting for %s: %v", what, c.closeErr())
		case <-deadline:
			c.t.Fatalf("no %s within %s", what, waitLong)
		}
	}
}

func isType(typ string) func(msg) bool { return func(m msg) bool { return m["type"] == typ } }

// request sends m with a fresh id and returns its reply.
func (c *client) request(m msg) msg {
	c.t.Helper()
	c.nextN++
	id := fmt.Sprintf("r-%d", c.nextN)
	m["id"] = id
	c.send(m)
	return c.waitFor("reply "+id, func(r msg) bool { return r["type"] == "reply" && r["id"] == id })
}

// requestSeeing is request for a message whose effect c itself also gets
// as a broadcast matching pred (the author's own comment), which may come
// before the reply or after it: it returns both.
func (c *client) requestSeeing(m msg, what string, pred func(msg) bool) (reply, seen msg) {
	c.t.Helper()
	c.nextN++
	id := fmt.Sprintf("r-%d", c.nextN)
	m["id"] = id
	c.send(m)
	reply = c.waitFor("reply "+id+" or "+what, func(r msg) bool {
		if seen == nil && pred(r) {
			seen = r
			return false
		}
		return r["type"] == "reply" && r["id"] == id
	})
	if seen == nil {
		seen = c.waitFor(what, pred)
	}
	return reply, seen
}

// join joins a room and returns the snapshot that follows the reply.
func (c *client) join(room string) msg {
	c.t.Helper()
	r := c.request(msg{"type": "join", "room": room})
	if r["ok"] != true {
		c.t.Fatalf("join %s: %v", room, r)
	}
	snap := c.next(waitLong)
	if snap["type"] != "snapshot" || snap["room"] != room {
		c.t.Fatalf("after join reply: %v, want the snapshot", snap)
	}
	return snap
}

// lastStock is the stock message with the highest v seen for product.
func (c *client) lastStock(product string) msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stock[product]
}

func (c *client) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// closeStatus waits for the connection to end and returns its close code.
func (c *client) closeStatus() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitLong):
		c.t.Fatalf("connection not closed within %s", waitLong)
	}
	return websocket.CloseStatus(c.closeErr())
}

func errCode(m msg) string {
	if e, ok := m["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	if m["type"] == "error" {
		s, _ := m["code"].(string)
		return s
	}
	return ""
}

// sign makes a token for a node with a secret.
func sign(t testing.TB, secret, sub, role string, ttl time.Duration, rooms ...string) string {
	t.Helper()
	tok, err := auth.Sign(secret, auth.Identity{User: sub, Role: role, Rooms: rooms}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// maxOverloadRetries bounds how often a test client retries a request
// answered overloaded: a node that never recovers fails the test.
const maxOverloadRetries = 10

// retryOverloaded makes a request as the protocol asks a client to: try
// makes one attempt (with the same id every time) and returns its answer;
// while that is overloaded, the next attempt follows after retry_after_ms
// plus jitter, at most maxOverloadRetries times. It returns the final
// answer, and the last answer at all once the retries ran out. Only
// overloaded is retried: every other answer is final, so a test still
// sees unavailable, internal or a transport error as it came.
func retryOverloaded(try func() msg) msg {
	for i := 0; ; i++ {
		m := try()
		if errCode(m) != protocol.CodeOverloaded || i == maxOverloadRetries {
			return m
		}
		wait := 1000.0
		if e, ok := m["error"].(map[string]any); ok {
			if ms, ok := e["retry_after_ms"].(float64); ok && ms > 0 {
				wait = ms
			}
		}
		time.Sleep(time.Duration(wait*(1+rand.Float64()/2)) * time.Millisecond)
	}
}

// requestID sends m with the given id and returns its reply.
func (c *client) requestID(m msg, id string) msg {
	c.t.Helper()
	m["id"] = id
	c.send(m)
	return c.waitFor("reply "+id, func(r msg) bool { return r["type"] == "reply" && r["id"] == id })
}
