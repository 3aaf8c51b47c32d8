package server_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// bigRoom is a catalog of 200 products with long image URLs: a snapshot of
// about 260 KB.
func bigRoom(t testing.TB, n *testNode, token, room string) {
	t.Helper()
	products := make([]map[string]any, 200)
	for i := range products {
		products[i] = map[string]any{"id": fmt.Sprintf("p%d", i), "name": fmt.Sprintf("Product %d", i), "price": 1000, "currency": "USD",
			"image": "/img/" + strings.Repeat("x", 1000) + fmt.Sprint(i) + ".svg", "stock": 10}
	}
	var out map[string]any
	if st := n.do(t, "PUT", "/api/rooms/"+room, token, map[string]any{"title": "Big", "products": products}, &out); st != 201 && st != 200 {
		t.Fatalf("PUT big room: %d %v", st, out)
	}
}

// dialStuck opens a WebSocket whose client never reads, with a small
// receive buffer so the server's queue, not the kernel, holds the backlog.
func dialStuck(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := &websocket.DialOptions{HTTPClient: smallBufferClient()}
	ws, _, err := websocket.Dial(ctx, url, d)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

func write(t testing.TB, ws *websocket.Conn, s string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, []byte(s))
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Sockets that never read, re-joining a room with a 260 KB catalog, queue
// one shared encoding, not one per join: the heap stays near its start
// (issue 11 item 14: 10 such sockets took it from 4 to 67 MiB).
func TestRejoinsShareOneSnapshot(t *testing.T) {
	n := startNode(t, server.Config{MaxQueueBytes: 64 << 20, WriteTimeout: time.Minute})
	admin := n.token(t, "ad", "admin")
	bigRoom(t, n, admin, "big")
	const sockets, joins = 10, 60
	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		conns[i] = dialStuck(t, n.wsURL())
	}
	before := heapInUse()
	encodes := metric(t, n, "liveserver_snapshot_encodes_total")
	for range joins {
		for _, ws := range conns {
			if err := write(t, ws, `{"type":"join","room":"big"}`); err != nil {
				t.Fatal(err)
			}
		}
	}
	testutil.Eventually(t, "every join handled", func() bool {
		return metric(t, n, "liveserver_joins_total") >= sockets*joins
	})
	grew := int64(heapInUse()) - int64(before)
	encoded := metric(t, n, "liveserver_snapshot_encodes_total") - encodes
	t.Logf("%d joins of a 260 KB snapshot by non-reading sockets: heap grew %.1f MiB, %v encodings", sockets*joins, float64(grew)/(1<<20), encoded)
	// One per second of joins at most (the sharing window): a slow machine
	// may take a few seconds for them.
	if encoded > sockets*joins/10 {
		t.Fatalf("%v encodings for %d joins at one seq", encoded, sockets*joins)
	}
	// Without sharing this is ~100 MiB (what the kernel does not hold).
	if grew > 32<<20 {
		t.Fatalf("heap grew %d MiB for %d re-joins at one seq", grew>>20, sockets*joins)
	}
	if n.srv.Conns() != sockets {
		t.Fatalf("%d connections open, want %d (none over its own limit)", n.srv.Conns(), sockets)
	}
}

// The node's budget of queued output: sockets that never read and keep
// asking (pings, whose pongs each is for that socket alone) are closed with
// 4000 once the node is over -max-node-queue-bytes, the gauge stays within
// twice the budget, and a client that reads is untouched.
func TestNodeQueueBudget(t *testing.T) {
	const budget = 64 << 10
	n := startNode(t, server.Config{MaxQueueBytes: 64 << 20, MaxNodeQueueBytes: budget, WriteTimeout: time.Minute})
	admin := n.token(t, "ad", "admin")
	bigRoom(t, n, admin, "big")
	healthy := dial(t, n.wsURL(), "")
	healthy.join("big")

	const sockets = 4
	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		conns[i] = dialStuck(t, n.wsURL())
		// Fill the kernel's buffers with shared snapshots (not charged).
		for range 20 {
			write(t, conns[i], `{"type":"join","room":"big"}`)
		}
	}
	id := strings.Repeat("i", 60)
	maxSeen, closes := 0.0, 0.0
	for round := 0; round < 20000 && closes < sockets; round++ {
		for _, ws := range conns {
			write(t, ws, `{"type":"ping","id":"`+id+`"}`)
		}
		if round%50 == 0 {
			maxSeen = max(maxSeen, metric(t, n, "liveserver_queued_bytes"))
			closes = metric(t, n, "liveserver_queue_budget_closes_total")
			healthyPing(healthy, round)
		}
	}
	if closes < sockets {
		t.Fatalf("%v of %d never-reading sockets closed by the node's budget (queued %v bytes)", closes, sockets, metric(t, n, "liveserver_queued_bytes"))
	}
	// Each gets what was written before, the slow_consumer error and 4000
	// as soon as it reads again.
	for i, ws := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		var err error
		var last []byte
		for err == nil {
			var data []byte
			if _, data, err = ws.Read(ctx); err == nil {
				last = data
			}
		}
		cancel()
		if st := websocket.CloseStatus(err); st != 4000 || !strings.Contains(string(last), `"slow_consumer"`) {
			t.Fatalf("stuck socket %d: last frame %.200q, close %v (%v); want slow_consumer and 4000", i, last, st, err)
		}
	}
	testutil.Eventually(t, "the stuck sockets gone", func() bool { return n.srv.Conns() == 1 })
	t.Logf("budget %d B: %v budget closes, largest queued-bytes sample %v B", budget, closes, maxSeen)
	if maxSeen > 2*budget {
		t.Fatalf("queued bytes reached %v, over twice the budget %d", maxSeen, budget)
	}
	healthyPing(healthy, -1)
	testutil.Eventually(t, "queued bytes back to 0", func() bool { return metric(t, n, "liveserver_queued_bytes") == 0 })
}

// healthyPing pings and waits for the pong.
func healthyPing(c *client, n int) {
	c.t.Helper()
	id := fmt.Sprint("h", n)
	c.send(msg{"type": "ping", "id": id})
	c.waitFor("pong "+id, func(m msg) bool { return m["type"] == "pong" && m["id"] == id })
}

// DELETE /api/rooms/{room}: the room's viewers get room_closed and leave,
// a later join is not_found, its orders stay readable by the creator, and
// only the creator or an admin may delete.
func TestDeleteRoom(t *testing.T) {
	n := startNode(t, server.Config{})
	creator := n.token(t, "maya", "creator", "spring")
	n.putRoom(t, creator, "spring", 5)
	v1, v2 := dial(t, n.wsURL(), n.token(t, "jo", "viewer")), dial(t, n.wsURL(), "")
	v1.join("spring")
	v2.join("spring")
	if r := v1.request(msg{"type": "buy", "room": "spring", "product": "p1"}); r["ok"] != true {
		t.Fatalf("buy: %v", r)
	}

	var out msg
	if st := n.do(t, "DELETE", "/api/rooms/spring", n.token(t, "other", "creator", "autumn"), nil, &out); st != 403 || errCode(out) != "forbidden" {
		t.Fatalf("DELETE by another creator: %d %v", st, out)
	}
	if st := n.do(t, "DELETE", "/api/rooms/spring", "", nil, &out); st != 401 && st != 403 {
		t.Fatalf("anonymous DELETE: %d %v", st, out)
	}
	if st := n.do(t, "DELETE", "/api/rooms/spring", creator, nil, &out); st != 200 || out["ok"] != true || out["room"] != "spring" {
		t.Fatalf("DELETE: %d %v", st, out)
	}
	for i, v := range []*client{v1, v2} {
		m := v.waitFor("room_closed", isType("room_closed"))
		if m["room"] != "spring" || m["ts"] == nil {
			t.Fatalf("viewer %d: %v", i, m)
		}
	}
	if st := n.do(t, "GET", "/api/rooms/spring", "", nil, &out); st != 404 {
		t.Fatalf("GET deleted room: %d %v", st, out)
	}
	if st := n.do(t, "DELETE", "/api/rooms/spring", creator, nil, &out); st != 404 || errCode(out) != "not_found" {
		t.Fatalf("DELETE again: %d %v", st, out)
	}
	if r := v1.request(msg{"type": "join", "room": "spring"}); errCode(r) != "not_found" {
		t.Fatalf("join after delete: %v", r)
	}
	if r := v1.request(msg{"type": "buy", "room": "spring", "product": "p1", "id": "b2"}); errCode(r) != "not_found" {
		t.Fatalf("buy after delete: %v", r)
	}
	var orders struct{ Orders []msg }
	if st := n.do(t, "GET", "/api/rooms/spring/orders", creator, nil, &orders); st != 200 || len(orders.Orders) != 1 {
		t.Fatalf("orders after delete: %d %v", st, orders)
	}

	// Created again, the room is new to its old viewers (they left), and
	// its order log goes on.
	n.putRoom(t, creator, "spring", 5)
	if r := n.do(t, "POST", "/api/rooms/spring/pin", creator, msg{"product": "p1"}, nil); r != 200 {
		t.Fatalf("pin: %d", r)
	}
	if snap := v2.join("spring"); snap["seq"] != 1.0 {
		t.Fatalf("the new room's snapshot: %v", snap)
	}
	if r := n.do(t, "POST", "/api/rooms/spring/pin", creator, msg{"product": "p1"}, nil); r != 200 {
		t.Fatalf("pin: %d", r)
	}
	if m := v2.nextEvent(waitLong); m["type"] != "pinned" || m["seq"] != 2.0 {
		t.Fatalf("in the new room: %v, want pinned seq 2", m)
	}
	select {
	case m := <-v1.msgs:
		if m["type"] != "viewers" {
			t.Fatalf("a viewer of the deleted room got %v from the new one", m)
		}
	default:
	}
	if r := v1.request(msg{"type": "buy", "room": "spring", "product": "p1"}); r["ok"] != true {
		t.Fatalf("buy in the new room: %v", r)
	}
	if st := n.do(t, "GET", "/api/rooms/spring/orders", creator, nil, &orders); st != 200 || len(orders.Orders) != 2 {
		t.Fatalf("orders: %d %v", st, orders)
	}
}

// Orders older than -order-retention are trimmed, also a deleted room's,
// which is then not_found.
func TestOrderRetentionMemory(t *testing.T) {
	clk := clock.NewFake(time.Now())
	n := startNode(t, server.Config{Clock: clk, OrderRetention: 24 * time.Hour})
	admin := n.token(t, "ad", "admin")
	n.putRoom(t, admin, "r1", 10)
	n.putRoom(t, admin, "r2", 10)
	buy := func(room string) {
		t.Helper()
		if st := n.do(t, "POST", "/api/rooms/"+room+"/purchases", admin, msg{"id": fmt.Sprint(time.Now().UnixNano()), "product": "p1"}, nil); st != 200 {
			t.Fatalf("buy: %d", st)
		}
	}
	orders := func(room string) (int, int) {
		var out struct{ Orders []msg }
		st := n.do(t, "GET", "/api/rooms/"+room+"/orders", admin, nil, &out)
		return st, len(out.Orders)
	}
	buy("r1")
	buy("r1")
	buy("r2")
	clk.Advance(23 * time.Hour)
	buy("r1")
	if st := n.do(t, "DELETE", "/api/rooms/r2", admin, nil, nil); st != 200 {
		t.Fatalf("DELETE r2: %d", st)
	}
	if st, k := orders("r1"); st != 200 || k != 3 {
		t.Fatalf("r1 within retention: %d, %d orders", st, k)
	}
	if st, k := orders("r2"); st != 200 || k != 1 {
		t.Fatalf("deleted r2 within retention: %d, %d orders", st, k)
	}
	clk.Advance(2 * time.Hour)
	if st, k := orders("r1"); st != 200 || k != 1 {
		t.Fatalf("r1 after 25h: %d, %d orders, want the one of 2h ago", st, k)
	}
	if st, _ := orders("r2"); st != 404 {
		t.Fatalf("deleted r2 past retention: %d, want 404", st)
	}
}

// In cluster mode: a room deleted on one node closes its viewers on the
// other, every key of its state goes but the order stream and index, the
// sale leaves the index of pending transitions, and the orders are trimmed
// by age, index included.
func TestDeleteRoomAndRetentionCluster(t *testing.T) {
	rs := redistest.Start(t)
	const retention = 2 * time.Second
	nodes := []*testNode{
		startNode(t, server.Config{RedisURL: rs.URL(), JWTSecret: clusterSecret, OrderRetention: retention}),
		startNode(t, server.Config{RedisURL: rs.URL(), JWTSecret: clusterSecret, OrderRetention: retention}),
	}
	rdb := redistest.NewClient(t, rs.Addr())
	ctx := context.Background()
	creator := clusterToken(t, "maya", "creator", "spring")
	nodes[0].putRoom(t, creator, "spring", 5, 5)
	viewer := dial(t, nodes[1].wsURL(), clusterToken(t, "jo", "viewer"))
	viewer.join("spring")
	if r := viewer.request(msg{"type": "buy", "room": "spring", "product": "p1"}); r["ok"] != true {
		t.Fatalf("buy: %v", r)
	}
	var out msg
	if st := nodes[0].do(t, "POST", "/api/rooms/spring/sales", creator, msg{"product": "p2", "price": 1, "quantity": 1, "per_user_limit": 1, "duration_ms": 600000}, &out); st != 201 {
		t.Fatalf("sale: %d %v", st, out)
	}
	if n, _ := rdb.ZCard(ctx, "liveserver:sale-timers").Result(); n != 1 {
		t.Fatalf("sale index has %d entries, want 1", n)
	}

	if st := nodes[0].do(t, "DELETE", "/api/rooms/spring", creator, nil, &out); st != 200 {
		t.Fatalf("DELETE: %d %v", st, out)
	}
	if m := viewer.waitFor("room_closed", isType("room_closed")); m["room"] != "spring" {
		t.Fatalf("room_closed: %v", m)
	}
	if r := viewer.request(msg{"type": "join", "room": "spring"}); errCode(r) != "not_found" {
		t.Fatalf("join after delete on the other node: %v", r)
	}
	// Only the order log and the answers that expire on their own stay
	// (the nodes' viewer counts go with their next presence report).
	testutil.Eventually(t, "the room's state keys gone", func() bool {
		keys, _ := rdb.Keys(ctx, "liveserver:{room:spring}:*").Result()
		var left []string
		for _, k := range keys {
			if !strings.HasSuffix(k, ":orders") && !strings.HasSuffix(k, ":orderidx") && !strings.Contains(k, ":req:") && !strings.Contains(k, ":idem:") {
				left = append(left, k)
			}
		}
		return len(left) == 0
	})
	if n, _ := rdb.ZCard(ctx, "liveserver:sale-timers").Result(); n != 0 {
		t.Errorf("sale index has %d entries after the delete, want 0", n)
	}
	var orders struct{ Orders []msg }
	if st := nodes[1].do(t, "GET", "/api/rooms/spring/orders", creator, nil, &orders); st != 200 || len(orders.Orders) != 1 {
		t.Fatalf("orders after delete: %d %v", st, orders)
	}
	if n, _ := rdb.HLen(ctx, "liveserver:{room:spring}:orderidx").Result(); n != 1 {
		t.Fatalf("order index has %d entries, want 1", n)
	}

	// Past the retention the periodic sweep (every second here) trims the
	// stream and its index, and the deleted room's log goes with them.
	testutil.Eventually(t, "the order log trimmed", func() bool {
		n, _ := rdb.Exists(ctx, "liveserver:{room:spring}:orders", "liveserver:{room:spring}:orderidx").Result()
		return n == 0
	})
	if st := nodes[1].do(t, "GET", "/api/rooms/spring/orders", creator, nil, &out); st != 404 {
		t.Fatalf("orders past retention: %d %v", st, out)
	}
}

// Trimming a live room's log keeps the newer orders and pages on.
func TestOrderRetentionRedisKeepsRecent(t *testing.T) {
	rs := redistest.Start(t)
	n := startNode(t, server.Config{RedisURL: rs.URL(), JWTSecret: clusterSecret, OrderRetention: 3 * time.Second})
	rdb := redistest.NewClient(t, rs.Addr())
	admin := clusterToken(t, "ad", "admin")
	n.putRoom(t, admin, "r1", 100)
	buy := func(i int) {
		t.Helper()
		if st := n.do(t, "POST", "/api/rooms/r1/purchases", admin, msg{"id": fmt.Sprint("b", i), "product": "p1"}, nil); st != 200 {
			t.Fatalf("buy: %d", st)
		}
	}
	for i := range 3 {
		buy(i)
	}
	time.Sleep(3100 * time.Millisecond) // past the retention of the first three
	buy(3)
	buy(4)
	var out struct {
		Orders []msg
		Next   any
	}
	if st := n.do(t, "GET", "/api/rooms/r1/orders?limit=1", admin, nil, &out); st != 200 || len(out.Orders) != 1 {
		t.Fatalf("orders: %d %v", st, out)
	}
	first := out.Orders[0]["order"].(string)
	if st := n.do(t, "GET", "/api/rooms/r1/orders?after="+first, admin, nil, &out); st != 200 || len(out.Orders) != 1 {
		t.Fatalf("second page: %d %v", st, out)
	}
	ctx := context.Background()
	if l, _ := rdb.XLen(ctx, "liveserver:{room:r1}:orders").Result(); l > 2 {
		t.Fatalf("stream holds %d orders, want the 2 recent", l)
	}
	if l, _ := rdb.HLen(ctx, "liveserver:{room:r1}:orderidx").Result(); l > 2 {
		t.Fatalf("index holds %d orders, want the 2 recent", l)
	}
}

// smallBufferClient dials with a 4 KiB receive buffer (see
// testutil.SmallRecvBufDialer).
func smallBufferClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: testutil.SmallRecvBufDialer(4096).DialContext}}
}

// Joins racing a DELETE: each viewer either joined and then got
// room_closed, or its join was not_found; the node keeps no trace of the
// room afterwards.
func TestDeleteRoomRacingJoins(t *testing.T) {
	n := startNode(t, server.Config{})
	admin := n.token(t, "ad", "admin")
	for round := range 5 {
		room := fmt.Sprint("race", round)
		n.putRoom(t, admin, room, 5)
		viewers := make([]*client, 20)
		for i := range viewers {
			viewers[i] = dial(t, n.wsURL(), "")
			viewers[i].send(msg{"type": "join", "room": room, "id": "j"})
		}
		if st := n.do(t, "DELETE", "/api/rooms/"+room, admin, nil, nil); st != 200 {
			t.Fatalf("DELETE: %d", st)
		}
		for i, v := range viewers {
			r := v.waitFor("join reply", func(m msg) bool { return m["type"] == "reply" && m["id"] == "j" })
			if r["ok"] == true {
				v.waitFor("room_closed", isType("room_closed"))
			} else if errCode(r) != "not_found" {
				t.Fatalf("round %d viewer %d: %v", round, i, r)
			}
		}
		testutil.Eventually(t, "no room left on the hub", func() bool { return metric(t, n, "liveserver_rooms") == 0 })
		for _, v := range viewers {
			v.ws.CloseNow()
		}
	}
}
