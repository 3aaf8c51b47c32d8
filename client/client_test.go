package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/client"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

const secret = "client-test-secret-0123456789abcdef012345"

// startNode starts an in-process node with a JWT secret and the
// per-client limits off (every test client comes from 127.0.0.1).
func startNode(t testing.TB, cfg server.Config) string {
	t.Helper()
	if cfg.JWTSecret == "" {
		cfg.JWTSecret = secret
	}
	cfg.MsgRate = -1
	cfg.MaxConnsPerIP, cfg.MaxConnsPerUser = -1, -1
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
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	return ts.URL
}

func token(t testing.TB, sub string, role string, rooms ...string) string {
	t.Helper()
	tok, err := auth.Sign(secret, auth.Identity{User: sub, Role: role, Rooms: rooms}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var spring = client.RoomSpec{Title: "Spring drop", Products: []client.ProductSpec{
	{ID: "tote", Name: "Tote", Price: 1999, Currency: "USD", Image: "/demo/img/tote.svg", Stock: 3},
	{ID: "cap", Name: "Cap", Price: 999, Currency: "USD", Image: "/demo/img/tote.svg", Stock: 100},
}}

// wantCode fails unless err is an *Error with code and HTTP status.
func wantCode(t *testing.T, what string, err error, code string, status int) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Code != code || e.Status != status {
		t.Fatalf("%s: got %v, want %s (HTTP %d)", what, err, code, status)
	}
	return e
}

func TestRoomsPinsSales(t *testing.T) {
	base := startNode(t, server.Config{})
	ctx := testCtx(t)
	c := client.New(base, token(t, "maya", auth.RoleCreator, "spring"))

	snap, created, err := c.PutRoom(ctx, "spring", spring)
	if err != nil || !created || snap.Title != "Spring drop" || len(snap.Products) != 2 || snap.Products[0].Remaining != 3 {
		t.Fatalf("PutRoom (create): %+v created=%v err=%v", snap, created, err)
	}
	spec := spring
	spec.Title = "Spring drop, again"
	if snap, created, err = c.PutRoom(ctx, "spring", spec); err != nil || created || snap.Title != spec.Title {
		t.Fatalf("PutRoom (replace): %+v created=%v err=%v", snap, created, err)
	}
	if err := c.Pin(ctx, "spring", "tote"); err != nil {
		t.Fatalf("Pin: %v", err)
	}
	if snap, err = c.Room(ctx, "spring"); err != nil || snap.Pinned == nil || snap.Pinned.ID != "tote" {
		t.Fatalf("Room after Pin: %+v %v", snap, err)
	}
	wantCode(t, "Pin of an unknown product", c.Pin(ctx, "spring", "nope"), "not_found", 404)
	if err := c.Unpin(ctx, "spring"); err != nil {
		t.Fatalf("Unpin: %v", err)
	}
	sale, err := c.StartSale(ctx, "spring", client.SaleSpec{Product: "cap", Price: 499, Quantity: 5, PerUserLimit: 1, DurationMS: 60000, StartsInMS: 30000})
	if err != nil || sale.State != "scheduled" || sale.Price != 499 || sale.EndsAt-sale.StartsAt != 60000 {
		t.Fatalf("StartSale: %+v %v", sale, err)
	}
	_, err = c.StartSale(ctx, "spring", client.SaleSpec{Product: "tote", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 1000})
	wantCode(t, "a second sale", err, "bad_request", 400)
	if ended, err := c.StopSale(ctx, "spring"); err != nil || ended.State != "ended" || ended.ID != sale.ID {
		t.Fatalf("StopSale: %+v %v", ended, err)
	}
	_, err = c.StopSale(ctx, "spring")
	wantCode(t, "StopSale without a sale", err, "not_found", 404)

	// A viewer may not act as the creator; no token at all is unauthorized.
	viewer := c.WithToken(token(t, "jo", auth.RoleViewer))
	wantCode(t, "a viewer pins", viewer.Pin(ctx, "spring", "tote"), "forbidden", 403)
	_, _, err = c.WithToken("").PutRoom(ctx, "spring", spring)
	wantCode(t, "no token", err, "unauthorized", 401)
	_, err = c.Room(ctx, "missing")
	wantCode(t, "an unknown room", err, "not_found", 404)
}

func TestPurchasesAndOrders(t *testing.T) {
	base := startNode(t, server.Config{})
	ctx := testCtx(t)
	creator := client.New(base, token(t, "maya", auth.RoleCreator, "spring"))
	if _, _, err := creator.PutRoom(ctx, "spring", spring); err != nil {
		t.Fatal(err)
	}
	jo := creator.WithToken(token(t, "jo", auth.RoleViewer))

	first, err := jo.Buy(ctx, "spring", client.Purchase{ID: "buy-1", Product: "tote"})
	if err != nil || first.Qty != 1 || first.Price != 1999 || first.Remaining != 2 || first.Order == "" || first.ID != "buy-1" {
		t.Fatalf("Buy: %+v %v", first, err)
	}
	again, err := jo.Buy(ctx, "spring", client.Purchase{ID: "buy-1", Product: "tote"})
	if err != nil || again.Order != first.Order || again.Remaining != 2 {
		t.Fatalf("the same id again: %+v %v, want the first answer %+v", again, err, first)
	}
	if _, err := jo.Buy(ctx, "spring", client.Purchase{Product: "tote", Qty: 2}); err != nil {
		t.Fatalf("Buy with a generated id: %v", err)
	}
	_, err = jo.Buy(ctx, "spring", client.Purchase{Product: "tote"})
	if e := wantCode(t, "Buy after the stock", err, "sold_out", 409); e.Retryable() {
		t.Errorf("sold_out is retryable")
	}
	for i := range 5 {
		if _, err := jo.Buy(ctx, "spring", client.Purchase{Product: "cap"}); err != nil {
			t.Fatalf("Buy cap %d: %v", i, err)
		}
	}

	// Seven orders: pages of two follow next, and AllOrders sees them all
	// in order.
	page, err := creator.Orders(ctx, "spring", "", 2)
	if err != nil || len(page.Orders) != 2 || page.Next == "" || page.Orders[0].Order != first.Order {
		t.Fatalf("first page: %+v %v", page, err)
	}
	var paged []string
	for after := ""; ; {
		p, err := creator.Orders(ctx, "spring", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Orders {
			paged = append(paged, o.Order)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	var all []string
	for o, err := range creator.AllOrders(ctx, "spring", 3) {
		if err != nil {
			t.Fatal(err)
		}
		if o.User != "jo" || o.Sale != nil {
			t.Errorf("order %+v: want user jo and no sale", o)
		}
		all = append(all, o.Order)
	}
	if len(all) != 7 || !slices.Equal(all, paged) || all[0] != first.Order {
		t.Fatalf("AllOrders %v, pages of two %v: want the same 7 orders", all, paged)
	}
	for range creator.AllOrders(ctx, "spring", 1) {
		break // stopping early must not panic
	}
	_, err = creator.Orders(ctx, "spring", "", 1001)
	wantCode(t, "limit 1001", err, "bad_request", 400)
	_, err = jo.Orders(ctx, "spring", "", 10)
	wantCode(t, "a viewer reads orders", err, "forbidden", 403)
}

// TestBuyRetriesLostAnswer puts a real HTTP hop in front of a node that
// loses the node's first answer to a purchase (502): Buy sends it again
// with the same id and gets the first answer; one order exists.
func TestBuyRetriesLostAnswer(t *testing.T) {
	base := startNode(t, server.Config{})
	ctx := testCtx(t)
	creator := client.New(base, token(t, "maya", auth.RoleCreator, "spring"))
	if _, _, err := creator.PutRoom(ctx, "spring", spring); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(target)
	var purchases atomic.Int32
	lossy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && purchases.Add(1) == 1 {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r) // the node takes the stock...
			if rec.Code != http.StatusOK {
				t.Errorf("the node answered the first attempt %d", rec.Code)
			}
			w.WriteHeader(http.StatusBadGateway) // ...and the answer is lost
			io.WriteString(w, "bad gateway")
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer lossy.Close()

	jo := client.New(lossy.URL, token(t, "jo", auth.RoleViewer))
	jo.RetryBackoff = 10 * time.Millisecond
	res, err := jo.Buy(ctx, "spring", client.Purchase{Product: "tote"})
	if err != nil || res.Remaining != 2 {
		t.Fatalf("Buy through a lossy hop: %+v %v", res, err)
	}
	if n := purchases.Load(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
	var orders []client.Order
	for o, err := range creator.AllOrders(ctx, "spring", 0) {
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	if len(orders) != 1 || orders[0].Order != res.Order {
		t.Fatalf("orders %+v, want the one order %s", orders, res.Order)
	}

	// Without retries the lost answer is the caller's error.
	purchases.Store(0)
	jo.BuyRetries = -1
	_, err = jo.Buy(ctx, "spring", client.Purchase{Product: "tote"})
	if e := wantCode(t, "no retries", err, "unavailable", 502); !e.Retryable() {
		t.Errorf("a 502 is not retryable")
	}
}

// TestRateLimitedCarriesRetryAfter: the node's HTTP rate limit answers 429
// rate_limited with retry_after_ms, which the error carries.
func TestRateLimitedCarriesRetryAfter(t *testing.T) {
	base := startNode(t, server.Config{HTTPRatePerUser: 0.1, SeedDemo: true}) // a burst of 1 per 10 s
	ctx := testCtx(t)
	c := client.New(base, token(t, "maya", auth.RoleCreator, "demo"))
	var err error
	for range 5 {
		if err = c.Unpin(ctx, "demo"); err != nil && client.Code(err) == "rate_limited" {
			break
		}
	}
	if client.Code(err) != "rate_limited" {
		t.Fatalf("after 5 calls: %v, want rate_limited", err)
	}
	e := wantCode(t, "over the rate", err, "rate_limited", 429)
	if e.RetryAfter <= 0 || !e.Retryable() {
		t.Fatalf("rate_limited: RetryAfter %v, Retryable %v", e.RetryAfter, e.Retryable())
	}
}

// TestBuyRetriesUnavailable: while the node's Redis is down, purchases are
// answered 503 unavailable (nothing taken); Buy retries with the same id
// until Redis is back, and exactly one order exists.
func TestBuyRetriesUnavailable(t *testing.T) {
	rs := redistest.Start(t, redistest.WithAppendOnly())
	base := startNode(t, server.Config{RedisURL: rs.URL()})
	ctx := testCtx(t)
	creator := client.New(base, token(t, "maya", auth.RoleCreator, "spring"))
	if _, _, err := creator.PutRoom(ctx, "spring", spring); err != nil {
		t.Fatal(err)
	}
	// A real HTTP hop that counts the node's 503 answers.
	target, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(target)
	var unavailable atomic.Int32
	rp.ModifyResponse = func(r *http.Response) error {
		if r.StatusCode == http.StatusServiceUnavailable {
			unavailable.Add(1)
		}
		return nil
	}
	hop := httptest.NewServer(rp)
	defer hop.Close()

	rs.Kill()
	jo := client.New(hop.URL, token(t, "jo", auth.RoleViewer))
	jo.BuyRetries, jo.RetryBackoff = 100, 20*time.Millisecond
	type result struct {
		res *client.PurchaseResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := jo.Buy(ctx, "spring", client.Purchase{ID: "while-down", Product: "tote"})
		done <- result{res, err}
	}()
	testutil.Eventually(t, "a purchase answered unavailable", func() bool { return unavailable.Load() >= 2 })
	rs.Restart()
	r := <-done
	if r.err != nil || r.res.Remaining != 2 {
		t.Fatalf("Buy across a Redis outage: %+v %v", r.res, r.err)
	}
	var orders []client.Order
	for o, err := range creator.AllOrders(ctx, "spring", 0) {
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	if len(orders) != 1 || orders[0].Order != r.res.Order {
		t.Fatalf("orders %+v, want the one order %s", orders, r.res.Order)
	}
}
