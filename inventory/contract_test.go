package inventory_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// storeFactory returns a fresh, empty store for one test.
type storeFactory func(t *testing.T) inventory.Store

// runContract runs the behaviour every Store must have. Stores whose time
// cannot be faked (Redis uses its own TIME) are tested here only with sales
// that are live at once or start far in the future.
func runContract(t *testing.T, newStore storeFactory) {
	t.Run("RaceForStock", func(t *testing.T) { t.Parallel(); testRaceForStock(t, newStore(t)) })
	t.Run("SaleRaceExactQuantity", func(t *testing.T) { t.Parallel(); testSaleRace(t, newStore(t)) })
	t.Run("PerUserLimit", func(t *testing.T) { t.Parallel(); testPerUserLimit(t, newStore(t)) })
	t.Run("Idempotent", func(t *testing.T) { t.Parallel(); testIdempotent(t, newStore(t)) })
	t.Run("RememberedAnswers", func(t *testing.T) { t.Parallel(); testRememberedAnswers(t, newStore(t)) })
	t.Run("SaleQuantityBelowStock", func(t *testing.T) { t.Parallel(); testSaleQuantityBelowStock(t, newStore(t)) })
	t.Run("ScheduledSaleNotLive", func(t *testing.T) { t.Parallel(); testScheduledSale(t, newStore(t)) })
	t.Run("SaleRules", func(t *testing.T) { t.Parallel(); testSaleRules(t, newStore(t)) })
	t.Run("BadInput", func(t *testing.T) { t.Parallel(); testBadInput(t, newStore(t)) })
	t.Run("PinAndHistory", func(t *testing.T) { t.Parallel(); testPinAndHistory(t, newStore(t)) })
	t.Run("Replace", func(t *testing.T) { t.Parallel(); testReplace(t, newStore(t)) })
	t.Run("OrdersPaging", func(t *testing.T) { t.Parallel(); testOrdersPaging(t, newStore(t)) })
	t.Run("DeleteRoom", func(t *testing.T) { t.Parallel(); testDeleteRoom(t, newStore(t)) })
}

var ctx = context.Background()

func mustPut(t testing.TB, s inventory.Store, room string, stock ...int64) {
	t.Helper()
	spec := inventory.RoomSpec{Title: "Room " + room}
	for i, n := range stock {
		spec.Products = append(spec.Products, inventory.ProductSpec{
			ID: fmt.Sprintf("p%d", i+1), Name: fmt.Sprintf("Product %d", i+1), Price: 1000 * int64(i+1), Currency: "USD", Image: "/img.svg", Stock: n,
		})
	}
	if _, err := s.PutRoom(ctx, room, spec); err != nil {
		t.Fatalf("PutRoom: %v", err)
	}
}

// code is the client's code of err, "" for none, "other: ..." for an
// error a client would see as internal.
func code(err error) string {
	if c := protocol.ErrorCode(err); c != protocol.CodeInternal {
		return c
	}
	return "other: " + err.Error()
}

func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

func remaining(t *testing.T, s inventory.Store, room, product string) int64 {
	t.Helper()
	snap, err := s.Snapshot(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range snap.Products {
		if p.ID == product {
			return p.Remaining
		}
	}
	t.Fatalf("product %s not in snapshot", product)
	return 0
}

func allOrders(t *testing.T, s inventory.Store, room string) []inventory.Order {
	t.Helper()
	var out []inventory.Order
	after := ""
	for {
		page, next, err := s.Orders(ctx, room, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		after = next
	}
}

// race runs n buyers (distinct users) of qty 1 at once and counts outcomes.
func race(t *testing.T, s inventory.Store, room, product string, n int) map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Buy(ctx, inventory.BuyRequest{Room: room, User: fmt.Sprintf("u%d", i), ID: "b1", Product: product, Qty: 1})
			mu.Lock()
			counts[code(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return counts
}

func testRaceForStock(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 25)
	counts := race(t, s, "r1", "p1", 100)
	if counts[""] != 25 || counts[protocol.CodeSoldOut] != 75 {
		t.Fatalf("outcomes %v, want 25 ok and 75 sold_out", counts)
	}
	if got := remaining(t, s, "r1", "p1"); got != 0 {
		t.Fatalf("remaining %d, want 0", got)
	}
	orders := allOrders(t, s, "r1")
	seen := map[string]bool{}
	for _, o := range orders {
		if seen[o.Order] {
			t.Fatalf("duplicate order id %s", o.Order)
		}
		seen[o.Order] = true
		if o.Price != 1000 || o.Sale != nil || o.Qty != 1 {
			t.Fatalf("order %+v: want catalog price 1000, no sale, qty 1", o)
		}
	}
	if len(orders) != 25 {
		t.Fatalf("%d orders, want 25", len(orders))
	}
}

func testSaleRace(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 100)
	sale, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 500, Quantity: 30, PerUserLimit: 1, DurationMS: 60000})
	if err != nil {
		t.Fatal(err)
	}
	if sale.State != protocol.SaleLive || sale.ID == "" || sale.EndsAt-sale.StartsAt != 60000 {
		t.Fatalf("sale %+v: want live with a 60s window", sale)
	}
	// 120 buyers for a sale of 30 out of a stock of 100: 30 buy at the sale
	// price, the sale ends, 70 buy at the catalog price, 20 find it sold out.
	counts := race(t, s, "r1", "p1", 120)
	if counts[""] != 100 || counts[protocol.CodeSoldOut] != 20 {
		t.Fatalf("outcomes %v, want 100 ok and 20 sold_out", counts)
	}
	orders := allOrders(t, s, "r1")
	saleOrders := 0
	for _, o := range orders {
		if o.Sale != nil && *o.Sale == sale.ID && o.Price == 500 {
			saleOrders++
		}
	}
	if saleOrders != 30 {
		t.Fatalf("%d sale orders, want 30", saleOrders)
	}
	// The sale ended when its quantity sold out; the rest bought at catalog
	// price while stock lasted.
	snap, _ := s.Snapshot(ctx, "r1")
	if snap.Sale != nil {
		t.Fatalf("sale still in snapshot after selling out: %+v", snap.Sale)
	}
	if got := remaining(t, s, "r1", "p1"); got != 100-int64(counts[""]) {
		t.Fatalf("remaining %d, want %d", got, 100-counts[""])
	}
	if len(orders) != counts[""] {
		t.Fatalf("%d orders for %d successful purchases", len(orders), counts[""])
	}
}

func testPerUserLimit(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 50)
	if _, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 100, Quantity: 10, PerUserLimit: 2, DurationMS: 60000}); err != nil {
		t.Fatal(err)
	}
	buy := func(id string, qty int64) error {
		_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "alice", ID: id, Product: "p1", Qty: qty})
		return err
	}
	wantCode(t, buy("a", 1), "")
	wantCode(t, buy("b", 2), protocol.CodeLimitExceeded)
	wantCode(t, buy("c", 1), "")
	wantCode(t, buy("d", 1), protocol.CodeLimitExceeded)
	if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "bob", ID: "a", Product: "p1", Qty: 2}); err != nil {
		t.Fatalf("another user: %v", err)
	}
	if got := remaining(t, s, "r1", "p1"); got != 46 {
		t.Fatalf("remaining %d, want 46", got)
	}
}

func testIdempotent(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 10)
	first, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "x", Product: "p1", Qty: 2})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "x", Product: "p1", Qty: 2})
	if err != nil || again != first {
		t.Fatalf("retry = %+v, %v; want the first answer %+v", again, err, first)
	}
	// Concurrent retries of one id take stock once.
	var wg sync.WaitGroup
	results := make([]inventory.Receipt, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "y", Product: "p1", Qty: 1})
		}()
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r.Order == "" || r != results[0] {
			t.Fatalf("concurrent retries answered differently: %+v vs %+v", r, results[0])
		}
	}
	if got := remaining(t, s, "r1", "p1"); got != 7 {
		t.Fatalf("remaining %d, want 7", got)
	}
	if n := len(allOrders(t, s, "r1")); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
	// A remembered failure is answered the same even once stock is back.
	mustPut(t, s, "r2", 0)
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r2", User: "u", ID: "z", Product: "p1", Qty: 1})
	wantCode(t, err, protocol.CodeSoldOut)
	mustPut(t, s, "r2", 5)
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r2", User: "u", ID: "z", Product: "p1", Qty: 1})
	wantCode(t, err, protocol.CodeSoldOut)
	if got := remaining(t, s, "r2", "p1"); got != 5 {
		t.Fatalf("remaining %d, want 5", got)
	}
}

// Only answers that took or could take stock are remembered: a retry of a
// purchase refused as not_found (or bad_request) runs again, so it costs
// the store nothing to keep, and succeeds once the product exists; a
// sale_not_live or limit_exceeded stays the answer to its id.
func testRememberedAnswers(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 5)
	_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "a", Product: "p2", Qty: 1})
	wantCode(t, err, protocol.CodeNotFound)
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "b", Product: "p1", Qty: protocol.MaxQty + 1})
	wantCode(t, err, protocol.CodeBadRequest)
	mustPut(t, s, "r1", 5, 5)
	if rec, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "a", Product: "p2", Qty: 1}); err != nil || rec.Order == "" {
		t.Fatalf("retry once the product exists: %+v, %v; a not_found was remembered", rec, err)
	}
	if rec, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "b", Product: "p1", Qty: 1}); err != nil || rec.Order == "" {
		t.Fatalf("retry with a valid qty: %+v, %v; a bad_request was remembered", rec, err)
	}

	mustPut(t, s, "r2", 10, 10)
	if _, err := s.StartSale(ctx, "r2", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 5, PerUserLimit: 1, DurationMS: 60000, StartsInMS: 3600_000}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r2", User: "u", ID: "c", Product: "p1", Qty: 1})
	wantCode(t, err, protocol.CodeSaleNotLive)
	if _, err := s.StopSale(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r2", User: "u", ID: "c", Product: "p1", Qty: 1})
	wantCode(t, err, protocol.CodeSaleNotLive)
	if _, err := s.StartSale(ctx, "r2", inventory.SaleSpec{Product: "p2", Price: 1, Quantity: 5, PerUserLimit: 1, DurationMS: 60000}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r2", User: "u", ID: "d", Product: "p2", Qty: 2})
	wantCode(t, err, protocol.CodeLimitExceeded)
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r2", User: "u", ID: "d", Product: "p2", Qty: 1})
	wantCode(t, err, protocol.CodeLimitExceeded)
	if got := remaining(t, s, "r2", "p1") + remaining(t, s, "r2", "p2"); got != 20 {
		t.Fatalf("remaining %d, want 20: a remembered refusal took stock", got)
	}
}

func testSaleQuantityBelowStock(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 10)
	sale, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 100, Quantity: 3, PerUserLimit: 5, DurationMS: 60000})
	if err != nil {
		t.Fatal(err)
	}
	var prices []int64
	for i := range 5 {
		rec, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: fmt.Sprint(i), Product: "p1", Qty: 1})
		if err != nil {
			t.Fatalf("buy %d: %v", i, err)
		}
		prices = append(prices, rec.Price)
	}
	if fmt.Sprint(prices) != "[100 100 100 1000 1000]" {
		t.Fatalf("prices %v, want 3 at the sale price then the catalog price", prices)
	}
	evs, ok, err := s.Since(ctx, "r1", 0)
	if err != nil || !ok {
		t.Fatalf("Since: %v %v", ok, err)
	}
	var states []string
	for _, ev := range evs {
		states = append(states, string(ev.Msg))
	}
	if len(evs) != 2 || !contains(states[0], `"state":"live"`) || !contains(states[1], `"state":"ended"`) || !contains(states[1], `"sold":3`) || !contains(states[1], sale.ID) {
		t.Fatalf("events %q: want sale live then ended with sold 3", states)
	}
}

func testScheduledSale(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 10)
	sale, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 100, Quantity: 3, PerUserLimit: 1, DurationMS: 1000, StartsInMS: 3600_000})
	if err != nil {
		t.Fatal(err)
	}
	if sale.State != protocol.SaleScheduled {
		t.Fatalf("state %s, want scheduled", sale.State)
	}
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "1", Product: "p1", Qty: 1})
	wantCode(t, err, protocol.CodeSaleNotLive)
	// Other products sell as usual.
	mustPut(t, s, "r2", 1, 1)
	if _, err := s.StartSale(ctx, "r2", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 1000, StartsInMS: 3600_000}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r2", User: "u", ID: "1", Product: "p2", Qty: 1}); err != nil {
		t.Fatalf("buying another product: %v", err)
	}
	stopped, err := s.StopSale(ctx, "r1")
	if err != nil || stopped.State != protocol.SaleEnded || stopped.ID != sale.ID {
		t.Fatalf("StopSale = %+v, %v", stopped, err)
	}
	if rec, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "2", Product: "p1", Qty: 1}); err != nil || rec.Price != 1000 {
		t.Fatalf("after the sale: %+v %v, want the catalog price", rec, err)
	}
}

func testSaleRules(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 10)
	_, err := s.StopSale(ctx, "r1")
	wantCode(t, err, protocol.CodeNotFound)
	_, err = s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "nope", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 1000})
	wantCode(t, err, protocol.CodeNotFound)
	for name, spec := range map[string]inventory.SaleSpec{
		"zero duration":  {Product: "p1", Price: 1, Quantity: 1, PerUserLimit: 1},
		"negative price": {Product: "p1", Price: -1, Quantity: 1, PerUserLimit: 1, DurationMS: 1000},
		"zero quantity":  {Product: "p1", Price: 1, PerUserLimit: 1, DurationMS: 1000},
		"zero limit":     {Product: "p1", Price: 1, Quantity: 1, DurationMS: 1000},
	} {
		_, err = s.StartSale(ctx, "r1", spec)
		if code(err) != protocol.CodeBadRequest {
			t.Fatalf("%s: %v, want bad_request", name, err)
		}
	}
	if _, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 60000}); err != nil {
		t.Fatal(err)
	}
	_, err = s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 60000})
	wantCode(t, err, protocol.CodeBadRequest)
	if got := remaining(t, s, "r1", "p1"); got != 10 {
		t.Fatalf("remaining %d after refused requests, want 10", got)
	}
}

func testBadInput(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 10)
	cases := map[string]struct {
		req  inventory.BuyRequest
		code string
	}{
		"unknown room":    {inventory.BuyRequest{Room: "nope", User: "u", ID: "1", Product: "p1", Qty: 1}, protocol.CodeNotFound},
		"unknown product": {inventory.BuyRequest{Room: "r1", User: "u", ID: "2", Product: "p9", Qty: 1}, protocol.CodeNotFound},
		"qty zero":        {inventory.BuyRequest{Room: "r1", User: "u", ID: "3", Product: "p1", Qty: 0}, protocol.CodeBadRequest},
		"qty negative":    {inventory.BuyRequest{Room: "r1", User: "u", ID: "4", Product: "p1", Qty: -3}, protocol.CodeBadRequest},
		"qty huge":        {inventory.BuyRequest{Room: "r1", User: "u", ID: "5", Product: "p1", Qty: 1 << 40}, protocol.CodeBadRequest},
		"more than stock": {inventory.BuyRequest{Room: "r1", User: "u", ID: "6", Product: "p1", Qty: 11}, protocol.CodeSoldOut},
	}
	for name, c := range cases {
		_, err := s.Buy(ctx, c.req)
		if code(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	if got := remaining(t, s, "r1", "p1"); got != 10 {
		t.Fatalf("remaining %d, want 10", got)
	}
	if n := len(allOrders(t, s, "r1")); n != 0 {
		t.Fatalf("%d orders after refused purchases", n)
	}
	_, err := s.PutRoom(ctx, "r2", inventory.RoomSpec{Products: []inventory.ProductSpec{{ID: "a", Name: "A", Currency: "usd", Stock: 1}}})
	wantCode(t, err, protocol.CodeBadRequest)
	_, err = s.Snapshot(ctx, "r2")
	wantCode(t, err, protocol.CodeNotFound)
}

func testPinAndHistory(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 5, 6)
	snap, err := s.Snapshot(ctx, "r1")
	if err != nil || snap.Seq != 0 || snap.Pinned != nil || len(snap.Products) != 2 {
		t.Fatalf("fresh room snapshot %+v %v", snap, err)
	}
	wantCode(t, s.Pin(ctx, "r1", "p9"), protocol.CodeNotFound)
	for i := range 10 {
		if err := s.Pin(ctx, "r1", fmt.Sprintf("p%d", i%2+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Unpin(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	snap, _ = s.Snapshot(ctx, "r1")
	if snap.Seq != 11 || snap.Pinned != nil {
		t.Fatalf("seq %d pinned %v, want 11 and none", snap.Seq, snap.Pinned)
	}
	if err := s.Pin(ctx, "r1", "p2"); err != nil {
		t.Fatal(err)
	}
	snap, _ = s.Snapshot(ctx, "r1")
	if snap.Pinned == nil || snap.Pinned.ID != "p2" || snap.Pinned.Remaining != 6 {
		t.Fatalf("pinned %+v, want p2 with remaining 6", snap.Pinned)
	}
	evs, ok, err := s.Since(ctx, "r1", 4)
	if err != nil || !ok || len(evs) != 8 {
		t.Fatalf("Since(4) = %d events, %v, %v; want 8", len(evs), ok, err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(5+i) || !contains(string(ev.Msg), fmt.Sprintf(`"seq":%d`, 5+i)) || !contains(string(ev.Msg), `"room":"r1"`) {
			t.Fatalf("event %d = %d %s", i, ev.Seq, ev.Msg)
		}
	}
	if _, ok, _ := s.Since(ctx, "r1", 13); ok {
		t.Fatal("Since ahead of the room must not be ok")
	}
	if evs, ok, _ := s.Since(ctx, "r1", 12); !ok || len(evs) != 0 {
		t.Fatalf("Since(current) = %d, %v; want none, ok", len(evs), ok)
	}
}

func testReplace(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 5, 6)
	if err := s.Pin(ctx, "r1", "p2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p2", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 60000}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Snapshot(ctx, "r1")
	created, err := s.PutRoom(ctx, "r1", inventory.RoomSpec{Title: "new", Products: []inventory.ProductSpec{{ID: "p1", Name: "One", Price: 7, Currency: "EUR", Stock: 9}}})
	if err != nil || created {
		t.Fatalf("replace: created %v, %v", created, err)
	}
	after, _ := s.Snapshot(ctx, "r1")
	if after.Seq != before.Seq+3 || after.Title != "new" || after.Pinned != nil || after.Sale != nil {
		t.Fatalf("after replace %+v; want seq %d (catalog, unpinned, sale ended), no pin, no sale", after, before.Seq+3)
	}
	if p := after.Products[0]; p.Remaining != 9 || p.V <= before.Products[0].V {
		t.Fatalf("product %+v: want remaining 9 and a higher v than %d", p, before.Products[0].V)
	}
	evs, _, _ := s.Since(ctx, "r1", before.Seq)
	if len(evs) != 3 || !contains(string(evs[0].Msg), `"type":"catalog"`) || !contains(string(evs[1].Msg), `"type":"unpinned"`) || !contains(string(evs[2].Msg), `"state":"ended"`) {
		t.Fatalf("replace events: %d", len(evs))
	}
}

func testOrdersPaging(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r1", 30)
	var want []string
	for i := range 20 {
		rec, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: fmt.Sprint(i), Product: "p1", Qty: 1})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rec.Order)
	}
	got := allOrders(t, s, "r1")
	if len(got) != 20 {
		t.Fatalf("%d orders, want 20", len(got))
	}
	for i, o := range got {
		if o.Order != want[i] || o.User != "u" || o.At == 0 {
			t.Fatalf("order %d = %+v, want id %s in purchase order", i, o, want[i])
		}
	}
	_, _, err := s.Orders(ctx, "r1", "not-an-order", 10)
	wantCode(t, err, protocol.CodeBadRequest)
	_, _, err = s.Orders(ctx, "nope", "", 10)
	wantCode(t, err, protocol.CodeNotFound)
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (func() bool {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
		return false
	})()
}
