package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// 200 buyers (distinct users, own connections) for a stock of 50: exactly 50
// orders, and every viewer's last stock message says 0.
func TestFlashCrowdExactStock(t *testing.T) {
	t.Run("memory", func(t *testing.T) { flashCrowd(t, server.Config{}) })
	// On Redis a WebSocket purchase is answered by the store's pipeline
	// reader (BuyAsync), not by the handler that received it.
	t.Run("redis", func(t *testing.T) { flashCrowd(t, server.Config{RedisURL: redistest.Start(t).URL()}) })
}

func flashCrowd(t *testing.T, cfg server.Config) {
	n := startNode(t, cfg)
	admin := n.token(t, "ad", "admin")
	n.putRoom(t, admin, "drop", 50)
	buyers := make([]*client, 200)
	for i := range buyers {
		buyers[i] = dial(t, n.wsURL(), n.token(t, fmt.Sprintf("user%d", i), "viewer"))
		buyers[i].join("drop")
	}
	var wg sync.WaitGroup
	replies := make([]msg, len(buyers))
	for i, b := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// overloaded (a loaded node): retried with the same id.
			replies[i] = retryOverloaded(func() msg {
				return b.requestID(msg{"type": "buy", "room": "drop", "product": "p1"}, "buy")
			})
		}()
	}
	wg.Wait()
	ok, soldOut := 0, 0
	orders := map[string]bool{}
	for _, r := range replies {
		switch {
		case r["ok"] == true:
			ok++
			orders[r["order"].(string)] = true
			if r["price"] != 1000.0 || r["qty"] != 1.0 || r["product"] != "p1" || r["remaining"] == nil {
				t.Fatalf("buy reply %v", r)
			}
		case errCode(r) == "sold_out":
			soldOut++
		default:
			t.Fatalf("unexpected reply %v", r)
		}
	}
	if ok != 50 || soldOut != 150 || len(orders) != 50 {
		t.Fatalf("%d ok (%d distinct orders), %d sold_out; want 50, 50, 150", ok, len(orders), soldOut)
	}
	var log struct {
		Orders []struct{ Order, User string }
		Next   *string
	}
	if st := n.do(t, "GET", "/api/rooms/drop/orders?limit=1000", admin, nil, &log); st != 200 || len(log.Orders) != 50 || log.Next != nil {
		t.Fatalf("order log: %d, %d orders, next %v", st, len(log.Orders), log.Next)
	}
	for _, o := range log.Orders {
		if !orders[o.Order] {
			t.Fatalf("order %s in the log was never acknowledged", o.Order)
		}
	}
	var snap struct{ Products []struct{ Remaining int } }
	n.do(t, "GET", "/api/rooms/drop", "", nil, &snap)
	if snap.Products[0].Remaining != 0 {
		t.Fatalf("remaining %d", snap.Products[0].Remaining)
	}
	// Every viewer converges on stock 0 (conflation may skip values, never
	// the last one).
	for i, b := range buyers {
		testutil.Eventually(t, fmt.Sprintf("viewer %d sees stock 0", i), func() bool {
			m := b.lastStock("p1")
			return m != nil && m["remaining"] == 0.0 && m["v"] == 51.0 && m["room"] == "drop"
		})
	}
}

// A sale scheduled 1s ahead for 2s moves scheduled -> live -> ended on the
// server's clock, each once; the buying rules hold along the way. The
// clock is the test's: the transitions happen when it says, not when a
// loaded machine gets round to the next message (a buy meant for before
// the start once arrived after it).
func TestSaleLifecycle(t *testing.T) {
	clk := clock.NewFake(time.Now())
	n := startNode(t, server.Config{Clock: clk})
	admin := n.token(t, "ad", "admin")
	n.putRoom(t, admin, "live", 100)
	creator := dial(t, n.wsURL(), n.token(t, "cr", "creator", "live"))
	viewer := dial(t, n.wsURL(), n.token(t, "v1", "viewer"))
	viewer.join("live")

	r := creator.request(msg{"type": "sale_start", "room": "live", "product": "p1", "price": 250, "quantity": 5, "per_user_limit": 1, "duration_ms": 2000, "starts_in_ms": 1000})
	if r["ok"] != true {
		t.Fatalf("sale_start: %v", r)
	}
	sale := r["sale"].(map[string]any)
	startsAt, endsAt := sale["starts_at"].(float64), sale["ends_at"].(float64)
	if sale["state"] != "scheduled" || startsAt != float64(clk.Now().UnixMilli()+1000) || endsAt-startsAt != 2000 {
		t.Fatalf("sale %v, want scheduled from %d for 2000 ms", sale, clk.Now().UnixMilli()+1000)
	}
	if r := creator.request(msg{"type": "sale_start", "room": "live", "product": "p1", "price": 1, "quantity": 1, "per_user_limit": 1, "duration_ms": 1000}); errCode(r) != "bad_request" {
		t.Fatalf("second sale: %v", r)
	}
	ev := viewer.waitFor("sale scheduled", isType("sale"))
	if ev["sale"].(map[string]any)["state"] != "scheduled" {
		t.Fatalf("first sale event %v", ev)
	}
	if r := viewer.request(msg{"type": "buy", "room": "live", "product": "p1"}); errCode(r) != "sale_not_live" {
		t.Fatalf("buy before live: %v", r)
	}
	clk.Advance(999 * time.Millisecond)
	if r := viewer.request(msg{"type": "buy", "room": "live", "product": "p1"}); errCode(r) != "sale_not_live" {
		t.Fatalf("buy 1 ms before live: %v", r)
	}
	clk.Advance(time.Millisecond)
	ev = viewer.waitFor("sale live", isType("sale"))
	if s := ev["sale"].(map[string]any); s["state"] != "live" || ev["ts"].(float64) < startsAt {
		t.Fatalf("live event %v before starts_at %v", ev, startsAt)
	}
	if r := viewer.request(msg{"type": "buy", "room": "live", "product": "p1"}); r["ok"] != true || r["price"] != 250.0 {
		t.Fatalf("buy while live: %v", r)
	}
	if r := viewer.request(msg{"type": "buy", "room": "live", "product": "p1"}); errCode(r) != "limit_exceeded" {
		t.Fatalf("second buy over the limit: %v", r)
	}
	clk.Advance(2 * time.Second)
	ev = viewer.waitFor("sale ended", isType("sale"))
	if s := ev["sale"].(map[string]any); s["state"] != "ended" || s["sold"] != 1.0 || ev["ts"].(float64) < endsAt {
		t.Fatalf("ended event %v, ends_at %v", ev, endsAt)
	}
	// Back to the catalog price after the sale; no further sale events.
	if r := viewer.request(msg{"type": "buy", "room": "live", "product": "p1"}); r["ok"] != true || r["price"] != 1000.0 {
		t.Fatalf("buy after the sale: %v", r)
	}
	var snap struct {
		Seq  int
		Sale any
	}
	n.do(t, "GET", "/api/rooms/live", "", nil, &snap)
	if snap.Sale != nil || snap.Seq != 3 {
		t.Fatalf("snapshot after the sale: seq %d sale %v; want 3 events and no sale", snap.Seq, snap.Sale)
	}
}

// A sale that sells out before ends_at ends then; HTTP sale control works.
func TestSaleSellsOutEarly(t *testing.T) {
	n := startNode(t, server.Config{})
	admin := n.token(t, "ad", "admin")
	n.putRoom(t, admin, "s", 3)
	viewer := dial(t, n.wsURL(), "")
	viewer.join("s")
	var out struct{ Sale struct{ ID, State string } }
	if st := n.do(t, "POST", "/api/rooms/s/sales", admin, msg{"product": "p1", "price": 1, "quantity": 10, "per_user_limit": 5, "duration_ms": 60000}, &out); st != 201 || out.Sale.State != "live" {
		t.Fatalf("HTTP sale start: %d %+v", st, out)
	}
	buyer := n.token(t, "b", "viewer")
	for i := range 3 {
		var rec struct{ Price, Remaining int }
		if st := n.do(t, "POST", "/api/rooms/s/purchases", buyer, msg{"id": fmt.Sprint(i), "product": "p1"}, &rec); st != 200 || rec.Price != 1 {
			t.Fatalf("HTTP buy %d: %d %+v", i, st, rec)
		}
	}
	viewer.waitFor("sale live", isType("sale"))
	ev := viewer.waitFor("sale ended", isType("sale"))
	if s := ev["sale"].(map[string]any); s["state"] != "ended" || s["sold"] != 3.0 || ev["ts"].(float64) >= s["ends_at"].(float64) {
		t.Fatalf("sold-out end %v", ev)
	}
	var e struct{ Error struct{ Code string } }
	if st := n.do(t, "POST", "/api/rooms/s/purchases", buyer, msg{"id": "x", "product": "p1"}, &e); st != 409 || e.Error.Code != "sold_out" {
		t.Fatalf("after sell-out: %d %+v", st, e)
	}
	if st := n.do(t, "DELETE", "/api/rooms/s/sales/current", admin, nil, &e); st != 404 || e.Error.Code != "not_found" {
		t.Fatalf("stop without sale: %d %+v", st, e)
	}
	// The HTTP purchase is idempotent on its id.
	var a, b struct{ Order string }
	n.do(t, "POST", "/api/rooms/s/purchases", buyer, msg{"id": "0", "product": "p1"}, &a)
	n.do(t, "POST", "/api/rooms/s/purchases", buyer, msg{"id": "0", "product": "p1"}, &b)
	if a.Order == "" || a != b {
		t.Fatalf("idempotent retry: %+v vs %+v", a, b)
	}
}

// Bad commerce input is refused and takes nothing.
func TestCommerceBadInput(t *testing.T) {
	n := startNode(t, server.Config{})
	admin := n.token(t, "ad", "admin")
	n.putRoom(t, admin, "b", 5)
	cases := []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/rooms/b/purchases", msg{"product": "p1"}, 400, "bad_request"},
		{"POST", "/api/rooms/b/purchases", msg{"id": "1", "product": "zz"}, 404, "not_found"},
		{"POST", "/api/rooms/b/purchases", msg{"id": "2", "product": "p1", "qty": 0}, 400, "bad_request"},
		{"POST", "/api/rooms/b/purchases", msg{"id": "3", "product": "p1", "qty": 6}, 409, "sold_out"},
		{"POST", "/api/rooms/nope/purchases", msg{"id": "4", "product": "p1"}, 404, "not_found"},
		{"POST", "/api/rooms/b/sales", msg{"product": "p1", "price": 1, "quantity": 1, "per_user_limit": 1, "duration_ms": 0}, 400, "bad_request"},
		{"POST", "/api/rooms/b/sales", msg{"product": "p1", "price": -5, "quantity": 1, "per_user_limit": 1, "duration_ms": 10}, 400, "bad_request"},
		{"POST", "/api/rooms/b/sales", "not an object", 400, "bad_request"},
		{"PUT", "/api/rooms/b", msg{"products": []msg{{"id": "a", "name": "A", "price": -1, "currency": "USD"}}}, 400, "bad_request"},
		{"PUT", "/api/rooms/bad%20id", msg{}, 400, "bad_request"},
		{"GET", "/api/rooms/b/orders?limit=0", nil, 400, "bad_request"},
		{"GET", "/api/rooms/b/orders?after=nope", nil, 400, "bad_request"},
		{"GET", "/api/nothing", nil, 404, "not_found"},
	}
	for _, c := range cases {
		var e struct {
			Error struct{ Code, Message string }
		}
		if st := n.do(t, c.method, c.path, admin, c.body, &e); st != c.status || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s %s %v: %d %+v, want %d %s", c.method, c.path, c.body, st, e, c.status, c.code)
		}
	}
	var snap struct{ Products []struct{ Remaining int } }
	n.do(t, "GET", "/api/rooms/b", "", nil, &snap)
	if snap.Products[0].Remaining != 5 {
		t.Fatalf("remaining %d after refused requests", snap.Products[0].Remaining)
	}
	var e struct{ Error struct{ Code string } }
	if st := n.do(t, "GET", "/api/rooms/b/orders", n.token(t, "v", "viewer"), nil, &e); st != 403 {
		t.Fatalf("viewer reading orders: %d", st)
	}
}

// The purchase ticker is sampled and never shows the buyer's id.
func TestPurchaseTickerMasksBuyer(t *testing.T) {
	n := startNode(t, server.Config{})
	n.putRoom(t, n.token(t, "ad", "admin"), "t", 10)
	v := dial(t, n.wsURL(), "")
	v.join("t")
	b := dial(t, n.wsURL(), n.token(t, "jennifer", "viewer"))
	if r := b.request(msg{"type": "buy", "room": "t", "product": "p1", "qty": 2}); r["ok"] != true {
		t.Fatal(r)
	}
	m := v.waitFor("purchase", isType("purchase"))
	if m["buyer"] != "j***" || m["qty"] != 2.0 || m["product"] != "p1" {
		t.Fatalf("ticker %v", m)
	}
	_ = time.Second
}
