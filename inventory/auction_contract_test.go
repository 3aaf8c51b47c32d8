package inventory_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// auctionStore is a store with auctions (both stores are).
type auctionStore interface {
	inventory.Store
	inventory.Auctioneer
}

// auctionEnv is one store on a fake clock. For the memory store the clock
// runs its timers; the Redis store's scripts take the clock's time, and
// advance ticks every auction started, as a timer or a poll would.
type auctionEnv struct {
	s    auctionStore
	clk  *clock.Fake
	tick func(room, id string) error // nil: the clock's timers do it

	mu      sync.Mutex
	started map[string]string // auction id -> room
}

type auctionEnvFactory func(t *testing.T) *auctionEnv

// auctionT0 is the fake clocks' start: now, so that the Redis store's
// other scripts (sales), which keep Redis TIME, agree with the auction
// scripts' fake clock for the minute a test takes.
var auctionT0 = time.UnixMilli(time.Now().UnixMilli())

func (e *auctionEnv) advance(t *testing.T, d time.Duration) {
	t.Helper()
	e.clk.Advance(d)
	if e.tick == nil {
		return
	}
	e.mu.Lock()
	started := make(map[string]string, len(e.started))
	for id, room := range e.started {
		started[id] = room
	}
	e.mu.Unlock()
	for id, room := range started {
		if err := e.tick(room, id); err != nil {
			t.Fatalf("tick: %v", err)
		}
	}
}

// at moves the clock to ms after auctionT0.
func (e *auctionEnv) at(t *testing.T, ms int64) {
	t.Helper()
	d := auctionT0.Add(time.Duration(ms) * time.Millisecond).Sub(e.clk.Now())
	if d < 0 {
		t.Fatalf("clock is past %d ms", ms)
	}
	e.advance(t, d)
}

func (e *auctionEnv) start(t *testing.T, room string, spec inventory.AuctionSpec) protocol.Auction {
	t.Helper()
	a, err := e.s.StartAuction(ctx, room, spec)
	if err != nil {
		t.Fatalf("StartAuction: %v", err)
	}
	e.mu.Lock()
	e.started[a.ID] = room
	e.mu.Unlock()
	return a
}

func (e *auctionEnv) bid(t *testing.T, room, user, id, auction string, amount, max int64) (inventory.BidReceipt, error) {
	t.Helper()
	return e.s.Bid(ctx, inventory.BidRequest{Room: room, User: user, ID: id, Auction: auction, Amount: amount, Max: max,
		Author: protocol.Author{ID: "h-" + user, Name: user, Role: "viewer"}})
}

func (e *auctionEnv) mustBid(t *testing.T, room, user, id, auction string, amount, max int64) inventory.BidReceipt {
	t.Helper()
	rec, err := e.bid(t, room, user, id, auction, amount, max)
	if err != nil {
		t.Fatalf("bid %s %d/%d: %v", user, amount, max, err)
	}
	return rec
}

func runAuctionContract(t *testing.T, newEnv auctionEnvFactory) {
	for name, f := range map[string]func(*testing.T, *auctionEnv){
		"SoldToHighest":     testAuctionSold,
		"Extension":         testAuctionExtension,
		"SuddenDeath":       testAuctionSuddenDeath,
		"ReserveNotMet":     testAuctionReserveNotMet,
		"ReserveMet":        testAuctionReserveMet,
		"Cancel":            testAuctionCancel,
		"TwoProxies":        testAuctionTwoProxies,
		"EqualMax":          testAuctionEqualMax,
		"ProxyAgainstBid":   testAuctionProxyAgainstManual,
		"LeaderRaises":      testAuctionLeaderRaises,
		"IdempotentBids":    testAuctionIdempotent,
		"Rules":             testAuctionRules,
		"Scheduled":         testAuctionScheduled,
		"EndsOnce":          testAuctionEndsOnce,
		"ReplaceRemovesIt":  testAuctionReplaced,
		"ConcurrentBidders": testAuctionConcurrent,
		"RoomDeleted":       testAuctionRoomDeleted,
	} {
		t.Run(name, func(t *testing.T) { t.Parallel(); f(t, newEnv(t)) })
	}
}

func spec30s(product string) inventory.AuctionSpec {
	return inventory.AuctionSpec{Product: product, StartPrice: 100, Increment: 10, DurationMS: 30_000, ExtendMS: 10_000}
}

// auctionEvents are the room's auction events, in order.
func auctionEvents(t *testing.T, s inventory.Store, room string) []protocol.Auction {
	t.Helper()
	evs, ok, err := s.Since(ctx, room, 0)
	if err != nil || !ok {
		t.Fatalf("Since(0): %v %v", ok, err)
	}
	var out []protocol.Auction
	for _, e := range evs {
		var ev protocol.AuctionEvent
		if err := json.Unmarshal(e.Msg, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == protocol.TypeAuction {
			out = append(out, *ev.Auction)
		}
	}
	return out
}

func lastEnded(t *testing.T, s inventory.Store, room string) protocol.Auction {
	t.Helper()
	evs := auctionEvents(t, s, room)
	var ended []protocol.Auction
	for _, a := range evs {
		if a.State == protocol.SaleEnded {
			ended = append(ended, a)
		}
	}
	if len(ended) != 1 {
		t.Fatalf("%d ended auction events, want 1: %+v", len(ended), evs)
	}
	return ended[0]
}

func snapAuction(t *testing.T, s inventory.Store, room string) *protocol.Auction {
	t.Helper()
	snap, err := s.Snapshot(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Auction
}

func wantBid(t *testing.T, got inventory.BidReceipt, amount int64, leading bool, current int64) {
	t.Helper()
	if got.Amount != amount || got.Leading != leading || got.Current != current {
		t.Fatalf("bid = %+v, want amount %d leading %v current %d", got, amount, leading, current)
	}
}

func wantMinBid(t *testing.T, err error, min int64) {
	t.Helper()
	wantCode(t, err, protocol.CodeBidTooLow)
	if pe := protocol.AsError(err); pe.MinBid != min {
		t.Fatalf("min_bid = %d, want %d", pe.MinBid, min)
	}
}

// The highest bid wins: the unit stays taken, one order with the auction
// set and no sale, the ended event carries the result, and the record
// names the winner for GET.
func testAuctionSold(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 3)
	a := e.start(t, "r1", spec30s("p1"))
	if a.State != protocol.SaleLive || a.Current != nil || a.Leader != nil || a.Bids != 0 || !a.ReserveMet || a.Result != nil {
		t.Fatalf("started auction %+v", a)
	}
	if a.EndsAt-a.StartsAt != 30_000 || a.StartsAt != auctionT0.UnixMilli() {
		t.Fatalf("times %d..%d", a.StartsAt, a.EndsAt)
	}
	if got := remaining(t, e.s, "r1", "p1"); got != 2 {
		t.Fatalf("remaining %d after start, want 2 (one unit held)", got)
	}
	if sa := snapAuction(t, e.s, "r1"); sa == nil || sa.ID != a.ID {
		t.Fatalf("snapshot auction %+v", sa)
	}
	_, err := e.bid(t, "r1", "ann", "b1", a.ID, 99, 0)
	wantMinBid(t, err, 100)
	wantBid(t, e.mustBid(t, "r1", "ann", "b2", a.ID, 100, 0), 100, true, 100)
	_, err = e.bid(t, "r1", "bob", "b1", a.ID, 105, 0)
	wantMinBid(t, err, 110)
	wantBid(t, e.mustBid(t, "r1", "bob", "b2", a.ID, 150, 0), 150, true, 150)
	sa := snapAuction(t, e.s, "r1")
	if sa.Current == nil || *sa.Current != 150 || sa.Leader == nil || sa.Leader.ID != "h-bob" || sa.Bids != 2 {
		t.Fatalf("snapshot auction after bids %+v", sa)
	}
	e.at(t, 30_000)
	end := lastEnded(t, e.s, "r1")
	r := end.Result
	if r == nil || r.Outcome != protocol.OutcomeSold || r.Amount != 150 || r.Winner == nil || r.Winner.ID != "h-bob" || r.Order == "" {
		t.Fatalf("result %+v", r)
	}
	orders := allOrders(t, e.s, "r1")
	if len(orders) != 1 {
		t.Fatalf("%d orders", len(orders))
	}
	o := orders[0]
	if o.Order != r.Order || o.User != "bob" || o.Product != "p1" || o.Qty != 1 || o.Price != 150 || o.Sale != nil || o.Auction == nil || *o.Auction != a.ID || o.At != auctionT0.UnixMilli()+30_000 {
		t.Fatalf("order %+v", o)
	}
	if got := remaining(t, e.s, "r1", "p1"); got != 2 {
		t.Fatalf("remaining %d after the sale, want 2", got)
	}
	if sa := snapAuction(t, e.s, "r1"); sa != nil {
		t.Fatalf("snapshot auction after the end %+v", sa)
	}
	rec, err := e.s.Auction(ctx, "r1", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Winner != "bob" || rec.Order == nil || rec.Order.Order != o.Order || rec.Order.Price != 150 || rec.Auction.State != protocol.SaleEnded {
		t.Fatalf("record %+v order %+v", rec, rec.Order)
	}
	_, err = e.bid(t, "r1", "cid", "b1", a.ID, 1000, 0)
	wantCode(t, err, protocol.CodeAuctionNotLive)
}

// A bid with less than extend_ms left sets ends_at to its time + extend_ms;
// earlier bids leave it; the auction ends at the last ends_at.
func testAuctionExtension(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	t0 := auctionT0.UnixMilli()
	e.at(t, 5_000)
	if got := e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 0); got.EndsAt != t0+30_000 {
		t.Fatalf("early bid moved ends_at to %d", got.EndsAt)
	}
	e.at(t, 20_000) // exactly extend_ms left: no extension
	if got := e.mustBid(t, "r1", "bob", "b1", a.ID, 110, 0); got.EndsAt != t0+30_000 {
		t.Fatalf("bid with extend_ms left moved ends_at to %d", got.EndsAt)
	}
	e.at(t, 29_999)
	got := e.mustBid(t, "r1", "ann", "b2", a.ID, 120, 0)
	if got.EndsAt != t0+39_999 {
		t.Fatalf("last-second bid: ends_at %d, want %d", got.EndsAt, t0+39_999)
	}
	e.at(t, 35_000) // past the first ends_at: still live
	if sa := snapAuction(t, e.s, "r1"); sa == nil || sa.State != protocol.SaleLive || sa.EndsAt != t0+39_999 {
		t.Fatalf("auction after the old end %+v", sa)
	}
	e.at(t, 39_998)
	if got := e.mustBid(t, "r1", "bob", "b2", a.ID, 130, 0); got.EndsAt != t0+49_998 {
		t.Fatalf("second extension: ends_at %d", got.EndsAt)
	}
	e.at(t, 49_998)
	end := lastEnded(t, e.s, "r1")
	if end.EndsAt != t0+49_998 || end.Result.Winner.ID != "h-bob" || end.Result.Amount != 130 || end.Bids != 4 {
		t.Fatalf("ended %+v %+v", end, end.Result)
	}
}

// With sudden_death nothing extends, and at ends_at a bid is refused even
// when the end was not made yet (the bid makes it).
func testAuctionSuddenDeath(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	sp := spec30s("p1")
	sp.SuddenDeath = true
	a := e.start(t, "r1", sp)
	t0 := auctionT0.UnixMilli()
	e.at(t, 29_999)
	if got := e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 0); got.EndsAt != t0+30_000 {
		t.Fatalf("sudden death extended to %d", got.EndsAt)
	}
	e.clk.Advance(time.Millisecond) // no tick: the end is not announced yet (Redis)
	_, err := e.bid(t, "r1", "bob", "b1", a.ID, 500, 0)
	wantCode(t, err, protocol.CodeAuctionNotLive)
	end := lastEnded(t, e.s, "r1")
	if end.Result.Amount != 100 || end.Result.Winner.ID != "h-ann" || end.Bids != 1 {
		t.Fatalf("ended %+v %+v", end, end.Result)
	}
	e.at(t, 31_000)
	lastEnded(t, e.s, "r1") // still one
	if n := len(allOrders(t, e.s, "r1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

func testAuctionReserveNotMet(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	sp := spec30s("p1")
	sp.ReservePrice = 500
	a := e.start(t, "r1", sp)
	if a.ReserveMet {
		t.Fatal("reserve_met before any bid")
	}
	e.mustBid(t, "r1", "ann", "b1", a.ID, 200, 490) // a proxy does not jump to the hidden reserve
	wantBid(t, e.mustBid(t, "r1", "bob", "b1", a.ID, 300, 0), 300, false, 310)
	if sa := snapAuction(t, e.s, "r1"); sa.ReserveMet || *sa.Current != 310 {
		t.Fatalf("auction %+v", sa)
	}
	if got := remaining(t, e.s, "r1", "p1"); got != 0 {
		t.Fatalf("remaining %d while held", got)
	}
	e.at(t, 30_000)
	end := lastEnded(t, e.s, "r1")
	if end.Result.Outcome != protocol.OutcomeUnsold || end.Result.Winner != nil || end.Result.Order != "" {
		t.Fatalf("result %+v", end.Result)
	}
	if n := len(allOrders(t, e.s, "r1")); n != 0 {
		t.Fatalf("%d orders", n)
	}
	if got := remaining(t, e.s, "r1", "p1"); got != 1 {
		t.Fatalf("remaining %d after unsold, want the unit back", got)
	}
}

func testAuctionReserveMet(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	sp := spec30s("p1")
	sp.ReservePrice = 500
	a := e.start(t, "r1", sp)
	e.mustBid(t, "r1", "ann", "b1", a.ID, 400, 0)
	e.mustBid(t, "r1", "bob", "b1", a.ID, 500, 0)
	if sa := snapAuction(t, e.s, "r1"); !sa.ReserveMet {
		t.Fatalf("auction %+v", sa)
	}
	e.at(t, 30_000)
	end := lastEnded(t, e.s, "r1")
	if end.Result.Outcome != protocol.OutcomeSold || end.Result.Amount != 500 || !end.ReserveMet {
		t.Fatalf("result %+v", end.Result)
	}
	if n := len(allOrders(t, e.s, "r1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
	if got := remaining(t, e.s, "r1", "p1"); got != 0 {
		t.Fatalf("remaining %d", got)
	}
}

// auction_stop cancels without bids (the unit comes back) and refuses
// with bids; with no auction it is not_found.
func testAuctionCancel(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 2)
	_, err := e.s.StopAuction(ctx, "r1")
	wantCode(t, err, protocol.CodeNotFound)
	a := e.start(t, "r1", spec30s("p1"))
	stopped, err := e.s.StopAuction(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if stopped.ID != a.ID || stopped.State != protocol.SaleEnded || stopped.Result == nil || stopped.Result.Outcome != protocol.OutcomeUnsold {
		t.Fatalf("stopped %+v", stopped)
	}
	if got := remaining(t, e.s, "r1", "p1"); got != 2 {
		t.Fatalf("remaining %d after cancel", got)
	}
	if sa := snapAuction(t, e.s, "r1"); sa != nil {
		t.Fatalf("snapshot auction %+v", sa)
	}
	sp := spec30s("p1")
	sp.StartsInMS = 60_000
	e.start(t, "r1", sp) // scheduled: may be cancelled
	if _, err := e.s.StopAuction(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	b := e.start(t, "r1", spec30s("p1"))
	e.mustBid(t, "r1", "ann", "b1", b.ID, 100, 0)
	_, err = e.s.StopAuction(ctx, "r1")
	wantCode(t, err, protocol.CodeBadRequest)
	if sa := snapAuction(t, e.s, "r1"); sa == nil || sa.ID != b.ID || sa.State != protocol.SaleLive {
		t.Fatalf("a refused stop changed the auction: %+v", sa)
	}
	if got := remaining(t, e.s, "r1", "p1"); got != 1 {
		t.Fatalf("remaining %d", got)
	}
}

// Two proxies: the higher max leads at one increment over the other max,
// capped at the higher max.
func testAuctionTwoProxies(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	wantBid(t, e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 500), 100, true, 100)
	wantBid(t, e.mustBid(t, "r1", "bob", "b1", a.ID, 110, 300), 300, false, 310)
	wantBid(t, e.mustBid(t, "r1", "cid", "b1", a.ID, 320, 505), 505, true, 505) // capped at the higher max
	wantBid(t, e.mustBid(t, "r1", "dan", "b1", a.ID, 515, 900), 515, true, 515)
	e.at(t, 30_000)
	end := lastEnded(t, e.s, "r1")
	if end.Result.Winner.ID != "h-dan" || end.Result.Amount != 515 || end.Bids != 4 {
		t.Fatalf("ended %+v %+v", end, end.Result)
	}
}

// At equal max the earlier proxy leads, at that max.
func testAuctionEqualMax(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 300)
	wantBid(t, e.mustBid(t, "r1", "bob", "b1", a.ID, 200, 300), 300, false, 300)
	sa := snapAuction(t, e.s, "r1")
	if sa.Leader.ID != "h-ann" || *sa.Current != 300 {
		t.Fatalf("auction %+v", sa)
	}
	_, err := e.bid(t, "r1", "bob", "b2", a.ID, 305, 0)
	wantMinBid(t, err, 310)
}

// A manual bid against a proxy: the proxy answers one increment over it,
// up to its max; a bid equal to the max loses to it; above it leads.
func testAuctionProxyAgainstManual(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 500)
	wantBid(t, e.mustBid(t, "r1", "bob", "b1", a.ID, 400, 0), 400, false, 410)
	wantBid(t, e.mustBid(t, "r1", "bob", "b2", a.ID, 495, 0), 495, false, 500)
	_, err := e.bid(t, "r1", "bob", "b3", a.ID, 500, 0)
	wantMinBid(t, err, 510)
	wantBid(t, e.mustBid(t, "r1", "bob", "b4", a.ID, 510, 0), 510, true, 510)
	if sa := snapAuction(t, e.s, "r1"); sa.Leader.ID != "h-bob" || sa.Bids != 4 {
		t.Fatalf("auction %+v", sa)
	}
}

// The leader bidding again raises the current amount to its bid and keeps
// the higher of its maxes.
func testAuctionLeaderRaises(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 400)
	wantBid(t, e.mustBid(t, "r1", "ann", "b2", a.ID, 150, 0), 150, true, 150)
	wantBid(t, e.mustBid(t, "r1", "bob", "b1", a.ID, 300, 0), 300, false, 310) // ann's max 400 still holds
}

// A bid's id is its idempotency key per user: the first answer is given
// again, even after the state moved; unknown auctions are not remembered.
func testAuctionIdempotent(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	first := e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 0)
	e.mustBid(t, "r1", "bob", "b1", a.ID, 200, 0) // same id, another user: a new bid
	again := e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 0)
	if again != first {
		t.Fatalf("repeat %+v, first %+v", again, first)
	}
	_, err := e.bid(t, "r1", "cid", "low", a.ID, 150, 0)
	wantMinBid(t, err, 210)
	e.mustBid(t, "r1", "dan", "b1", a.ID, 300, 0)
	_, err = e.bid(t, "r1", "cid", "low", a.ID, 150, 0)
	wantMinBid(t, err, 210) // the first answer, though 310 is the minimum now
	if sa := snapAuction(t, e.s, "r1"); sa.Bids != 3 || *sa.Current != 300 {
		t.Fatalf("auction %+v", sa)
	}
	unknown := "00000000-0000-4000-8000-000000000000"
	_, err = e.bid(t, "r1", "eve", "x", unknown, 500, 0)
	wantCode(t, err, protocol.CodeNotFound)
	wantBid(t, e.mustBid(t, "r1", "eve", "x", a.ID, 500, 0), 500, true, 500)
}

// One auction per room; no auction of a product on sale, no sale of a
// product being auctioned; a unit in stock; bad input; unknown ids.
func testAuctionRules(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1, 5, 0)
	_, err := e.s.StartAuction(ctx, "nope", spec30s("p1"))
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.s.StartAuction(ctx, "r1", spec30s("zz"))
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.s.StartAuction(ctx, "r1", spec30s("p3"))
	wantCode(t, err, protocol.CodeSoldOut)
	for _, bad := range []func(*inventory.AuctionSpec){
		func(s *inventory.AuctionSpec) { s.StartPrice = 0 },
		func(s *inventory.AuctionSpec) { s.Increment = 0 },
		func(s *inventory.AuctionSpec) { s.DurationMS = 4_999 },
		func(s *inventory.AuctionSpec) { s.DurationMS = 600_001 },
		func(s *inventory.AuctionSpec) { s.ExtendMS = -1 },
		func(s *inventory.AuctionSpec) { s.ExtendMS = 60_001 },
		func(s *inventory.AuctionSpec) { s.StartsInMS = -1 },
		func(s *inventory.AuctionSpec) { s.ReservePrice = -1 },
	} {
		sp := spec30s("p1")
		bad(&sp)
		_, err := e.s.StartAuction(ctx, "r1", sp)
		wantCode(t, err, protocol.CodeBadRequest)
	}
	if _, err := e.s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p2", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 60_000}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.StartAuction(ctx, "r1", spec30s("p2"))
	wantCode(t, err, protocol.CodeBadRequest)
	if got := remaining(t, e.s, "r1", "p2"); got != 5 {
		t.Fatalf("refused auction took stock: %d", got)
	}
	a := e.start(t, "r1", spec30s("p1"))
	_, err = e.s.StartAuction(ctx, "r1", spec30s("p2"))
	wantCode(t, err, protocol.CodeBadRequest)
	if _, err := e.s.StopSale(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 60_000})
	wantCode(t, err, protocol.CodeBadRequest)
	for _, b := range []inventory.BidRequest{
		{Amount: 0}, {Amount: -5}, {Amount: 200, Max: 100}, {Amount: protocol.MaxAmount + 1},
	} {
		b.Room, b.User, b.ID, b.Auction = "r1", "ann", "bad", a.ID
		_, err := e.s.Bid(ctx, b)
		wantCode(t, err, protocol.CodeBadRequest)
	}
	_, err = e.bid(t, "r1", "ann", "b1", "not-a-uuid", 100, 0)
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.bid(t, "nope", "ann", "b1", a.ID, 100, 0)
	wantCode(t, err, protocol.CodeNotFound)
	if sa := snapAuction(t, e.s, "r1"); sa.Bids != 0 {
		t.Fatalf("refused bids counted: %+v", sa)
	}
	if _, err := e.s.Auction(ctx, "r1", "00000000-0000-4000-8000-000000000000"); code(err) != protocol.CodeNotFound {
		t.Fatalf("unknown auction: %v", err)
	}
	if rec, err := e.s.Auction(ctx, "r1", a.ID); err != nil || rec.Auction.ID != a.ID || rec.Order != nil {
		t.Fatalf("current auction: %+v %v", rec, err)
	}
}

// A scheduled auction holds its unit at once, refuses bids, goes live at
// starts_at (an event) and ends duration later.
func testAuctionScheduled(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	sp := spec30s("p1")
	sp.StartsInMS = 10_000
	a := e.start(t, "r1", sp)
	if a.State != protocol.SaleScheduled || a.StartsAt != auctionT0.UnixMilli()+10_000 || a.EndsAt != a.StartsAt+30_000 {
		t.Fatalf("scheduled %+v", a)
	}
	if got := remaining(t, e.s, "r1", "p1"); got != 0 {
		t.Fatalf("remaining %d", got)
	}
	_, err := e.bid(t, "r1", "ann", "b1", a.ID, 100, 0)
	wantCode(t, err, protocol.CodeAuctionNotLive)
	e.at(t, 10_000)
	wantBid(t, e.mustBid(t, "r1", "ann", "b2", a.ID, 100, 0), 100, true, 100)
	e.at(t, 40_000)
	evs := auctionEvents(t, e.s, "r1")
	var states []string
	for _, ev := range evs {
		states = append(states, ev.State)
	}
	if strings.Join(states, ",") != "scheduled,live,ended" {
		t.Fatalf("states %v", states)
	}
}

// However many callers race to end it, an auction ends once, with one
// order.
func testAuctionEndsOnce(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 0)
	e.clk.Advance(30 * time.Second)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 && e.tick != nil {
				if err := e.tick("r1", a.ID); err != nil {
					t.Error(err)
				}
				return
			}
			_, err := e.bid(t, "r1", fmt.Sprintf("u%d", i), "late", a.ID, 1000, 0)
			if code(err) != protocol.CodeAuctionNotLive {
				t.Errorf("late bid: %v", err)
			}
		}()
	}
	wg.Wait()
	lastEnded(t, e.s, "r1")
	if n := len(allOrders(t, e.s, "r1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

// A replace that removes the product ends its auction unsold; one that
// keeps it keeps the auction and its held unit.
func testAuctionReplaced(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 3, 1)
	a := e.start(t, "r1", spec30s("p1"))
	mustPut(t, e.s, "r1", 5, 1) // p1 stays, remaining becomes 5
	if sa := snapAuction(t, e.s, "r1"); sa == nil || sa.ID != a.ID {
		t.Fatalf("auction after a replace that keeps p1: %+v", sa)
	}
	if _, err := e.s.PutRoom(ctx, "r1", inventory.RoomSpec{Title: "x", Products: []inventory.ProductSpec{{ID: "p2", Name: "P2", Price: 1, Currency: "USD", Stock: 1}}}); err != nil {
		t.Fatal(err)
	}
	if sa := snapAuction(t, e.s, "r1"); sa != nil {
		t.Fatalf("auction of a removed product: %+v", sa)
	}
	end := lastEnded(t, e.s, "r1")
	if end.Result.Outcome != protocol.OutcomeUnsold {
		t.Fatalf("result %+v", end.Result)
	}
}

// Concurrent bidders with distinct amounts spaced by more than the
// increment: the highest always gets in, so it wins, with one order.
func testAuctionConcurrent(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	const n = 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.bid(t, "r1", fmt.Sprintf("u%02d", i), "b", a.ID, 100+int64(i)*20, 0)
			mu.Lock()
			defer mu.Unlock()
			switch code(err) {
			case "":
				accepted++
			case protocol.CodeBidTooLow:
			default:
				t.Errorf("bid: %v", err)
			}
		}()
	}
	wg.Wait()
	e.at(t, 40_000)
	end := lastEnded(t, e.s, "r1")
	top := int64(100 + (n-1)*20)
	if end.Result.Amount != top || end.Result.Winner.ID != fmt.Sprintf("h-u%02d", n-1) || end.Bids != int64(accepted) {
		t.Fatalf("result %+v bids %d accepted %d", end.Result, end.Bids, accepted)
	}
	if n := len(allOrders(t, e.s, "r1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

// Deleting a room takes its auction with it: nothing more can be bid, no
// order is made, and a room created again under the id has no auction.
func testAuctionRoomDeleted(t *testing.T, e *auctionEnv) {
	mustPut(t, e.s, "r1", 1)
	a := e.start(t, "r1", spec30s("p1"))
	e.mustBid(t, "r1", "ann", "b1", a.ID, 100, 0)
	if err := e.s.DeleteRoom(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	_, err := e.bid(t, "r1", "bob", "b1", a.ID, 200, 0)
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.s.Auction(ctx, "r1", a.ID)
	wantCode(t, err, protocol.CodeNotFound)
	e.at(t, 40_000)
	mustPut(t, e.s, "r1", 1)
	if sa := snapAuction(t, e.s, "r1"); sa != nil {
		t.Fatalf("re-created room has the auction %+v", sa)
	}
	if n := len(allOrders(t, e.s, "r1")); n != 0 {
		t.Fatalf("%d orders", n)
	}
	e.start(t, "r1", spec30s("p1")) // a new one may start
}
