package inventory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// newRedisStore returns a store with a key prefix of its own on srv.
func newRedisStore(tb testing.TB, rdb *redis.Client, prefix string) *inventory.RedisStore {
	tb.Helper()
	s := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix})
	tb.Cleanup(func() { s.Close() })
	return s
}

func uniquePrefix() string { return "t-" + uuid.NewString() + ":" }

func TestRedisStoreContract(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	runContract(t, func(t *testing.T) inventory.Store {
		return newRedisStore(t, rdb, uniquePrefix())
	})
}

// roomEvents returns every event the room still holds.
func roomEvents(t *testing.T, s inventory.Store, room string) []protocol.Envelope {
	t.Helper()
	evs, ok, err := s.Since(ctx, room, 0)
	if err != nil || !ok {
		t.Fatalf("Since(0): %v %v", ok, err)
	}
	return evs
}

// The scripts build event JSON by hand; it must be what protocol.Marshal
// produces for the same event, byte for byte (with big numbers, where a
// float formatting would show), except that an empty catalog is [] where
// Marshal omits it.
func TestRedisEventJSONMatchesProtocol(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := newRedisStore(t, redistest.NewClient(t, srv.Addr()), uniquePrefix())
	big := int64(protocol.MaxAmount)
	spec := inventory.RoomSpec{Title: `Quotes "and" <html> & ünïcode`, Products: []inventory.ProductSpec{
		{ID: "p.1", Name: `A "tote" <b>`, Price: big, Currency: "USD", Image: "/i?a=1&b=2", Stock: big},
		{ID: "p-2", Name: "Ünïcode ✓", Price: 0, Currency: "EUR", Stock: 3},
	}}
	mustPutSpec(t, s, "r1", spec)
	mustPutSpec(t, s, "r1", spec) // catalog event
	if err := s.Pin(ctx, "r1", "p.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p-2", Price: big, Quantity: big, PerUserLimit: big, DurationMS: protocol.MaxDuration}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StopSale(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	mustPutSpec(t, s, "r1", inventory.RoomSpec{Title: "empty"})
	evs := roomEvents(t, s, "r1")
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6 (catalog, pinned, sale live, sale ended, unpinned, catalog)", len(evs))
	}
	for i, env := range evs {
		var ev protocol.Event
		if err := json.Unmarshal(env.Msg, &ev); err != nil {
			t.Fatalf("event %d %s: %v", i, env.Msg, err)
		}
		want := protocol.EncodeEvent(ev) // an empty catalog with "products":[]
		if !bytes.Equal(env.Msg, want) {
			t.Errorf("event %d:\n got %s\nwant %s", i, env.Msg, want)
		}
		if ev.Seq != env.Seq || ev.Seq != uint64(i+1) || ev.Room != "r1" || ev.TS < 1e12 || ev.TS > 1e13 {
			t.Errorf("event %d: seq %d (envelope %d), room %q, ts %d", i, ev.Seq, env.Seq, ev.Room, ev.TS)
		}
	}
	snap, err := s.Snapshot(ctx, "r1")
	if err != nil || snap.Title != "empty" || snap.Products == nil || len(snap.Products) != 0 || snap.Seq != 6 {
		t.Fatalf("snapshot %+v, %v: want the empty catalog at seq 6", snap, err)
	}
}

func mustPutSpec(t *testing.T, s inventory.Store, room string, spec inventory.RoomSpec) {
	t.Helper()
	if _, err := s.PutRoom(ctx, room, spec); err != nil {
		t.Fatalf("PutRoom: %v", err)
	}
}

// subscribe returns the messages published on a room's channel.
func subscribe(t *testing.T, rdb *redis.Client, prefix, room string) <-chan string {
	t.Helper()
	ps := rdb.Subscribe(ctx, rkeys.New(prefix).Events(room))
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(ctx); err != nil { // the confirmation
		t.Fatal(err)
	}
	out := make(chan string, 1024)
	go func() {
		defer close(out)
		for {
			m, err := ps.ReceiveMessage(context.Background())
			if err != nil {
				return // closed
			}
			out <- m.Payload
		}
	}()
	return out
}

// Purchases publish a stock message each, and the purchase ticker at most
// once per TickerInterval, with the buyer masked, as volatile envelopes.
func TestRedisPublishesStockAndSampledTicker(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	s := newRedisStore(t, rdb, prefix)
	mustPut(t, s, "r1", 100)
	msgs := subscribe(t, rdb, prefix, "r1")
	start := time.Now()
	const n = 10
	for i := range n {
		if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "jane.doe@example.com", ID: fmt.Sprint(i), Product: "p1", Qty: 1}); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	var stock, ticker int
	lastV := int64(0)
	for stock < n {
		select {
		case m := <-msgs:
			env, ok := protocol.ParseEnvelope([]byte(m))
			if !ok || env.Seq != 0 {
				t.Fatalf("not a volatile envelope: %q", m)
			}
			switch env.Key {
			case protocol.StockKey("p1"):
				var st protocol.Stock
				if err := json.Unmarshal(env.Msg, &st); err != nil || !bytes.Equal(protocol.Marshal(st), env.Msg) {
					t.Fatalf("stock message %s (%v)", env.Msg, err)
				}
				if st.V <= lastV || st.Remaining != int64(100-stock-1) {
					t.Fatalf("stock %+v after %d purchases", st, stock)
				}
				lastV = st.V
				stock++
			case protocol.PurchaseKey:
				var p protocol.Purchase
				if err := json.Unmarshal(env.Msg, &p); err != nil || !bytes.Equal(protocol.Marshal(p), env.Msg) {
					t.Fatalf("purchase message %s (%v)", env.Msg, err)
				}
				if p.Buyer != "j***" || strings.Contains(string(env.Msg), "jane") {
					t.Fatalf("buyer not masked: %s", env.Msg)
				}
				ticker++
			default:
				t.Fatalf("unexpected message %q", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d stock messages of %d", stock, n)
		}
	}
	if maxTicks := int(elapsed/inventory.TickerInterval) + 1; ticker < 1 || ticker > maxTicks {
		t.Fatalf("%d ticker messages in %v, want 1 to %d", ticker, elapsed, maxTicks)
	}
}

// A scheduled sale goes live and ends at its instants exactly once, with
// two nodes on one Redis racing to move it, and even though the node that
// started it is gone: the other node's poll of the shared index does it.
func TestRedisSaleTransitionsOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	a := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix})
	b := newRedisStore(t, rdb, prefix)
	newRedisStore(t, rdb, prefix) // a third node, polling too
	mustPut(t, a, "r1", 10)
	mustPut(t, a, "r2", 10)

	// r1: started by b, whose timers race with every node's poll.
	s1, err := b.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 5, PerUserLimit: 1, DurationMS: 300, StartsInMS: 300})
	if err != nil {
		t.Fatal(err)
	}
	// r2: started by a, which then stops (its timers with it): b and c must
	// make both transitions from the shared index.
	s2, err := a.StartSale(ctx, "r2", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 5, PerUserLimit: 1, DurationMS: 300, StartsInMS: 300})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if s1.State != protocol.SaleScheduled || s2.State != protocol.SaleScheduled {
		t.Fatalf("states %s %s, want scheduled", s1.State, s2.State)
	}

	for _, room := range []string{"r1", "r2"} {
		testutil.EventuallyNil(t, room+": the sale ends", func() error {
			snap, err := b.Snapshot(ctx, room)
			if err == nil && snap.Sale != nil {
				err = fmt.Errorf("sale still %s", snap.Sale.State)
			}
			return err
		})
		var states []string
		var times []int64
		for _, env := range roomEvents(t, b, room) {
			var ev protocol.Event
			if err := json.Unmarshal(env.Msg, &ev); err != nil {
				t.Fatal(err)
			}
			states = append(states, ev.Sale.State)
			times = append(times, ev.TS)
		}
		if fmt.Sprint(states) != "[scheduled live ended]" {
			t.Fatalf("%s: sale events %v, want scheduled, live, ended once each", room, states)
		}
		sale := s1
		if room == "r2" {
			sale = s2
		}
		// Each transition at (not before) its instant, and promptly: the
		// poll runs every 150ms.
		if times[1] < sale.StartsAt || times[1] > sale.StartsAt+1000 || times[2] < sale.EndsAt || times[2] > sale.EndsAt+1000 {
			t.Fatalf("%s: live at %+d ms, ended at %+d ms from their instants", room, times[1]-sale.StartsAt, times[2]-sale.EndsAt)
		}
	}
	// The index soon holds nothing more: a node removes an entry just
	// after the transition it made, in a command of its own.
	testutil.EventuallyNil(t, "the index empties after the last transition", func() error {
		n, err := rdb.ZCard(ctx, rkeys.New(prefix).SaleTimers()).Result()
		if err == nil && n != 0 {
			err = fmt.Errorf("index holds %d entries", n)
		}
		return err
	})
}

// A purchase the store acknowledged is in the order stream, and go-redis's
// retry of a script whose reply was lost (simulated by running the same
// request again) neither takes stock twice nor writes a second order.
func TestRedisOrdersInStream(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	s := newRedisStore(t, rdb, prefix)
	mustPut(t, s, "r1", 5)
	var receipts []inventory.Receipt
	for i := range 3 {
		for range 2 { // a retry
			rec, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: fmt.Sprint(i), Product: "p1", Qty: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(receipts) == i {
				receipts = append(receipts, rec)
			} else if rec != receipts[i] {
				t.Fatalf("retry answered %+v, want %+v", rec, receipts[i])
			}
		}
	}
	entries, err := rdb.XRange(ctx, rkeys.New(prefix).RoomKey("r1", "orders"), "-", "+").Result()
	if err != nil || len(entries) != 3 {
		t.Fatalf("%d stream entries (%v), want 3", len(entries), err)
	}
	for i, e := range entries {
		if e.Values["order"] != receipts[i].Order || e.Values["user"] != "u" || e.Values["qty"] != "1" {
			t.Fatalf("entry %d = %v, want order %s", i, e.Values, receipts[i].Order)
		}
	}
	if got := remaining(t, s, "r1", "p1"); got != 2 {
		t.Fatalf("remaining %d, want 2", got)
	}
}

// With Redis gone, every call fails fast with unavailable (not
// overloaded: the request still had time), and nothing is remembered: the
// same request succeeds once Redis is back.
func TestRedisDownIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithAppendOnly())
	rdb := redistest.NewClient(t, srv.Addr())
	s := newRedisStore(t, rdb, uniquePrefix())
	mustPut(t, s, "r1", 5)
	srv.Kill()
	_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "1", Product: "p1", Qty: 1})
	wantCode(t, err, protocol.CodeUnavailable)
	_, err = s.Snapshot(ctx, "r1")
	wantCode(t, err, protocol.CodeUnavailable)
	srv.Restart()
	var rec inventory.Receipt
	testutil.Eventually(t, "a purchase after the restart", func() bool {
		rec, err = s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "1", Product: "p1", Qty: 1})
		return err == nil
	})
	if rec.Remaining != 4 {
		t.Fatalf("Buy after restart: %+v; want remaining 4", rec)
	}
}

// Behind a network that drops every connection (the fault proxy cut),
// every call is unavailable, a creator action as a purchase; restored,
// they work again.
func TestRedisUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	s := newRedisStore(t, redistest.NewClient(t, proxy.Addr()), uniquePrefix())
	mustPut(t, s, "r1", 5)
	proxy.Cut()
	_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "1", Product: "p1", Qty: 1})
	wantCode(t, err, protocol.CodeUnavailable)
	wantCode(t, s.Pin(ctx, "r1", "p1"), protocol.CodeUnavailable)
	if pe := protocol.AsError(err); pe.RetryAfterMS != 0 {
		t.Fatalf("unavailable carries retry_after_ms %d", pe.RetryAfterMS)
	}
	proxy.Restore()
	testutil.Eventually(t, "a pin after the network is back", func() bool { return s.Pin(ctx, "r1", "p1") == nil })
}

// Concurrent buyers on several stores (nodes) share one stock.
func TestRedisRaceAcrossNodes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	var nodes []inventory.Store
	for range 3 {
		nodes = append(nodes, newRedisStore(t, redistest.NewClient(t, srv.Addr()), prefix))
	}
	mustPut(t, nodes[0], "r1", 40)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for i := range 120 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := nodes[i%3].Buy(ctx, inventory.BuyRequest{Room: "r1", User: fmt.Sprintf("u%d", i), ID: "x", Product: "p1", Qty: 1})
			mu.Lock()
			counts[code(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[""] != 40 || counts[protocol.CodeSoldOut] != 80 {
		t.Fatalf("outcomes %v, want 40 ok and 80 sold_out", counts)
	}
	for i, n := range nodes {
		if got := remaining(t, n, "r1", "p1"); got != 0 {
			t.Fatalf("node %d: remaining %d", i, got)
		}
	}
	if n := len(allOrders(t, nodes[2], "r1")); n != 40 {
		t.Fatalf("%d orders, want 40", n)
	}
}

// A burst of purchases far larger than the client's pool, and than one
// pipeline, queues in the store's batcher and is answered, ok or sold out:
// a busy node is a queue, never a dependency error while Redis answers.
// (A flash sale's burst once outran the pool, one purchase per connection,
// and got unavailable from a healthy Redis; purchases now go in pipelines.
// No timing is asserted: the deadline is generous, the point is that
// waiting is not failing.) Exactly the stock is sold, once per order in
// the stream, in far fewer pipelines than purchases.
func TestRedisBurstLargerThanPoolQueues(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{
		Addr: srv.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		DialerRetries: 1, MaxRetries: 2, MaxRetryBackoff: 100 * time.Millisecond, ContextTimeoutEnabled: true,
		PoolSize: 2, PoolTimeout: 30 * time.Second,
	})
	t.Cleanup(func() { rdb.Close() })
	pipes := &pipelineCounter{}
	rdb.AddHook(pipes)
	s := newRedisStore(t, rdb, uniquePrefix())
	const stock, buyers = 150, 2000
	mustPut(t, s, "r1", stock)
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	orders := map[string]bool{}
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			rec, err := s.Buy(rctx, inventory.BuyRequest{Room: "r1", User: fmt.Sprintf("u%d", i), ID: "x", Product: "p1", Qty: 1})
			mu.Lock()
			counts[code(err)]++
			if err == nil {
				orders[rec.Order] = true
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if counts[""] != stock || counts[protocol.CodeSoldOut] != buyers-stock || len(orders) != stock {
		t.Fatalf("outcomes %v, %d distinct orders; want %d ok and %d sold_out", counts, len(orders), stock, buyers-stock)
	}
	if got := remaining(t, s, "r1", "p1"); got != 0 {
		t.Fatalf("remaining %d, want 0", got)
	}
	all := allOrders(t, s, "r1")
	if len(all) != stock {
		t.Fatalf("%d orders in the stream, want %d", len(all), stock)
	}
	for _, o := range all {
		if !orders[o.Order] {
			t.Fatalf("order %s in the stream was not acknowledged", o.Order)
		}
	}
	n, largest := pipes.stats()
	if n >= buyers || largest < 2 || largest > 1024 {
		t.Fatalf("%d purchases went in %d pipelines of at most %d; want batches of 2 to 1024", buyers, n, largest)
	}
}

// pipelineCounter is a go-redis hook that counts pipelines and their
// largest size.
type pipelineCounter struct {
	mu      sync.Mutex
	n       int
	largest int
}

func (p *pipelineCounter) stats() (n, largest int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, p.largest
}

func (p *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (p *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (p *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.mu.Lock()
		p.n++
		p.largest = max(p.largest, len(cmds))
		p.mu.Unlock()
		return next(ctx, cmds)
	}
}

// The history keeps the last HistorySize events: older ones are gone, and
// Since says so rather than answering with a gap.
func TestRedisHistoryBounded(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := newRedisStore(t, redistest.NewClient(t, srv.Addr()), uniquePrefix())
	mustPut(t, s, "r1", 1, 1)
	const n = inventory.HistorySize + 10
	for i := range n {
		if err := s.Pin(ctx, "r1", fmt.Sprintf("p%d", i%2+1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := s.Since(ctx, "r1", 9); ok || err != nil {
		t.Fatalf("Since(9) = %v, %v; want not ok: events 10 and on are gone", ok, err)
	}
	evs, ok, err := s.Since(ctx, "r1", 10)
	if err != nil || !ok || len(evs) != inventory.HistorySize || evs[0].Seq != 11 || evs[len(evs)-1].Seq != n {
		t.Fatalf("Since(10) = %d events, %v, %v; want %d from seq 11 to %d", len(evs), ok, err, inventory.HistorySize, n)
	}
}
