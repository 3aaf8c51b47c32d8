package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

const limitsSecret = "limits-test-secret-0123456789abcdef"

// dialWith opens a WebSocket with extra upgrade headers. It returns the
// connection, or the refusal's status and decoded error body.
func dialWith(t *testing.T, url string, h http.Header) (*client, int, map[string]any, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		var body struct {
			Error map[string]any `json:"error"`
		}
		data, _ := io.ReadAll(resp.Body)
		json.Unmarshal(data, &body)
		return nil, resp.StatusCode, body.Error, resp.Header
	}
	cl := &client{t: t, ws: ws, msgs: make(chan msg, 1000), done: make(chan struct{}), stock: map[string]msg{}}
	go cl.read()
	t.Cleanup(func() {
		ws.CloseNow()
		<-cl.done
	})
	return cl, 0, nil, nil
}

func xff(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// wantRateLimited checks a refusal at a per-client cap: 429 rate_limited
// with retry_after_ms and Retry-After.
func wantRateLimited(t *testing.T, what string, status int, e map[string]any, h http.Header) {
	t.Helper()
	if status != http.StatusTooManyRequests || e["code"] != "rate_limited" {
		t.Fatalf("%s: status %d, error %v; want 429 rate_limited", what, status, e)
	}
	if ms, _ := e["retry_after_ms"].(float64); ms <= 0 {
		t.Fatalf("%s: retry_after_ms %v, want > 0", what, e["retry_after_ms"])
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("%s: Retry-After %q, want whole seconds >= 1", what, h.Get("Retry-After"))
	}
}

// One address holds at most -max-conns-per-ip connections; the next is
// refused with 429 until one closes. X-Forwarded-For from a peer that is
// not a trusted proxy changes nothing.
func TestConnCapPerIP(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, MaxConnsPerIP: 2})
	a, _, _, _ := dialWith(t, n.wsURL(), nil)
	dialWith(t, n.wsURL(), nil)
	_, st, e, h := dialWith(t, n.wsURL(), nil)
	wantRateLimited(t, "third connection from one address", st, e, h)
	_, st, e, h = dialWith(t, n.wsURL(), xff("203.0.113.7"))
	wantRateLimited(t, "X-Forwarded-For without -trusted-proxies", st, e, h)
	a.ws.Close(websocket.StatusNormalClosure, "")
	testutil.Eventually(t, "a slot frees when a connection closes", func() bool {
		c, _, _, _ := dialWith(t, n.wsURL(), nil)
		return c != nil
	})
}

// Behind a trusted proxy, the client is the right-most address of
// X-Forwarded-For that is not a trusted proxy; what the client itself
// wrote to the left of it is not believed. IPv6 addresses count by /64.
func TestConnCapTrustedProxy(t *testing.T) {
	proxies, err := server.ParseTrustedProxies("127.0.0.1, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, server.Config{SeedDemo: true, MaxConnsPerIP: 1, TrustedProxies: proxies})
	if c, _, _, _ := dialWith(t, n.wsURL(), xff("203.0.113.1")); c == nil {
		t.Fatal("first client behind the proxy refused")
	}
	if c, _, _, _ := dialWith(t, n.wsURL(), xff("203.0.113.2")); c == nil {
		t.Fatal("another client behind the proxy refused: the proxy's address was counted")
	}
	_, st, e, h := dialWith(t, n.wsURL(), xff("198.51.100.9, 203.0.113.1, 10.1.2.3"))
	wantRateLimited(t, "a spoofed left-most address, then the real client and a trusted hop", st, e, h)
	if c, _, _, _ := dialWith(t, n.wsURL(), xff("2001:db8:1:2::1")); c == nil {
		t.Fatal("IPv6 client refused")
	}
	_, st, e, h = dialWith(t, n.wsURL(), xff("2001:db8:1:2::99"))
	wantRateLimited(t, "a second address of the same IPv6 /64", st, e, h)
	if _, err := server.ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
	if p, err := server.ParseTrustedProxies(" ::ffff:10.0.0.1 "); err != nil || p[0] != netip.MustParsePrefix("10.0.0.1/32") {
		t.Fatalf("a mapped address: %v %v", p, err)
	}
}

// A user holds at most -max-conns-per-user connections: a further upgrade
// with a token is refused with 429; a connection that authenticates as that
// user with an auth message gets the error and a 1013 close.
func TestConnCapPerUser(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: limitsSecret, MaxConnsPerUser: 2})
	alice := sign(t, limitsSecret, "alice", "viewer", time.Hour)
	a, _, _, _ := dialWith(t, n.wsURL(), bearer(alice))
	dialWith(t, n.wsURL(), bearer(alice))
	_, st, e, h := dialWith(t, n.wsURL(), bearer(alice))
	wantRateLimited(t, "third connection of one user", st, e, h)
	if c, _, _, _ := dialWith(t, n.wsURL(), bearer(sign(t, limitsSecret, "bob", "viewer", time.Hour))); c == nil {
		t.Fatal("another user refused")
	}
	late, _, _, _ := dialWith(t, n.wsURL(), nil)
	r := late.request(msg{"type": "auth", "token": alice})
	if r["ok"] != false || errCode(r) != "rate_limited" {
		t.Fatalf("auth over the user's cap: %v, want a rate_limited reply", r)
	}
	if code := late.closeStatus(); code != websocket.StatusTryAgainLater {
		t.Fatalf("close %d, want 1013", code)
	}
	a.ws.Close(websocket.StatusNormalClosure, "")
	testutil.Eventually(t, "the user's slot frees", func() bool {
		c, _, _, _ := dialWith(t, n.wsURL(), bearer(alice))
		return c != nil
	})
}

// At most -max-unauthenticated connections may wait for an auth message;
// past them a tokenless upgrade is refused (503), while a connection with
// its token on the upgrade is not affected. A successful auth frees the
// waiting slot.
func TestUnauthenticatedBudget(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: limitsSecret, MaxUnauthenticated: 2})
	a, _, _, _ := dialWith(t, n.wsURL(), nil)
	dialWith(t, n.wsURL(), nil)
	_, st, e, _ := dialWith(t, n.wsURL(), nil)
	if st != http.StatusServiceUnavailable || e["code"] != "unavailable" {
		t.Fatalf("third waiting connection: %d %v, want 503 unavailable", st, e)
	}
	tok := sign(t, limitsSecret, "carol", "viewer", time.Hour)
	if c, _, _, _ := dialWith(t, n.wsURL(), bearer(tok)); c == nil {
		t.Fatal("a connection with a token was refused by the unauthenticated budget")
	}
	if r := a.request(msg{"type": "auth", "token": tok}); r["ok"] != true {
		t.Fatalf("auth: %v", r)
	}
	if c, _, _, _ := dialWith(t, n.wsURL(), nil); c == nil {
		t.Fatal("the slot of a connection that authenticated was not freed")
	}
}

// rawWS is a WebSocket client that does only what a test tells it to: it
// never answers a close frame.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, httpURL string) *rawWS {
	t.Helper()
	addr := strings.TrimPrefix(httpURL, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req, _ := http.NewRequest("GET", "http://"+addr+"/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	conn.SetDeadline(time.Time{})
	return &rawWS{conn: conn, br: br}
}

// frame reads one unmasked server frame.
func (r *rawWS) frame() (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r.br, payload)
	return h[0] & 0x0f, payload, err
}

// A connection that never authenticates gets its error and a 1008 close at
// the auth timeout, and its socket is dropped then: the server does not
// wait for a silent client to answer the close (which took 5 s more, and
// kept the slot meanwhile).
func TestAuthTimeoutDropsSilentClient(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: limitsSecret, AuthTimeout: 300 * time.Millisecond, MaxUnauthenticated: 1})
	raw := dialRaw(t, n.url)
	raw.conn.SetReadDeadline(time.Now().Add(waitLong))
	op, p, err := raw.frame()
	if err != nil || op != 1 || !strings.Contains(string(p), `"code":"unauthorized"`) {
		t.Fatalf("first frame: op %d %q %v, want the unauthorized error", op, p, err)
	}
	op, p, err = raw.frame()
	if err != nil || op != 8 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1008 {
		t.Fatalf("second frame: op %d %q %v, want a 1008 close", op, p, err)
	}
	// The handshake Close would wait 5 s for the client's close frame.
	raw.conn.SetReadDeadline(time.Now().Add(4 * time.Second))
	_, err = raw.br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the socket open waiting for the client to answer its close")
	}
	if err == nil {
		t.Fatal("more data after the close frame")
	}
	testutil.Eventually(t, "the waiting slot is free again", func() bool {
		c, _, _, _ := dialWith(t, n.wsURL(), nil)
		return c != nil
	})
}

// The HTTP API is rate-limited per address: over the rate a call gets 429
// rate_limited with retry_after_ms and Retry-After, before its token is
// even looked at. Health checks and the demo pages are not limited; behind
// a trusted proxy each client has its own budget.
func TestHTTPRateLimitPerIP(t *testing.T) {
	proxies, _ := server.ParseTrustedProxies("127.0.0.1")
	// 0.1/s: a burst of 1, refilled in 10 s, longer than any test step.
	n := startNode(t, server.Config{SeedDemo: true, HTTPRatePerIP: 0.1, TrustedProxies: proxies})
	get := func(path, fwd string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest("GET", n.url+path, nil)
		if fwd != "" {
			req.Header.Set("X-Forwarded-For", fwd)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error map[string]any `json:"error"`
		}
		data, _ := io.ReadAll(resp.Body)
		json.Unmarshal(data, &body)
		return resp.StatusCode, body.Error, resp.Header
	}
	if st, e, _ := get("/api/rooms/demo", "203.0.113.1"); st != 200 {
		t.Fatalf("first call: %d %v", st, e)
	}
	st, e, h := get("/api/rooms/demo", "203.0.113.1")
	wantRateLimited(t, "second call", st, e, h)
	if ms := e["retry_after_ms"].(float64); ms > 10000 {
		t.Fatalf("retry_after_ms %v, want at most 10 s at 0.1 request/s", ms)
	}
	if s, _ := strconv.Atoi(h.Get("Retry-After")); s > 10 {
		t.Fatalf("Retry-After %d, want at most 10 s", s)
	}
	st, e, h = get("/dev/token", "203.0.113.1")
	wantRateLimited(t, "POST /dev/token over the rate", st, e, h)
	if st, _, _ := get("/healthz", "203.0.113.1"); st != 200 {
		t.Fatalf("/healthz: %d, want 200 (not limited)", st)
	}
	if st, _, _ := get("/api/rooms/demo", "203.0.113.2"); st != 200 {
		t.Fatalf("another client behind the proxy: %d, want 200", st)
	}
}

// The HTTP API is rate-limited per user as well, whatever address the
// calls come from.
func TestHTTPRateLimitPerUser(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: limitsSecret, HTTPRatePerUser: 0.1}) // a burst of 1
	alice := sign(t, limitsSecret, "alice", "viewer", time.Hour)
	bob := sign(t, limitsSecret, "bob", "viewer", time.Hour)
	buy := func(tok, id string) (int, map[string]any) {
		var out map[string]any
		st := n.do(t, "POST", "/api/rooms/demo/purchases", tok, map[string]any{"id": id, "product": "p1"}, &out)
		return st, out
	}
	if st, out := buy(alice, "1"); st != 200 {
		t.Fatalf("first purchase: %d %v", st, out)
	}
	st, out := buy(alice, "2")
	e, _ := out["error"].(map[string]any)
	if st != http.StatusTooManyRequests || e["code"] != "rate_limited" || e["retry_after_ms"] == nil {
		t.Fatalf("second purchase: %d %v, want 429 rate_limited with retry_after_ms", st, out)
	}
	if st, out := buy(bob, "0"); st != 200 {
		t.Fatalf("another user: %d %v", st, out)
	}
}

// With no limit flags at all the HTTP API is still limited per address
// (nothing an operator leaves out opens the node).
func TestHTTPRateLimitOnByDefault(t *testing.T) {
	srv, err := server.New(server.Config{SeedDemo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	n := &testNode{srv: srv}
	ts := newHTTPServer(t, srv.Handler())
	n.url = ts
	limited := false
	for range 200 {
		if st := n.do(t, "GET", "/api/rooms/demo", "", nil, nil); st == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("200 calls from one address in a burst, none limited by the default")
	}
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
