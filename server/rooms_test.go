package server_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// A viewer gets the snapshot first, then every later event in seq order.
func TestSnapshotThenOrderedEvents(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	creator := dial(t, n.wsURL(), n.token(t, "cr", "creator", "demo"))
	viewer := dial(t, n.wsURL(), "")
	snap := viewer.join("demo")
	if snap["seq"].(float64) != 0 || snap["pinned"] != nil || len(snap["products"].([]any)) != 5 || snap["title"] == "" {
		t.Fatalf("snapshot %v", snap)
	}
	if snap["ts"].(float64) < float64(time.Now().Add(-time.Minute).UnixMilli()) {
		t.Fatalf("snapshot ts %v is not the server's clock in ms", snap["ts"])
	}
	for _, p := range []string{"p2", "p3"} {
		if r := creator.request(msg{"type": "pin", "room": "demo", "product": p}); r["ok"] != true {
			t.Fatalf("pin: %v", r)
		}
	}
	if r := creator.request(msg{"type": "unpin", "room": "demo"}); r["ok"] != true {
		t.Fatalf("unpin: %v", r)
	}
	for i, want := range []string{"pinned p2", "pinned p3", "unpinned"} {
		m := viewer.waitFor("event", func(m msg) bool { return m["seq"] != nil })
		got := m["type"].(string)
		if p, ok := m["product"].(map[string]any); ok {
			got += " " + p["id"].(string)
			if p["name"] == nil || p["price"] == nil || p["remaining"] == nil || p["v"] == nil {
				t.Fatalf("pinned product is not the whole product: %v", p)
			}
		}
		if got != want || m["seq"].(float64) != float64(i+1) || m["room"] != "demo" || m["ts"] == nil {
			t.Fatalf("event %d = %v, want %s with seq %d", i, m, want, i+1)
		}
	}
}

// 200 rapid pins reach 20 viewers with consecutive seq.
func TestRapidPinsConsecutiveSeq(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	creator := dial(t, n.wsURL(), n.token(t, "cr", "creator", "demo"))
	viewers := make([]*client, 20)
	for i := range viewers {
		viewers[i] = dial(t, n.wsURL(), "")
		viewers[i].join("demo")
	}
	for i := range 200 {
		creator.send(msg{"type": "pin", "id": fmt.Sprint("p", i), "room": "demo", "product": fmt.Sprintf("p%d", i%5+1)})
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(viewers))
	for vi, v := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.After(waitLong)
			for want := 1; want <= 200; {
				select {
				case m := <-v.msgs:
					if m["type"] != "pinned" {
						continue
					}
					if seq := int(m["seq"].(float64)); seq != want {
						errs <- fmt.Sprintf("viewer %d: seq %d, want %d", vi, seq, want)
						return
					}
					if id := m["product"].(map[string]any)["id"]; id != fmt.Sprintf("p%d", (want-1)%5+1) {
						errs <- fmt.Sprintf("viewer %d: seq %d pinned %v", vi, want, id)
						return
					}
					want++
				case <-deadline:
					errs <- fmt.Sprintf("viewer %d: stuck before seq %d", vi, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// join with since replays what the room still holds, else sends a snapshot.
func TestResumeWithSince(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	creator := dial(t, n.wsURL(), n.token(t, "cr", "creator", "demo"))
	for i := range 5 {
		creator.request(msg{"type": "pin", "room": "demo", "product": fmt.Sprintf("p%d", i+1)})
	}
	v := dial(t, n.wsURL(), "")
	r := v.request(msg{"type": "join", "room": "demo", "since": 2})
	if r["ok"] != true {
		t.Fatal(r)
	}
	for want := 3; want <= 5; want++ {
		m := v.next(waitLong)
		if m["type"] != "pinned" || int(m["seq"].(float64)) != want {
			t.Fatalf("replay: %v, want pinned seq %d", m, want)
		}
	}
	// The replay is followed by the current stock of every product.
	for i := range 5 {
		if m := v.next(waitLong); m["type"] != "stock" || m["product"] != fmt.Sprintf("p%d", i+1) || m["v"] == nil || m["remaining"] == nil {
			t.Fatalf("after the replay: %v, want the stock of p%d", m, i+1)
		}
	}
	// Up to date: nothing to replay, then live events.
	v2 := dial(t, n.wsURL(), "")
	if r := v2.request(msg{"type": "join", "room": "demo", "since": 5}); r["ok"] != true {
		t.Fatal(r)
	}
	creator.request(msg{"type": "unpin", "room": "demo"})
	if m := v2.waitFor("unpinned", isType("unpinned")); m["seq"].(float64) != 6 {
		t.Fatalf("after an up-to-date join: %v, want unpinned seq 6", m)
	}
	// Ahead of the room: a snapshot.
	v3 := dial(t, n.wsURL(), "")
	v3.request(msg{"type": "join", "room": "demo", "since": 99})
	if m := v3.next(waitLong); m["type"] != "snapshot" || m["seq"].(float64) != 6 {
		t.Fatalf("since ahead: %v, want snapshot at seq 6", m)
	}
	// Older than the history holds (1024 events): a snapshot.
	for i := range 1100 {
		creator.send(msg{"type": "pin", "id": fmt.Sprint("x", i), "room": "demo", "product": "p1"})
	}
	creator.waitFor("last reply", func(m msg) bool { return m["id"] == "x1099" })
	v4 := dial(t, n.wsURL(), "")
	v4.request(msg{"type": "join", "room": "demo", "since": 3})
	if m := v4.next(waitLong); m["type"] != "snapshot" || m["seq"].(float64) != 1106 {
		t.Fatalf("since older than history: %v, want snapshot at 1106", m["type"])
	}
}

// Creators pin over HTTP and WebSocket alike; viewers and other rooms'
// creators are forbidden and nothing is broadcast.
func TestPinPermissions(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	admin := n.token(t, "ad", "admin")
	n.putRoom(t, admin, "other", 1)
	viewer := dial(t, n.wsURL(), "")
	viewer.join("demo")

	if st := n.do(t, "POST", "/api/rooms/demo/pin", n.token(t, "cr", "creator", "demo"), msg{"product": "p4"}, nil); st != 200 {
		t.Fatalf("HTTP pin: %d", st)
	}
	if m := viewer.nextEvent(waitLong); m["type"] != "pinned" || m["product"].(map[string]any)["id"] != "p4" {
		t.Fatalf("after HTTP pin: %v", m)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if st := n.do(t, "POST", "/api/rooms/demo/pin", n.token(t, "v", "viewer"), msg{"product": "p1"}, &e); st != 403 || e.Error.Code != "forbidden" {
		t.Fatalf("viewer HTTP pin: %d %+v", st, e)
	}
	if st := n.do(t, "POST", "/api/rooms/demo/pin", n.token(t, "c2", "creator", "other"), msg{"product": "p1"}, &e); st != 403 || e.Error.Code != "forbidden" {
		t.Fatalf("other creator HTTP pin: %d %+v", st, e)
	}
	for _, tok := range []string{"", n.token(t, "v", "viewer"), n.token(t, "c2", "creator", "other")} {
		c := dial(t, n.wsURL(), tok)
		if r := c.request(msg{"type": "pin", "room": "demo", "product": "p1"}); r["ok"] != false || errCode(r) != "forbidden" {
			t.Fatalf("WS pin by %q: %v", tok, r)
		}
		if r := c.request(msg{"type": "sale_start", "room": "demo", "product": "p1", "price": 1, "quantity": 1, "per_user_limit": 1, "duration_ms": 1000}); errCode(r) != "forbidden" {
			t.Fatalf("WS sale_start by %q: %v", tok, r)
		}
	}
	if st := n.do(t, "DELETE", "/api/rooms/demo/pin", admin, nil, nil); st != 200 {
		t.Fatalf("admin unpin: %d", st)
	}
	// The next event the viewer sees is the admin's unpin: nothing was
	// broadcast for the refused pins.
	if m := viewer.nextEvent(waitLong); m["type"] != "unpinned" || m["seq"].(float64) != 2 {
		t.Fatalf("after refused pins: %v, want unpinned seq 2", m)
	}
	if st := n.do(t, "POST", "/api/rooms/demo/pin", admin, msg{"product": "nope"}, &e); st != 404 || e.Error.Code != "not_found" {
		t.Fatalf("pin unknown product: %d %+v", st, e)
	}
}

// With a secret, bad tokens are refused before the upgrade (401) or after
// an auth message (1008), and unauthenticated connections must auth.
func TestAuthRefusals(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret-s3cret-s3cret"
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: secret, AuthTimeout: 500 * time.Millisecond})
	good := sign(t, secret, "alice", "viewer", time.Hour)
	bad := map[string]string{
		"expired":       sign(t, secret, "alice", "viewer", -time.Hour),
		"bad signature": sign(t, "other", "alice", "viewer", time.Hour),
		"wrong alg":     "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.",
		"garbage":       "not-a-jwt",
	}
	for name, tok := range bad {
		_, resp, err := tryDial(n.wsURL(), tok)
		if err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("%s: upgrade err %v, status %v; want 401", name, err, resp)
		}
		c := dial(t, n.wsURL(), "")
		c.send(msg{"type": "auth", "id": "a", "token": tok})
		if r := c.next(waitLong); errCode(r) != "unauthorized" || r["id"] != "a" {
			t.Errorf("%s: auth reply %v", name, r)
		}
		if st := c.closeStatus(); st != websocket.StatusPolicyViolation {
			t.Errorf("%s: close %v, want 1008", name, st)
		}
	}
	if st := n.do(t, "POST", "/dev/token", "", msg{"sub": "x"}, nil); st != 404 {
		t.Errorf("/dev/token with a secret: %d, want 404", st)
	}
	if st := n.do(t, "POST", "/api/rooms/demo/purchases", "", msg{"id": "1", "product": "p1"}, nil); st != 401 {
		t.Errorf("HTTP purchase without token: %d, want 401", st)
	}
	// No token: everything but auth and ping is unauthorized, then auth works.
	c := dial(t, n.wsURL(), "")
	if r := c.request(msg{"type": "join", "room": "demo"}); errCode(r) != "unauthorized" {
		t.Fatalf("join before auth: %v", r)
	}
	c.send(msg{"type": "ping", "id": "pp"})
	if m := c.next(waitLong); m["type"] != "pong" || m["id"] != "pp" {
		t.Fatalf("ping before auth: %v", m)
	}
	if r := c.request(msg{"type": "auth", "token": good}); r["ok"] != true || r["user"] != "alice" {
		t.Fatalf("auth: %v", r)
	}
	c.join("demo")
	// A bearer token on the upgrade needs no auth message.
	dial(t, n.wsURL(), good).join("demo")
	// Silence past the auth timeout closes with 1008.
	idle := dial(t, n.wsURL(), "")
	if st := idle.closeStatus(); st != websocket.StatusPolicyViolation {
		t.Fatalf("no auth: close %v, want 1008", st)
	}
}

// Each kind of bad input gets a clear error and the connection stays.
func TestBadInputKeepsConnection(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, MaxRoomsPerConn: 2})
	c := dial(t, n.wsURL(), n.token(t, "cr", "creator", "demo"))
	cases := []struct {
		name, raw, code string
		reply           bool
	}{
		{"not JSON", `{"type":`, "bad_request", false},
		{"not an object", `[1,2]`, "bad_request", false},
		{"no type", `{"id":"a"}`, "bad_request", true},
		{"unknown type", `{"type":"dance","id":"b"}`, "bad_request", true},
		{"numeric id", `{"type":"join","id":5,"room":"demo"}`, "bad_request", false},
		{"long id", `{"type":"join","id":"` + strings.Repeat("x", 65) + `","room":"demo"}`, "bad_request", false},
		{"join without room", `{"type":"join","id":"c"}`, "bad_request", true},
		{"invalid room id", `{"type":"join","id":"d","room":"no spaces"}`, "bad_request", true},
		{"unknown room", `{"type":"join","id":"e","room":"nope"}`, "not_found", true},
		{"negative since", `{"type":"join","id":"f","room":"demo","since":-1}`, "bad_request", true},
		{"pin without product", `{"type":"pin","id":"g","room":"demo"}`, "bad_request", true},
		{"pin without id", `{"type":"pin","room":"demo","product":"p1"}`, "bad_request", false},
		{"buy qty zero", `{"type":"buy","id":"h","room":"demo","product":"p1","qty":0}`, "bad_request", true},
		{"buy qty negative", `{"type":"buy","id":"i","room":"demo","product":"p1","qty":-2}`, "bad_request", true},
		{"buy qty huge", `{"type":"buy","id":"j","room":"demo","product":"p1","qty":100000000000000000000}`, "bad_request", true},
		{"buy qty fraction", `{"type":"buy","id":"k","room":"demo","product":"p1","qty":1.5}`, "bad_request", true},
		{"buy unknown product", `{"type":"buy","id":"l","room":"demo","product":"p9"}`, "not_found", true},
		{"buy without id", `{"type":"buy","room":"demo","product":"p1"}`, "bad_request", false},
		{"sale zero duration", `{"type":"sale_start","id":"m","room":"demo","product":"p1","price":1,"quantity":1,"per_user_limit":1,"duration_ms":0}`, "bad_request", true},
		{"sale negative price", `{"type":"sale_start","id":"n","room":"demo","product":"p1","price":-1,"quantity":1,"per_user_limit":1,"duration_ms":1000}`, "bad_request", true},
		{"sale_stop without sale", `{"type":"sale_stop","id":"o","room":"demo"}`, "not_found", true},
	}
	for _, tc := range cases {
		if err := c.sendRaw([]byte(tc.raw)); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		m := c.next(waitLong)
		wantType := "error"
		if tc.reply {
			wantType = "reply"
		}
		if m["type"] != wantType || errCode(m) != tc.code {
			t.Errorf("%s: got %v, want %s %s", tc.name, m, wantType, tc.code)
		}
		if tc.reply && m["ok"] != false {
			t.Errorf("%s: reply without ok:false: %v", tc.name, m)
		}
	}
	// too_many_rooms, with a second room to join.
	n.putRoom(t, n.token(t, "ad", "admin"), "r2", 1)
	n.putRoom(t, n.token(t, "ad", "admin"), "r3", 1)
	c.join("demo")
	c.join("r2")
	if r := c.request(msg{"type": "join", "room": "r3"}); errCode(r) != "too_many_rooms" {
		t.Fatalf("third room: %v", r)
	}
	// A message of exactly 4096 bytes is allowed.
	pad := `{"type":"ping","id":"big","pad":"`
	raw := pad + strings.Repeat("x", 4096-len(pad)-2) + `"}`
	if err := c.sendRaw([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if m := c.waitFor("pong", isType("pong")); m["id"] != "big" {
		t.Fatalf("4096-byte ping: %v", m)
	}
	// The same connection still works for everything.
	if r := c.request(msg{"type": "pin", "room": "demo", "product": "p1"}); r["ok"] != true {
		t.Fatalf("pin after bad input: %v", r)
	}
	// 4097 bytes closes with 1009; the server goes on serving others.
	c.sendRaw([]byte(pad + strings.Repeat("x", 4097-len(pad)-2) + `"}`))
	if st := c.closeStatus(); st != websocket.StatusMessageTooBig {
		t.Fatalf("4097 bytes: close %v, want 1009", st)
	}
	healthy := dial(t, n.wsURL(), "")
	if s := healthy.join("demo"); s["pinned"] == nil {
		t.Fatalf("healthy client snapshot: %v", s)
	}
}

// A flooding client is answered rate_limited, then closed; others are fine.
func TestRateLimit(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, MsgRate: 5, MsgBurst: 5})
	c := dial(t, n.wsURL(), "")
	limited := 0
	for i := range 8 {
		c.send(msg{"type": "ping", "id": fmt.Sprint(i)})
	}
	for range 8 {
		m := c.next(waitLong)
		if errCode(m) == "rate_limited" {
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 8 rapid messages rate_limited with burst 5", limited)
	}
	for i := range 20 {
		if c.sendRaw([]byte(fmt.Sprintf(`{"type":"ping","id":"f%d"}`, i))) != nil {
			break
		}
	}
	if st := c.closeStatus(); st != websocket.StatusPolicyViolation {
		t.Fatalf("flooding client: close %v, want 1008", st)
	}
	dial(t, n.wsURL(), "").join("demo")
}

// Past -max-conns the upgrade is answered 503.
func TestConnectionCap(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, MaxConns: 2})
	dial(t, n.wsURL(), "")
	dial(t, n.wsURL(), "")
	_, resp, err := tryDial(n.wsURL(), "")
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("third connection: %v %v, want 503", err, resp)
	}
}

// Viewer counts go up and down and include the joiner.
func TestViewerCounts(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	a := dial(t, n.wsURL(), "")
	if s := a.join("demo"); s["viewers"].(float64) != 1 {
		t.Fatalf("first viewer's snapshot viewers = %v", s["viewers"])
	}
	b := dial(t, n.wsURL(), "")
	if s := b.join("demo"); s["viewers"].(float64) != 2 {
		t.Fatalf("second viewer's snapshot viewers = %v", s["viewers"])
	}
	a.waitFor("viewers 2", func(m msg) bool { return m["type"] == "viewers" && m["count"] == 2.0 && m["room"] == "demo" })
	b.ws.Close(websocket.StatusNormalClosure, "")
	a.waitFor("viewers 1", func(m msg) bool { return m["type"] == "viewers" && m["count"] == 1.0 })
	var snap struct{ Viewers int }
	n.do(t, "GET", "/api/rooms/demo", "", nil, &snap)
	if snap.Viewers != 1 {
		t.Fatalf("HTTP snapshot viewers %d, want 1", snap.Viewers)
	}
}

// A client that never reads does not delay the others and is closed as a
// slow consumer; a client that falls behind in a burst gets slow_consumer
// and 4000.
func TestSlowConsumers(t *testing.T) {
	// The sockets are small on both sides, so the never-reading client's
	// fills after a few hundred events: with loopback's autotuned buffers
	// it took megabytes, more than a loaded machine pins before the
	// keepalive ping (25 s, never answered) drops the connection as a
	// dead peer, which is not a slow consumer.
	n := startNodeOn(t, server.Config{SeedDemo: true, MaxQueueBytes: 64 << 10, WriteTimeout: 2 * time.Second},
		func(l net.Listener) net.Listener { return testutil.SmallSendBufListener{Listener: l} })
	creator := dial(t, n.wsURL(), n.token(t, "cr", "creator", "demo"))

	// A raw connection that joins and then never reads again.
	stuckClient := &http.Client{Transport: &http.Transport{DialContext: testutil.SmallRecvBufDialer(4 << 10).DialContext}}
	dctx, dcancel := contextWithTimeout(5 * time.Second)
	stuck, _, err := websocket.Dial(dctx, n.wsURL(), &websocket.DialOptions{HTTPClient: stuckClient})
	dcancel()
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.CloseNow()
	stuck.Write(t.Context(), websocket.MessageText, []byte(`{"type":"join","room":"demo"}`))
	healthy := dial(t, n.wsURL(), "")
	healthy.join("demo")
	testutil.Eventually(t, "both joined", func() bool { return n.srv.Conns() == 3 })

	// Pin until the stuck client is dropped; the healthy one sees every event.
	sent := 0
	// Bursts stay well under the healthy client's 64 KiB queue limit.
	for n.srv.Conns() == 3 && sent < 200000 {
		for range 100 {
			sent++
			creator.send(msg{"type": "pin", "id": fmt.Sprint(sent), "room": "demo", "product": fmt.Sprintf("p%d", sent%5+1)})
		}
		// Keep the healthy client drained as it goes.
		healthy.waitFor("latest", func(m msg) bool { return m["type"] == "pinned" && int(m["seq"].(float64)) == sent })
	}
	if n.srv.Conns() != 2 {
		t.Fatalf("after %d events the never-reading client is still connected", sent)
	}
	if m := metric(t, n, "liveserver_slow_consumer_closes_total"); m < 1 {
		t.Fatalf("slow consumer closes = %v", m)
	}

	// A client that reads but falls behind a sudden burst: its backlog passes
	// the limit in one go and it gets slow_consumer, then 4000.
	n2 := startNode(t, server.Config{SeedDemo: true, MaxQueueBytes: 4 << 10})
	lag := dial(t, n2.wsURL(), "")
	lag.join("demo")
	n2.putRoom(t, n2.token(t, "ad", "admin"), "demo", make([]int64, 100)...) // a catalog event of ~10 KB
	m := lag.nextEvent(waitLong)
	if m["type"] != "error" || m["code"] != "slow_consumer" {
		t.Fatalf("lagging client got %v, want error slow_consumer", m)
	}
	if st := lag.closeStatus(); st != 4000 {
		t.Fatalf("lagging client close %v, want 4000", st)
	}
}

// metric reads one unlabelled metric from /metrics.
func metric(t testing.TB, n *testNode, name string) float64 {
	t.Helper()
	resp, err := httpGet(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(resp, "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// Shutdown closes every client with 1001 and ends every connection.
func TestGracefulShutdown(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	clients := make([]*client, 10)
	for i := range clients {
		clients[i] = dial(t, n.wsURL(), "")
		clients[i].join("demo")
	}
	ctx, cancel := contextWithTimeout(2 * time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.srv.Shutdown(ctx) }()
	testutil.Eventually(t, "readyz 503 while draining", func() bool { return n.do(t, "GET", "/readyz", "", nil, nil) == 503 })
	for i, c := range clients {
		if st := c.closeStatus(); st != websocket.StatusGoingAway {
			t.Errorf("client %d: close %v, want 1001", i, st)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, resp, err := tryDial(n.wsURL(), ""); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("upgrade after shutdown: %v, want 503", err)
	}
}

// Browsers from other origins are refused unless -allowed-origins lets
// them in; clients without an Origin header are not affected.
func TestOriginCheck(t *testing.T) {
	dialOrigin := func(url, origin string) int {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err == nil {
			c.CloseNow()
			return 101
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	n := startNode(t, server.Config{})
	if st := dialOrigin(n.wsURL(), "https://evil.example"); st != 403 {
		t.Fatalf("foreign origin: %d, want 403", st)
	}
	if st := dialOrigin(n.wsURL(), n.url); st != 101 {
		t.Fatalf("same origin: %d, want 101", st)
	}
	n2 := startNode(t, server.Config{AllowedOrigins: []string{"*.shop.example"}})
	if st := dialOrigin(n2.wsURL(), "https://m.shop.example"); st != 101 {
		t.Fatalf("allowed origin: %d, want 101", st)
	}
	if st := dialOrigin(n2.wsURL(), "https://evil.example"); st != 403 {
		t.Fatalf("other origin with a list: %d, want 403", st)
	}
}
