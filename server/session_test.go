package server_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/server"
)

// sessionSecret is long enough for a server that refuses short secrets.
const sessionSecret = "session-test-secret-0123456789abcdef"

// expiryLeeway is the clock leeway the server allows past a token's exp
// (auth.Identity.ValidUntil); a test that moves the clock past
// exp+expiryLeeway+1s is past it whatever the second exp was rounded to.
const expiryLeeway = 5 * time.Second

// sessionNode is a node with a secret, the demo room and a manual clock
// standing at the real time (tokens are signed and verified on the real
// clock; the connections' expiry follows the manual one).
func sessionNode(t *testing.T) (*testNode, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Now())
	return startNode(t, server.Config{SeedDemo: true, JWTSecret: sessionSecret, Clock: clk}), clk
}

// pinned is the id of the room's pinned product over HTTP, or "".
func pinned(t *testing.T, n *testNode, room string) string {
	t.Helper()
	var snap map[string]any
	if st := n.do(t, "GET", "/api/rooms/"+room, "", nil, &snap); st != 200 {
		t.Fatalf("GET room: %d %v", st, snap)
	}
	p, _ := snap["pinned"].(map[string]any)
	id, _ := p["id"].(string)
	return id
}

// wantExpired waits for the token_expired error and the 1008 close.
func wantExpired(t *testing.T, c *client) {
	t.Helper()
	m := c.waitFor("token_expired", isType("error"))
	if errCode(m) != "token_expired" || m["message"] == "" {
		t.Fatalf("error %v, want token_expired with a message", m)
	}
	if st := c.closeStatus(); st != websocket.StatusPolicyViolation {
		t.Fatalf("close %v, want 1008", st)
	}
}

// A creator's token stops working at its exp on an open connection: pins
// work before, then the server sends token_expired and closes with 1008.
func TestTokenExpiryClosesConnection(t *testing.T) {
	n, clk := sessionNode(t)
	c := dial(t, n.wsURL(), sign(t, sessionSecret, "cr", "creator", 30*time.Second, "demo"))
	if r := c.request(msg{"type": "pin", "room": "demo", "product": "p1"}); r["ok"] != true {
		t.Fatalf("pin before exp: %v", r)
	}
	clk.Advance(20 * time.Second)
	if r := c.request(msg{"type": "pin", "room": "demo", "product": "p2"}); r["ok"] != true {
		t.Fatalf("pin 20s into a 30s token: %v", r)
	}
	clk.Advance(10*time.Second + expiryLeeway + time.Second)
	wantExpired(t, c)
	if p := pinned(t, n, "demo"); p != "p2" {
		t.Fatalf("pinned %q, want p2", p)
	}
}

// The same with the real clock and a token of one second: the timer fires
// by itself, and not before exp.
func TestTokenExpiryRealClock(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: sessionSecret})
	signed := time.Now()
	c := dial(t, n.wsURL(), sign(t, sessionSecret, "cr", "creator", time.Second, "demo"))
	if r := c.request(msg{"type": "pin", "room": "demo", "product": "p1"}); r["ok"] != true {
		t.Fatalf("pin before exp: %v", r)
	}
	// exp is signed+1s rounded down to the second.
	exp := signed.Add(time.Second).Truncate(time.Second)
	m := c.waitFor("token_expired", isType("error"))
	if at := time.Now(); errCode(m) != "token_expired" || at.Before(exp) {
		t.Fatalf("%v at %v, want token_expired after exp %v", m, at, exp)
	}
	if st := c.closeStatus(); st != websocket.StatusPolicyViolation {
		t.Fatalf("close %v, want 1008", st)
	}
}

// A fresh token of the same sub, sent as auth before exp, extends the
// connection to the new token's exp.
func TestTokenRefreshExtends(t *testing.T) {
	n, clk := sessionNode(t)
	c := dial(t, n.wsURL(), sign(t, sessionSecret, "cr", "creator", 30*time.Second, "demo"))
	clk.Advance(20 * time.Second)
	fresh := sign(t, sessionSecret, "cr", "creator", 120*time.Second, "demo")
	if r := c.request(msg{"type": "auth", "token": fresh}); r["ok"] != true || r["user"] != "cr" || r["role"] != "creator" {
		t.Fatalf("refresh: %v", r)
	}
	clk.Advance(20 * time.Second) // past the first token's exp and leeway
	if r := c.request(msg{"type": "pin", "room": "demo", "product": "p3"}); r["ok"] != true {
		t.Fatalf("pin after the first exp, on the refreshed token: %v", r)
	}
	// A connection that brought no token on the upgrade refreshes the same
	// way after its first auth. (The manual clock is 40s ahead of the real
	// one the tokens are signed on.)
	b := dial(t, n.wsURL(), "")
	if r := b.request(msg{"type": "auth", "token": sign(t, sessionSecret, "v", "viewer", 60*time.Second)}); r["ok"] != true {
		t.Fatalf("first auth: %v", r)
	}
	if r := b.request(msg{"type": "auth", "token": sign(t, sessionSecret, "v", "viewer", 300*time.Second)}); r["ok"] != true {
		t.Fatalf("refresh after auth: %v", r)
	}
	clk.Advance(90 * time.Second) // 130s: past the fresh token's exp and leeway
	wantExpired(t, c)
	b.join("demo") // b's first token expired, its refreshed one runs for 300s
	if p := pinned(t, n, "demo"); p != "p3" {
		t.Fatalf("pinned %q, want p3", p)
	}
}

// A refresh with another sub is forbidden, and one with a bad token is
// unauthorized; either way the connection keeps its identity, which still
// expires at its own exp.
func TestTokenRefreshRefused(t *testing.T) {
	n, clk := sessionNode(t)
	admin := sign(t, sessionSecret, "ad", "admin", time.Hour)
	n.putRoom(t, admin, "other", 1)
	c := dial(t, n.wsURL(), sign(t, sessionSecret, "cr", "creator", 30*time.Second, "demo"))
	if r := c.request(msg{"type": "auth", "token": admin}); errCode(r) != "forbidden" {
		t.Fatalf("refresh with another sub: %v, want forbidden", r)
	}
	if r := c.request(msg{"type": "auth", "token": sign(t, "another-secret-0123456789abcdefghij", "cr", "admin", time.Hour)}); errCode(r) != "unauthorized" {
		t.Fatalf("refresh with a bad token: %v, want unauthorized", r)
	}
	// Still cr: creator of demo, not an admin of other.
	if r := c.request(msg{"type": "pin", "room": "other", "product": "p1"}); errCode(r) != "forbidden" {
		t.Fatalf("pin in other after refused refreshes: %v, want forbidden", r)
	}
	if r := c.request(msg{"type": "pin", "room": "demo", "product": "p1"}); r["ok"] != true {
		t.Fatalf("pin in demo after refused refreshes: %v", r)
	}
	clk.Advance(30*time.Second + expiryLeeway + time.Second)
	wantExpired(t, c)
	if p := pinned(t, n, "other"); p != "" {
		t.Fatalf("other pinned %q", p)
	}
}

// lateTimers is a clock whose timers run late: its Now runs ahead of the
// manual clock that fires its timers, as the real time runs ahead of a
// timer on a loaded machine.
type lateTimers struct {
	*clock.Fake
	ahead atomic.Int64 // nanoseconds
}

func (c *lateTimers) Now() time.Time { return c.Fake.Now().Add(time.Duration(c.ahead.Load())) }

// Nothing a client sends after exp takes effect, even when the expiry
// timer has not fired yet: neither a creator action nor a refresh.
func TestMessageAfterExpiryHasNoEffect(t *testing.T) {
	clk := &lateTimers{Fake: clock.NewFake(time.Now())}
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: sessionSecret, Clock: clk})
	c := dial(t, n.wsURL(), sign(t, sessionSecret, "cr", "creator", 30*time.Second, "demo"))
	r := dial(t, n.wsURL(), sign(t, sessionSecret, "cr", "creator", 30*time.Second, "demo"))
	if r := c.request(msg{"type": "pin", "room": "demo", "product": "p1"}); r["ok"] != true {
		t.Fatalf("pin before exp: %v", r)
	}
	clk.ahead.Store(int64(30*time.Second + expiryLeeway + time.Second)) // no timer fires
	c.send(msg{"type": "pin", "id": "late", "room": "demo", "product": "p4"})
	r.send(msg{"type": "auth", "id": "late-auth", "token": sign(t, sessionSecret, "cr", "creator", time.Hour, "demo")})
	for _, cl := range []*client{c, r} {
		wantExpired(t, cl)
		for len(cl.msgs) > 0 {
			if m := <-cl.msgs; m["type"] == "reply" {
				t.Fatalf("a message sent after exp was answered: %v", m)
			}
		}
	}
	if p := pinned(t, n, "demo"); p != "p1" {
		t.Fatalf("pinned %q after a pin sent past exp, want p1", p)
	}
}

// Anonymous development-mode viewers have no exp.
func TestAnonymousViewerDoesNotExpire(t *testing.T) {
	clk := clock.NewFake(time.Now())
	n := startNode(t, server.Config{SeedDemo: true, Clock: clk})
	c := dial(t, n.wsURL(), "")
	c.join("demo")
	clk.Advance(48 * time.Hour)
	c.send(msg{"type": "ping", "id": "still"})
	if m := c.waitFor("pong", isType("pong")); m["id"] != "still" {
		t.Fatalf("ping after two days: %v", m)
	}
}

// Frames that fail to decode (bad JSON, unknown type, binary) count against
// the message rate limit like any other, and flooding with them closes the
// connection.
func TestRateLimitBeforeDecoding(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, MsgRate: 5, MsgBurst: 5})
	frames := map[string]func(c *client) error{
		"bad JSON":     func(c *client) error { return c.sendRaw([]byte(`{"type":`)) },
		"unknown type": func(c *client) error { return c.sendRaw([]byte(`{"type":"dance","id":"d"}`)) },
		"binary": func(c *client) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return c.ws.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping","id":"b"}`))
		},
	}
	for name, send := range frames {
		t.Run(name, func(t *testing.T) {
			c := dial(t, n.wsURL(), "")
			for range 8 {
				if err := send(c); err != nil {
					t.Fatal(err)
				}
			}
			limited := 0
			for range 8 {
				m := c.next(waitLong)
				switch errCode(m) {
				case "rate_limited":
					limited++
				case "bad_request":
				default:
					t.Fatalf("answer %v", m)
				}
			}
			if limited < 2 {
				t.Fatalf("%d of 8 rapid frames rate_limited with burst 5", limited)
			}
			for range 20 {
				if send(c) != nil {
					break
				}
			}
			if st := c.closeStatus(); st != websocket.StatusPolicyViolation {
				t.Fatalf("flooding: close %v, want 1008", st)
			}
		})
	}
	// A refused message with a readable id still gets its one reply.
	c := dial(t, n.wsURL(), "")
	for i := range 6 {
		c.sendRaw([]byte(fmt.Sprintf(`{"type":"dance","id":"x%d"}`, i)))
	}
	for i := range 6 {
		m := c.next(waitLong)
		if m["type"] != "reply" || m["id"] != fmt.Sprintf("x%d", i) {
			t.Fatalf("answer %d: %v, want its reply", i, m)
		}
		if i == 5 && errCode(m) != "rate_limited" {
			t.Fatalf("sixth message with burst 5: %v, want rate_limited", m)
		}
	}
}

// ?token= is accepted on GET /ws only: an HTTP API call with only a query
// token is 401, with or without a secret.
func TestQueryTokenOnlyOnWS(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: sessionSecret})
	admin := sign(t, sessionSecret, "ad", "admin", time.Hour)
	get := func(path string, header bool) int {
		req, _ := http.NewRequest("GET", n.url+path, nil)
		if header {
			req.Header.Set("Authorization", "Bearer "+admin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get("/api/rooms/demo/orders", true); st != 200 {
		t.Fatalf("orders with the header: %d", st)
	}
	if st := get("/api/rooms/demo/orders?token="+admin, false); st != 401 {
		t.Fatalf("orders with a query token: %d, want 401", st)
	}
	var out map[string]any
	if st := n.do(t, "POST", "/api/rooms/demo/purchases?token="+admin, "", msg{"id": "q1", "product": "p1"}, &out); st != 401 || errCode(out) != "unauthorized" {
		t.Fatalf("purchase with a query token: %d %v, want 401 unauthorized", st, out)
	}
	if st := n.do(t, "PUT", "/api/rooms/q?token="+admin, "", msg{"title": "q", "products": []msg{}}, nil); st != 401 {
		t.Fatalf("PUT with a query token: %d, want 401", st)
	}
	// The upgrade takes it: the connection joins without an auth message.
	dial(t, n.wsURL()+"?token="+admin, "").join("demo")

	// In development mode a query token is not silently dropped for an
	// anonymous identity either.
	dev := startNode(t, server.Config{SeedDemo: true})
	tok := dev.token(t, "cr", "creator", "demo")
	if st := dev.do(t, "POST", "/api/rooms/demo/pin?token="+tok, "", msg{"product": "p1"}, nil); st != 401 {
		t.Fatalf("dev mode pin with a query token: %d, want 401", st)
	}
	if st := dev.do(t, "POST", "/api/rooms/demo/pin", tok, msg{"product": "p1"}, nil); st != 200 {
		t.Fatalf("dev mode pin with the header: %d", st)
	}
}

// Titles and names with control or bidi-override characters, and images
// that are not https: or a path on this server, are bad_request; the demo
// room (seeded) and ordinary catalogs still pass.
func TestRoomTextAndImagePolicy(t *testing.T) {
	t.Run("memory", func(t *testing.T) { roomPolicy(t, server.Config{SeedDemo: true}) })
	t.Run("redis", func(t *testing.T) { roomPolicy(t, server.Config{SeedDemo: true, RedisURL: redistest.Start(t).URL()}) })
}

func roomPolicy(t *testing.T, cfg server.Config) {
	n := startNode(t, cfg)
	admin := n.token(t, "ad", "admin")
	if p := pinned(t, n, "demo"); p != "" {
		t.Fatalf("demo seeded with a pin %q", p)
	}
	room := func(title, name, image string) msg {
		return msg{"title": title, "products": []msg{{"id": "p1", "name": name, "price": 100, "currency": "USD", "image": image, "stock": 1}}}
	}
	bad := map[string]msg{
		"javascript image":  room("Drop", "Tote", "javascript:alert(document.cookie)"),
		"data image":        room("Drop", "Tote", "data:text/html,<script>alert(1)</script>"),
		"protocol-relative": room("Drop", "Tote", "//evil.example/x.png"),
		"http image":        room("Drop", "Tote", "http://cdn.example.com/x.png"),
		"RLO in name":       room("Drop", "Tote \u202egpj.exe", "/x.svg"),
		"isolate in name":   room("Drop", "\u2066Tote", "/x.svg"),
		"newline in name":   room("Drop", "Tote\nFREE at evil.example", "/x.svg"),
		"control in title":  room("Drop\x1b[2J", "Tote", "/x.svg"),
		"bidi in title":     room("Drop \u202d", "Tote", "/x.svg"),
	}
	for name, body := range bad {
		var out map[string]any
		if st := n.do(t, "PUT", "/api/rooms/bad", admin, body, &out); st != 400 || errCode(out) != "bad_request" {
			t.Errorf("%s: %d %v, want 400 bad_request", name, st, out)
		}
	}
	var out map[string]any
	if st := n.do(t, "GET", "/api/rooms/bad", "", nil, &out); st != 404 {
		t.Fatalf("a refused room exists: %d %v", st, out)
	}
	for i, body := range []msg{
		room("Spring drop — live", "Café tote 👜", "https://cdn.example.com/tote.png"),
		room("تخفيضات", "東京 Tote", "/demo/img/tote.svg"),
		room("No image", "Tote", ""),
	} {
		if st := n.do(t, "PUT", "/api/rooms/good", admin, body, &out); st != 200 && st != 201 {
			t.Fatalf("good catalog %d: %d %v", i, st, out)
		}
	}
}

// A text frame that is not UTF-8 closes the connection with 1007 (RFC
// 6455, 8.1); the node goes on serving others.
func TestInvalidUTF8Closes1007(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	for name, raw := range map[string]string{
		"in a string": "{\"type\":\"ping\",\"id\":\"\xff\"}",
		"truncated":   "{\"type\":\"ping\",\"id\":\"\xe2\x82\"}",
		"surrogate":   "{\"type\":\"join\",\"id\":\"j\",\"room\":\"demo\",\"x\":\"\xed\xa0\x80\"}",
		"overlong":    "{\"type\":\"ping\",\"id\":\"\xc0\xaf\"}",
	} {
		c := dial(t, n.wsURL(), "")
		if err := c.sendRaw([]byte(raw)); err != nil {
			t.Fatalf("%s: write: %v", name, err)
		}
		if st := c.closeStatus(); st != websocket.StatusInvalidFramePayloadData {
			t.Errorf("%s: close %v, want 1007", name, st)
		}
		for {
			select {
			case m := <-c.msgs:
				if m["type"] == "pong" || m["type"] == "reply" || m["type"] == "snapshot" {
					t.Errorf("%s: answered %v", name, m)
				}
				continue
			default:
			}
			break
		}
	}
	dial(t, n.wsURL(), "").join("demo")
}
