package inventory_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// envelopeScenario runs one sequence of operations that publishes every
// kind of envelope: catalog, pinned, unpinned, sale (scheduled, live,
// ended by a stop and by a sell-out), stock, purchase ticker. Exactly one
// purchase is made, so the sampled ticker publishes it on any clock.
func envelopeScenario(t *testing.T, s inventory.Store) {
	t.Helper()
	spec := inventory.RoomSpec{Title: `Drop "quoted" <b> & ünï ✓`, Products: []inventory.ProductSpec{
		{ID: "p.1", Name: `A "tote" <b>`, Price: 1999, Currency: "USD", Image: "/i?a=1&b=2", Stock: 5},
		{ID: "p-2", Name: "Ünïcode ✓", Price: 0, Currency: "EUR", Stock: 1},
	}}
	mustPutSpec(t, s, "r1", spec)
	mustPutSpec(t, s, "r1", spec) // catalog
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Pin(ctx, "r1", "p-2"))
	_, err := s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p.1", Price: 999, Quantity: 3, PerUserLimit: 2, DurationMS: 60000, StartsInMS: 60000})
	must(err)
	_, err = s.StopSale(ctx, "r1")
	must(err)
	_, err = s.StartSale(ctx, "r1", inventory.SaleSpec{Product: "p-2", Price: 5, Quantity: 1, PerUserLimit: 1, DurationMS: 60000})
	must(err)
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "jane.doe@example.com", ID: "1", Product: "p-2", Qty: 1})
	must(err) // sells the sale out: it ends
	must(s.Unpin(ctx, "r1"))
	must(s.Pin(ctx, "r1", "p.1"))
	mustPutSpec(t, s, "r1", inventory.RoomSpec{Title: "empty"}) // catalog, unpinned
}

// What differs between two runs on any store: the time and what is drawn
// from it or from a random source.
var volatileFields = regexp.MustCompile(`"(ts|starts_at|ends_at)":\d+|"id":"[0-9a-f-]{36}"`)

func normalize(msgs []string) string {
	return volatileFields.ReplaceAllStringFunc(strings.Join(msgs, "\n---\n"), func(m string) string {
		k, _, _ := strings.Cut(m, ":")
		return k + ":_"
	})
}

// The contract between the Lua scripts and Go: the same operations publish
// the same envelopes, byte for byte but for times and random ids, from a
// RedisStore (built by lua/common.lua) as from a MemoryStore (built by
// protocol.SeqEnvelope and protocol.VolatileEnvelope). A viewer cannot
// tell which store its node runs on.
func TestEnvelopesLuaMatchesMemory(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	mem := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: rec})
	t.Cleanup(func() { mem.Close() })
	envelopeScenario(t, mem)
	rec.mu.Lock()
	want := append([]string(nil), rec.msgs...)
	rec.mu.Unlock()

	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := uniquePrefix()
	msgs := subscribe(t, rdb, prefix, "r1")
	envelopeScenario(t, newRedisStore(t, rdb, prefix))
	var got []string
	for range want {
		got = append(got, <-msgs)
	}

	kinds := map[string]bool{}
	for _, m := range want {
		env, ok := protocol.ParseEnvelope([]byte(m))
		if !ok {
			t.Fatalf("memory store published %q, not an envelope", m)
		}
		kinds[env.Key] = true
	}
	if len(want) != 12 || !kinds[""] || !kinds[protocol.StockKey("p-2")] || !kinds[protocol.PurchaseKey] {
		t.Fatalf("the scenario published %d envelopes of kinds %v, want 12 with events, stock and purchase:\n%s", len(want), kinds, strings.Join(want, "\n"))
	}
	if g, w := normalize(got), normalize(want); g != w {
		t.Fatalf("Lua and Go envelopes differ.\nLua:\n%s\n\nGo:\n%s", g, w)
	}
}
