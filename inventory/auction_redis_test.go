package inventory_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// waitEnded polls until the room's auction has ended (an ended event), for
// at most limit, and returns it.
func waitEnded(t *testing.T, s inventory.Store, room string, limit time.Duration) protocol.Auction {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, a := range auctionEvents(t, s, room) {
			if a.State == protocol.SaleEnded {
				return lastEnded(t, s, room)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ended auction in %s after %s", room, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func bidMessages(t *testing.T, msgs <-chan string, until time.Time) []protocol.Bid {
	t.Helper()
	var out []protocol.Bid
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return out
			}
			env, ok := protocol.ParseEnvelope([]byte(m))
			if !ok {
				t.Fatalf("bad envelope %q", m)
			}
			if env.Seq != 0 || !strings.HasPrefix(string(env.Msg), `{"type":"bid"`) {
				continue
			}
			var b protocol.Bid
			if err := json.Unmarshal(env.Msg, &b); err != nil {
				t.Fatal(err)
			}
			{
				if env.Key != protocol.BidKey(b.Auction) {
					t.Fatalf("bid message under key %q", env.Key)
				}
				out = append(out, b)
			}
		case <-time.After(time.Until(until)):
			return out
		}
	}
}

// Three nodes (stores) on one Redis, bidders on all of them at once: one
// winner, the highest bid, exactly one order, the unit accounted for; the
// bid messages come in v order with a growing current. The node that
// started the auction is closed (its timers die with it) before the end:
// the others end it from the shared index, on Redis's clock.
func TestRedisAuctionAcrossNodes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	starter := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix})
	nodes := []*inventory.RedisStore{newRedisStore(t, rdb, prefix), newRedisStore(t, rdb, prefix)}
	mustPut(t, starter, "r1", 1)
	msgs := subscribe(t, rdb, prefix, "r1")
	a, err := starter.StartAuction(ctx, "r1", inventory.AuctionSpec{Product: "p1", StartPrice: 100, Increment: 5, DurationMS: 5_000, ExtendMS: 1_000})
	if err != nil {
		t.Fatal(err)
	}
	starter.Close()

	const bidders = 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted []int64
	for i := range bidders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			amount := 100 + int64(i)*10
			_, err := nodes[i%2].Bid(ctx, inventory.BidRequest{Room: "r1", User: fmt.Sprintf("u%03d", i), ID: "b", Auction: a.ID, Amount: amount,
				Author: protocol.Author{ID: fmt.Sprintf("h%03d", i), Name: "n", Role: "viewer"}})
			switch code(err) {
			case "":
				mu.Lock()
				accepted = append(accepted, amount)
				mu.Unlock()
			case protocol.CodeBidTooLow:
			default:
				t.Errorf("bid: %v", err)
			}
		}()
	}
	wg.Wait()
	end := waitEnded(t, nodes[0], "r1", 15*time.Second)
	// Never early: the end's time (Redis's) is at or after the last ends_at.
	for _, env := range roomEvents(t, nodes[0], "r1") {
		var ev protocol.AuctionEvent
		if err := json.Unmarshal(env.Msg, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Auction != nil && ev.Auction.State == protocol.SaleEnded && ev.TS < ev.Auction.EndsAt {
			t.Fatalf("ended at %d, before its ends_at %d", ev.TS, ev.Auction.EndsAt)
		}
	}
	top := int64(100 + (bidders-1)*10)
	if end.Result == nil || end.Result.Outcome != protocol.OutcomeSold || end.Result.Amount != top || end.Result.Winner.ID != fmt.Sprintf("h%03d", bidders-1) {
		t.Fatalf("result %+v", end.Result)
	}
	if end.Bids != int64(len(accepted)) {
		t.Fatalf("auction counts %d bids, %d were accepted", end.Bids, len(accepted))
	}
	orders := allOrders(t, nodes[1], "r1")
	if len(orders) != 1 || orders[0].User != fmt.Sprintf("u%03d", bidders-1) || orders[0].Price != top || orders[0].Auction == nil || *orders[0].Auction != a.ID {
		t.Fatalf("orders %+v", orders)
	}
	if got := remaining(t, nodes[1], "r1", "p1"); got != 0 {
		t.Fatalf("remaining %d", got)
	}
	bids := bidMessages(t, msgs, time.Now().Add(500*time.Millisecond))
	if len(bids) != len(accepted) {
		t.Fatalf("%d bid messages for %d accepted bids", len(bids), len(accepted))
	}
	for i, b := range bids {
		if b.V != int64(i+1) || b.Bids != b.V || (i > 0 && b.Current <= bids[i-1].Current) {
			t.Fatalf("bid message %d out of order: %+v after %+v", i, b, bids[max(i-1, 0)])
		}
	}
	// Soon nothing is pending in the index.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := rdb.ZCard(ctx, prefix+"auction-timers").Result()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index holds %d entries (%v) after the end", n, err)
		}
	}
}

// Redis killed and restarted (append-only file, fsync always) mid-auction:
// every bid it acknowledged is still there, bidding goes on, and the
// auction ends once with the last leader's order.
func TestRedisAuctionSurvivesRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithAppendOnly())
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	s := newRedisStore(t, rdb, prefix)
	other := newRedisStore(t, rdb, prefix)
	mustPut(t, s, "r1", 1)
	a, err := s.StartAuction(ctx, "r1", inventory.AuctionSpec{Product: "p1", StartPrice: 100, Increment: 1, DurationMS: 10_000, ExtendMS: 0})
	if err != nil {
		t.Fatal(err)
	}
	bid := func(st *inventory.RedisStore, i int) error {
		_, err := st.Bid(ctx, inventory.BidRequest{Room: "r1", User: fmt.Sprintf("u%d", i), ID: "b", Auction: a.ID, Amount: 100 + int64(i),
			Author: protocol.Author{ID: fmt.Sprintf("h%d", i), Name: "n", Role: "viewer"}})
		return err
	}
	for i := range 20 {
		if err := bid(s, i); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	if err := bid(s, 20); err == nil {
		t.Fatal("a bid succeeded with Redis down")
	}
	srv.Restart()
	snap, err := other.Snapshot(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if sa := snap.Auction; sa == nil || sa.Bids != 20 || *sa.Current != 119 || sa.Leader.ID != "h19" {
		t.Fatalf("auction after the restart %+v", sa)
	}
	// The refused bid may be retried with its id; it took nothing before.
	for i := 20; i < 25; i++ {
		if err := bid(other, i); err != nil {
			t.Fatal(err)
		}
	}
	end := waitEnded(t, other, "r1", 15*time.Second)
	if end.Result.Amount != 124 || end.Result.Winner.ID != "h24" || end.Bids != 25 {
		t.Fatalf("ended %+v %+v", end, end.Result)
	}
	if n := len(allOrders(t, other, "r1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// The scripts build the auction and bid JSON by hand: the same timeline on
// both stores, on the same fake clock, publishes the same envelopes byte
// for byte, but for the ids (UUIDs) each store draws.
func TestAuctionEnvelopesMatchAcrossStores(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	t0 := time.UnixMilli(time.Now().UnixMilli())
	mclk, rclk := clock.NewFake(t0), clock.NewFake(t0)
	rec := &recorder{}
	mem := inventory.NewMemoryStore(inventory.MemoryConfig{Clock: mclk, Publisher: rec})
	defer mem.Close()
	rs := newRedisStore(t, rdb, prefix)
	inventory.SetAuctionClock(rs, func() int64 { return rclk.Now().UnixMilli() })
	msgs := subscribe(t, rdb, prefix, "r1")
	big := int64(protocol.MaxAmount)
	run := func(s interface {
		inventory.Store
		inventory.Auctioneer
	}, clk *clock.Fake, tick func(id string)) {
		mustPut(t, s, "r1", 2)
		a, err := s.StartAuction(ctx, "r1", inventory.AuctionSpec{Product: "p1", StartPrice: big - 100, Increment: 7, DurationMS: 5_000, ExtendMS: 3_000, ReservePrice: big - 35, StartsInMS: 1_000})
		if err != nil {
			t.Fatal(err)
		}
		// Whole seconds, ticking after each as a timer would at its
		// instant (every instant here falls on one).
		step := func(n int) {
			for range n {
				clk.Advance(time.Second)
				tick(a.ID)
			}
		}
		step(1)
		for i, amt := range [][2]int64{{big - 100, big - 40}, {big - 90, big - 45}, {big - 33, 0}} {
			name := fmt.Sprintf(`N "%d" <ü>`, i)
			if _, err := s.Bid(ctx, inventory.BidRequest{Room: "r1", User: fmt.Sprintf("u%d", i), ID: "b", Auction: a.ID, Amount: amt[0], Max: amt[1],
				Author: protocol.Author{ID: fmt.Sprintf("h%d", i), Name: name, Role: "viewer"}}); err != nil {
				t.Fatal(err)
			}
			step(2)
		}
		step(10)
		_, err = s.StartAuction(ctx, "r1", inventory.AuctionSpec{Product: "p1", StartPrice: 1, Increment: 1, DurationMS: 5_000, SuddenDeath: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.StopAuction(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
	}
	run(mem, mclk, func(string) {})
	run(rs, rclk, func(id string) {
		if err := inventory.TickAuction(ctx, rs, "r1", id); err != nil {
			t.Fatal(err)
		}
	})
	// stock+scheduled, live, 3 bids, ended (sold), stock+live, stock+ended
	if len(rec.msgs) != 11 {
		t.Fatalf("memory published %d envelopes, want 11: %q", len(rec.msgs), rec.msgs)
	}
	var got []string
	for len(got) < len(rec.msgs) {
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("Redis published %d envelopes, memory %d", len(got), len(rec.msgs))
		}
	}
	norm := func(s string) string { return uuidRE.ReplaceAllString(s, "<uuid>") }
	for i := range got {
		if norm(got[i]) != norm(rec.msgs[i]) {
			t.Fatalf("envelope %d differs:\nredis  %s\nmemory %s", i, got[i], rec.msgs[i])
		}
	}
}

// Redis down across the auction's end: when it is back, the end happens
// once (a bid or a node's poll makes it, whichever comes first), the late
// bid is refused, and the leader's order is in the log once.
func TestRedisAuctionEndsAfterOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithAppendOnly())
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	a1, a2 := newRedisStore(t, rdb, prefix), newRedisStore(t, rdb, prefix)
	mustPut(t, a1, "r1", 1)
	a, err := a1.StartAuction(ctx, "r1", inventory.AuctionSpec{Product: "p1", StartPrice: 100, Increment: 10, DurationMS: 5_000})
	if err != nil {
		t.Fatal(err)
	}
	author := protocol.Author{ID: "h", Name: "n", Role: "viewer"}
	if _, err := a2.Bid(ctx, inventory.BidRequest{Room: "r1", User: "ann", ID: "b", Auction: a.ID, Amount: 100, Author: author}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	for time.Now().UnixMilli() < a.EndsAt+500 {
		time.Sleep(50 * time.Millisecond)
	}
	srv.Restart()
	var late error
	for { // the client reconnects on its own; until then the bid fails as unavailable
		_, late = a2.Bid(ctx, inventory.BidRequest{Room: "r1", User: "bob", ID: "b", Auction: a.ID, Amount: 500, Author: author})
		if code(late) != protocol.CodeUnavailable && code(late) != protocol.CodeOverloaded {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantCode(t, late, protocol.CodeAuctionNotLive)
	end := waitEnded(t, a1, "r1", 10*time.Second)
	if end.Result.Outcome != protocol.OutcomeSold || end.Result.Amount != 100 || end.Bids != 1 {
		t.Fatalf("ended %+v %+v", end, end.Result)
	}
	time.Sleep(500 * time.Millisecond) // a few polls of both nodes more
	lastEnded(t, a1, "r1")
	if n := len(allOrders(t, a2, "r1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}
