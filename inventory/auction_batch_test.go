package inventory_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// Bids of many connections go to Redis together, and each gets its own
// answer. A store with one bid pipeline is held in its first pipeline (the
// gate) while 220 bids on 100 auctions queue behind it; released, they go
// as one pipeline, and every bid gets the answer its own auction gives:
// a resent bid its first answer (idempotency), a new bid the lead at its
// amount, a low bid bid_too_low with its auction's min_bid, a bid naming
// another room's auction not_found. Each room's auction then shows its
// own bids only. Answers do not depend on the order within the pipeline:
// each room gets one bid that can change it.
func TestRedisBidsPipelined(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	// setup is another node on the same keys, without the gate.
	setup := newRedisStore(t, redistest.NewClient(t, srv.Addr()), prefix)
	gated := redistest.NewClient(t, srv.Addr())
	hook := newGateHook()
	gated.AddHook(hook)
	s := inventory.NewRedisStore(gated, inventory.RedisConfig{KeyPrefix: prefix, BuyPipelines: 1})
	opened := false
	t.Cleanup(func() {
		if !opened {
			close(hook.gate)
		}
		s.Close()
	})

	const rooms = 100
	type room struct {
		name, auction string
		inc           int64
		first         inventory.BidReceipt // the bid placed before
	}
	rs := make([]room, rooms)
	for i := range rs {
		r := &rs[i]
		r.name, r.inc = fmt.Sprintf("b%d", i), 1+int64(i%7)
		mustPut(t, setup, r.name, 1)
		a, err := setup.StartAuction(ctx, r.name, inventory.AuctionSpec{Product: "p1", StartPrice: 100 + int64(i), Increment: r.inc, DurationMS: 60_000})
		if err != nil {
			t.Fatal(err)
		}
		r.auction = a.ID
		if r.first, err = setup.Bid(ctx, bidReq(r.name, "lead", "pre", a.ID, 100+2*int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, setup, "held", 1)
	held, err := setup.StartAuction(ctx, "held", spec30s("p1"))
	if err != nil {
		t.Fatal(err)
	}

	// The held pipeline: one bid, waiting at the gate.
	heldDone := make(chan error, 1)
	go func() {
		_, err := s.Bid(ctx, bidReq("held", "h", "1", held.ID, 100))
		heldDone <- err
	}()
	select {
	case <-hook.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first bid's pipeline never reached Redis")
	}

	type call struct {
		room int
		kind string // "resend", "new", "low", "other"
		req  inventory.BidRequest
		rec  inventory.BidReceipt
		err  error
	}
	var calls []*call
	for i, r := range rs {
		calls = append(calls, &call{room: i, kind: "resend", req: bidReq(r.name, "lead", "pre", r.auction, r.first.Amount)})
		if i%2 == 0 {
			calls = append(calls, &call{room: i, kind: "new", req: bidReq(r.name, "new", "1", r.auction, r.first.Current+r.inc*int64(1+i%3))})
		} else {
			calls = append(calls, &call{room: i, kind: "low", req: bidReq(r.name, "low", "1", r.auction, r.first.Current+r.inc-1)})
		}
		if i%5 == 0 {
			other := rs[(i+1)%rooms].auction
			calls = append(calls, &call{room: i, kind: "other", req: bidReq(r.name, "other", "1", other, 10_000)})
		}
	}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.rec, c.err = s.Bid(ctx, c.req)
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); inventory.QueuedBids(s) < len(calls); {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bids queued behind the held pipeline", inventory.QueuedBids(s), len(calls))
		}
		time.Sleep(5 * time.Millisecond)
	}
	opened = true
	close(hook.gate)
	wg.Wait()
	if err := <-heldDone; err != nil {
		t.Fatalf("the held bid: %v", err)
	}
	if n := len(hook.entered); n != 1 {
		t.Errorf("the %d queued bids went in %d pipelines, want 1", len(calls), n)
	}

	for _, c := range calls {
		r := rs[c.room]
		what := fmt.Sprintf("room %s, %s bid %d", r.name, c.kind, c.req.Amount)
		switch c.kind {
		case "resend":
			if c.err != nil || c.rec != r.first {
				t.Errorf("%s: %+v, %v; want its first answer %+v", what, c.rec, c.err, r.first)
			}
		case "new":
			if c.err != nil || c.rec.Amount != c.req.Amount || !c.rec.Leading || c.rec.Current != c.req.Amount || c.rec.EndsAt != r.first.EndsAt {
				t.Errorf("%s: %+v, %v; want leading at %d", what, c.rec, c.err, c.req.Amount)
			}
		case "low":
			if pe := protocol.AsError(c.err); code(c.err) != protocol.CodeBidTooLow || pe.MinBid != r.first.Current+r.inc {
				t.Errorf("%s: %+v, %v; want bid_too_low, min_bid %d", what, c.rec, c.err, r.first.Current+r.inc)
			}
		case "other":
			if code(c.err) != protocol.CodeNotFound {
				t.Errorf("%s on another room's auction: %+v, %v; want not_found", what, c.rec, c.err)
			}
		}
	}
	for i, r := range rs {
		a := snapAuction(t, setup, r.name)
		wantCur, wantBids := r.first.Current, int64(1)
		if i%2 == 0 {
			wantCur, wantBids = r.first.Current+r.inc*int64(1+i%3), 2
		}
		if a == nil || a.ID != r.auction || a.Current == nil || *a.Current != wantCur || a.Bids != wantBids {
			t.Errorf("room %s: auction %+v, want current %d after %d bids", r.name, a, wantCur, wantBids)
		}
	}
}

func bidReq(room, user, id, auction string, amount int64) inventory.BidRequest {
	return inventory.BidRequest{Room: room, User: user, ID: id, Auction: auction, Amount: amount,
		Author: protocol.Author{ID: "h-" + user, Name: user, Role: "viewer"}}
}
