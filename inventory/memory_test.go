package inventory_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

func TestMemoryStoreContract(t *testing.T) {
	runContract(t, func(t *testing.T) inventory.Store {
		s := inventory.NewMemoryStore(inventory.MemoryConfig{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// recorder is a Publisher that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Publish(_ context.Context, _ string, data []byte) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(data))
	r.mu.Unlock()
	return nil
}

func (r *recorder) count(sub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// The sale moves scheduled -> live -> ended at its instants on the store's
// clock, each transition published exactly once, with no purchase needed.
func TestMemorySaleTimeline(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	clk := clock.NewFake(t0)
	rec := &recorder{}
	s := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: rec, Clock: clk})
	defer s.Close()
	mustPut(t, s, "r1", 10)
	sale, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 5, PerUserLimit: 1, DurationMS: 2000, StartsInMS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if sale.StartsAt != t0.UnixMilli()+1000 || sale.EndsAt != t0.UnixMilli()+3000 {
		t.Fatalf("window %d..%d", sale.StartsAt, sale.EndsAt)
	}
	buy := func(user, id string) error {
		_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: user, ID: id, Product: "p1", Qty: 1})
		return err
	}
	clk.Advance(999 * time.Millisecond)
	wantCode(t, buy("a", "1"), protocol.CodeSaleNotLive)
	if n := rec.count(`"state":"live"`); n != 0 {
		t.Fatalf("live published %d times before starts_at", n)
	}
	clk.Advance(time.Millisecond)
	if n := rec.count(`"state":"live"`); n != 1 {
		t.Fatalf("live published %d times at starts_at, want 1", n)
	}
	wantCode(t, buy("a", "2"), "")
	wantCode(t, buy("a", "3"), protocol.CodeLimitExceeded)
	clk.Advance(1999 * time.Millisecond)
	if n := rec.count(`"state":"ended"`); n != 0 {
		t.Fatalf("ended published before ends_at")
	}
	clk.Advance(time.Millisecond)
	if n := rec.count(`"state":"ended"`); n != 1 {
		t.Fatalf("ended published %d times at ends_at, want 1", n)
	}
	clk.Advance(10 * time.Second)
	if rec.count(`"state":"live"`) != 1 || rec.count(`"state":"ended"`) != 1 || rec.count(`"state":"scheduled"`) != 1 {
		t.Fatalf("transitions repeated: %q", rec.msgs)
	}
	snap, _ := s.Snapshot(ctx, "r1")
	if snap.Sale != nil {
		t.Fatalf("ended sale still in snapshot")
	}
	if n := rec.count(`"type":"stock"`); n != 1 {
		t.Fatalf("%d stock messages for one purchase", n)
	}
}

// Remembered answers expire after the idempotency window.
func TestMemoryIdempotencyExpires(t *testing.T) {
	clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
	s := inventory.NewMemoryStore(inventory.MemoryConfig{Clock: clk})
	defer s.Close()
	mustPut(t, s, "r1", 10)
	a, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "k", Product: "p1", Qty: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(inventory.IdempotencyTTL - time.Second)
	b, _ := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "k", Product: "p1", Qty: 1})
	if a != b {
		t.Fatal("answer forgotten inside the window")
	}
	clk.Advance(2 * time.Second)
	c, _ := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: "k", Product: "p1", Qty: 1})
	if c.Order == a.Order {
		t.Fatal("answer remembered past the window")
	}
}

// Expired answers are dropped by the store's sweep even in a room where
// nobody buys any more (a purchase drops only its own room's).
func TestMemoryIdempotencySweep(t *testing.T) {
	clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
	s := inventory.NewMemoryStore(inventory.MemoryConfig{Clock: clk})
	defer s.Close()
	mustPut(t, s, "r1", 10)
	mustPut(t, s, "r2", 10)
	for i := range 5 {
		if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "u", ID: fmt.Sprint(i), Product: "p1", Qty: 1}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Buy(ctx, inventory.BuyRequest{Room: "r2", User: "u", ID: "x", Product: "nope", Qty: 1})
	wantCode(t, err, protocol.CodeNotFound)
	if n := s.RememberedAnswers(); n != 5 {
		t.Fatalf("%d answers remembered, want 5 (not_found is not kept)", n)
	}
	clk.Advance(inventory.IdempotencyTTL - time.Second)
	if n := s.RememberedAnswers(); n != 5 {
		t.Fatalf("%d answers remembered inside the window, want 5", n)
	}
	clk.Advance(2 * time.Minute)
	if n := s.RememberedAnswers(); n != 0 {
		t.Fatalf("%d answers remembered past the window with no purchase since, want 0", n)
	}
}

func TestMaskBuyer(t *testing.T) {
	for in, want := range map[string]string{"jane": "j***", "": "***", "élodie": "é***"} {
		if got := inventory.MaskBuyer(in); got != want {
			t.Errorf("MaskBuyer(%q) = %q, want %q", in, got, want)
		}
	}
}

// Sequence lets another package's events share the room's seq, history and
// publication order.
func TestMemorySequence(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: rec})
	t.Cleanup(func() { s.Close() })
	noop := func(func(func(uint64, int64) []byte)) error { return nil }
	if err := s.Sequence(ctx, "nope", noop); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("Sequence on a missing room: %v", err)
	}
	mustPut(t, s, "r1", 1)
	if err := s.Pin(ctx, "r1", "p1"); err != nil {
		t.Fatal(err)
	}
	refused := protocol.Errorf(protocol.CodeForbidden, "no")
	if err := s.Sequence(ctx, "r1", func(func(func(uint64, int64) []byte)) error { return refused }); err != refused {
		t.Fatalf("f's error came back as %v", err)
	}
	err := s.Sequence(ctx, "r1", func(emit func(func(uint64, int64) []byte)) error {
		for range 2 {
			emit(func(seq uint64, ts int64) []byte {
				return []byte(`{"type":"other","seq":` + strconv.FormatUint(seq, 10) + `}`)
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	evs, ok, err := s.Since(ctx, "r1", 0)
	if err != nil || !ok || len(evs) != 4 {
		t.Fatalf("Since = %d events, %v, %v", len(evs), ok, err)
	}
	for i, want := range []string{`"pinned"`, `{"type":"other","seq":2}`, `{"type":"other","seq":3}`, `"unpinned"`} {
		if evs[i].Seq != uint64(i+1) || !strings.Contains(string(evs[i].Msg), want) {
			t.Fatalf("event %d: seq %d %s, want %s", i, evs[i].Seq, evs[i].Msg, want)
		}
	}
	if n := rec.count(`{"type":"other"`); n != 2 {
		t.Fatalf("%d other events published, want 2", n)
	}
}
