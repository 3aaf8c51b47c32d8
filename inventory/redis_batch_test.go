package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// gateHook holds every pipeline of purchases until the gate opens, so a test can keep
// the store's pipeline busy and queue purchases behind it. It also counts
// SCRIPT commands.
type gateHook struct {
	entered chan struct{} // a pipeline is held
	gate    chan struct{} // closed: pipelines go through

	mu      sync.Mutex
	scripts int
}

func newGateHook() *gateHook {
	return &gateHook{entered: make(chan struct{}, 100), gate: make(chan struct{})}
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.EqualFold(cmd.Name(), "script") {
			h.mu.Lock()
			h.scripts++
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		// Only the store's pipelines of purchases: go-redis also sends
		// a new connection's handshake as a pipeline.
		if len(cmds) > 0 && strings.EqualFold(cmds[0].Name(), "evalsha") {
			h.entered <- struct{}{}
			<-h.gate
		}
		return next(ctx, cmds)
	}
}

// gatedStore is a store with one purchase pipeline, on a Redis of its
// own whose pipelines of purchases wait for hook's gate, and room r1 with
// stock units of p1.
func gatedStore(t *testing.T, stock int64) (*inventory.RedisStore, *redis.Client, *gateHook, string) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	hook := newGateHook()
	rdb.AddHook(hook)
	prefix := uniquePrefix()
	s := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix, BuyPipelines: 1})
	t.Cleanup(func() { s.Close() })
	mustPut(t, s, "r1", stock)
	return s, rdb, hook, prefix
}

func (h *gateHook) scriptCommands() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.scripts
}

// wantOverloaded fails the test unless err is an overloaded answer with
// its retry_after_ms, wrapping cause.
func wantOverloaded(t *testing.T, what string, err, cause error) {
	t.Helper()
	pe := protocol.AsError(err)
	if protocol.ErrorCode(err) != protocol.CodeOverloaded || pe.RetryAfterMS <= 0 || !errors.Is(err, cause) {
		t.Fatalf("%s: %v (client sees %+v), want overloaded with retry_after_ms, wrapping %v", what, err, pe, cause)
	}
}

func idemExists(t *testing.T, rdb *redis.Client, prefix, room, user, id string) bool {
	t.Helper()
	n, err := rdb.Exists(ctx, rkeys.New(prefix).Idempotency(room, user, id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// A purchase whose context has ended before it is sent fails overloaded
// (the node did not get to it in time; Redis is fine), and takes nothing: resending the
// same request id makes a fresh purchase.
func TestRedisBuyCancelledTakesNothing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	s := newRedisStore(t, rdb, prefix)
	mustPut(t, s, "r1", 5)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	req := inventory.BuyRequest{Room: "r1", User: "u", ID: "1", Product: "p1", Qty: 1}
	_, err := s.Buy(cctx, req)
	wantOverloaded(t, "Buy with a cancelled context", err, context.Canceled)
	if got := remaining(t, s, "r1", "p1"); got != 5 {
		t.Fatalf("remaining %d, want 5", got)
	}
	if n := len(allOrders(t, s, "r1")); n != 0 || idemExists(t, rdb, prefix, "r1", "u", "1") {
		t.Fatalf("%d orders (or a remembered answer) after a cancelled purchase", n)
	}
	if rec, err := s.Buy(ctx, req); err != nil || rec.Remaining != 4 {
		t.Fatalf("resent purchase: %+v, %v; want remaining 4", rec, err)
	}
}

// With the store's one pipeline held up (the node saturated, made
// deterministic): a purchase queued behind it whose deadline passes is
// answered overloaded, with retry_after_ms, and never sent; a
// caller that leaves while its purchase is in flight gets its error at
// once, its purchase still happens, and resending the same id tells its
// answer. The batcher never waits for the callers that left.
func TestRedisBuyContextEndsInBatcher(t *testing.T) {
	t.Parallel()
	s, rdb, hook, prefix := gatedStore(t, 10)

	// A: in flight, held by the hook, until its caller leaves.
	actx, acancel := context.WithCancel(ctx)
	aerr := make(chan error, 1)
	reqA := inventory.BuyRequest{Room: "r1", User: "a", ID: "1", Product: "p1", Qty: 1}
	go func() {
		_, err := s.Buy(actx, reqA)
		aerr <- err
	}()
	<-hook.entered

	// B: queued behind A until its deadline passes.
	bctx, bcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer bcancel()
	reqB := inventory.BuyRequest{Room: "r1", User: "b", ID: "1", Product: "p1", Qty: 1}
	start := time.Now()
	_, err := s.Buy(bctx, reqB)
	wantOverloaded(t, "queued purchase past its deadline", err, context.DeadlineExceeded)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("queued purchase answered after %v, want at its deadline (100ms)", d)
	}

	acancel()
	select {
	case err := <-aerr:
		wantOverloaded(t, "in-flight purchase whose caller left", err, context.Canceled)
	case <-time.After(time.Second):
		t.Fatal("the caller of an in-flight purchase did not return when its context ended")
	}

	close(hook.gate)
	// C, after the others in the one pipeline's queue: once it is answered,
	// B has been taken (and dropped) too.
	if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "c", ID: "1", Product: "p1", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	orders := allOrders(t, s, "r1")
	if len(orders) != 2 || orders[0].User != "a" || orders[1].User != "c" {
		t.Fatalf("orders %+v, want a's (sent before it left) and c's", orders)
	}
	if idemExists(t, rdb, prefix, "r1", "b", "1") {
		t.Fatal("the purchase whose deadline passed in the queue was sent")
	}
	if got := remaining(t, s, "r1", "p1"); got != 8 {
		t.Fatalf("remaining %d, want 8", got)
	}
	// a resends: the first answer. b resends: a fresh purchase.
	if rec, err := s.Buy(ctx, reqA); err != nil || rec.Order != orders[0].Order || rec.Remaining != 9 {
		t.Fatalf("a's resent purchase: %+v, %v; want its first answer, order %s", rec, err, orders[0].Order)
	}
	if rec, err := s.Buy(ctx, reqB); err != nil || rec.Remaining != 7 {
		t.Fatalf("b's resent purchase: %+v, %v; want remaining 7", rec, err)
	}
}

// After Redis loses its script cache (a restart, SCRIPT FLUSH), EVALSHA
// answers NOSCRIPT: the batcher loads the script and sends the purchases
// again, so they all succeed.
func TestRedisBuyRecoversFromNoScript(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	hook := newGateHook()
	close(hook.gate)
	rdb.AddHook(hook)
	s := newRedisStore(t, rdb, uniquePrefix())
	mustPut(t, s, "r1", 100)
	if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u0", ID: "1", Product: "p1", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		loads := hook.scriptCommands()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: fmt.Sprintf("u%d-%d", round, i), ID: "1", Product: "p1", Qty: 1})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: purchase after SCRIPT FLUSH: %v", round, err)
			}
		}
		if hook.scriptCommands() == loads {
			t.Fatalf("round %d: no SCRIPT LOAD after the flush", round)
		}
	}
	if got := remaining(t, s, "r1", "p1"); got != 59 {
		t.Fatalf("remaining %d, want 59", got)
	}
	if n := len(allOrders(t, s, "r1")); n != 41 {
		t.Fatalf("%d orders, want 41", n)
	}
}

// Close fails the purchases still queued (unavailable, never sent), lets
// the pipeline in flight finish, and later purchases fail at once.
func TestRedisCloseFailsQueuedBuys(t *testing.T) {
	t.Parallel()
	s, rdb, hook, prefix := gatedStore(t, 10)

	aerr := make(chan error, 1)
	go func() {
		_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "a", ID: "1", Product: "p1", Qty: 1})
		aerr <- err
	}()
	<-hook.entered
	berr := make(chan error, 1)
	go func() {
		_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "b", ID: "1", Product: "p1", Qty: 1})
		berr <- err
	}()
	// b is queued (or about to be): Close must fail it either way.
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case err := <-berr:
		wantCode(t, err, protocol.CodeUnavailable)
	case <-time.After(2 * time.Second):
		t.Fatal("a purchase queued at Close was not answered")
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a pipeline was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(hook.gate)
	if err := <-aerr; err != nil {
		t.Fatalf("purchase in flight at Close: %v", err)
	}
	<-closed
	if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "c", ID: "1", Product: "p1", Qty: 1}); code(err) != protocol.CodeUnavailable {
		t.Fatalf("purchase after Close: %v, want unavailable", err)
	}
	if idemExists(t, rdb, prefix, "r1", "b", "1") || idemExists(t, rdb, prefix, "r1", "c", "1") {
		t.Fatal("a purchase failed by Close was sent")
	}
}

// BuyAsync sells exactly the stock to a burst of purchases across nodes,
// calls done exactly once per purchase (never on the caller's goroutine
// after it returned with the call queued), answers a request refused
// before it is queued at once, and fails purchases after Close.
func TestRedisBuyAsync(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	var nodes []*inventory.RedisStore
	for range 2 {
		nodes = append(nodes, newRedisStore(t, redistest.NewClient(t, srv.Addr()), prefix))
	}
	mustPut(t, nodes[0], "r1", 30)
	const buyers = 200
	var mu sync.Mutex
	counts := map[string]int{}
	calls := make([]int, buyers)
	var wg sync.WaitGroup
	wg.Add(buyers)
	for i := range buyers {
		var ab inventory.AsyncBuyer = nodes[i%2]
		ab.BuyAsync(ctx, inventory.BuyRequest{Room: "r1", User: fmt.Sprintf("u%d", i), ID: "x", Product: "p1", Qty: 1}, func(rec inventory.Receipt, err error) {
			mu.Lock()
			calls[i]++
			counts[code(err)]++
			if err == nil && rec.Order == "" {
				t.Errorf("buyer %d: a receipt without an order", i)
			}
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	for i, n := range calls {
		if n != 1 {
			t.Fatalf("buyer %d: done called %d times", i, n)
		}
	}
	if counts[""] != 30 || counts[protocol.CodeSoldOut] != buyers-30 {
		t.Fatalf("outcomes %v, want 30 ok and %d sold_out", counts, buyers-30)
	}
	if n := len(allOrders(t, nodes[1], "r1")); n != 30 {
		t.Fatalf("%d orders, want 30", n)
	}

	answered := false
	nodes[0].BuyAsync(ctx, inventory.BuyRequest{Room: "r1", User: "q", ID: "1", Product: "p1", Qty: 0}, func(_ inventory.Receipt, err error) {
		answered = true
		if code(err) != protocol.CodeBadRequest {
			t.Errorf("qty 0: %v, want bad_request", err)
		}
	})
	if !answered {
		t.Fatal("a purchase refused before it is queued was not answered at once")
	}

	nodes[1].Close()
	got := make(chan error, 1)
	nodes[1].BuyAsync(ctx, inventory.BuyRequest{Room: "r1", User: "late", ID: "1", Product: "p1", Qty: 1}, func(_ inventory.Receipt, err error) { got <- err })
	select {
	case err := <-got:
		if code(err) != protocol.CodeUnavailable {
			t.Fatalf("after Close: %v, want unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a purchase after Close was not answered")
	}
}
