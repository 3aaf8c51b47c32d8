package pinning_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/pinning"
	"github.com/liveserver/liveserver/protocol"
)

func code(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Only the room's creator or an admin may act; refusals change nothing and
// every action is counted by outcome.
func TestAuthorization(t *testing.T) {
	ctx := context.Background()
	store := inventory.NewMemoryStore(inventory.MemoryConfig{})
	defer store.Close()
	reg := prometheus.NewRegistry()
	svc := pinning.New(store, reg)
	admin := auth.Identity{User: "a", Role: auth.RoleAdmin}
	spec := inventory.RoomSpec{Title: "T", Products: []inventory.ProductSpec{{ID: "p1", Name: "P", Price: 1, Currency: "USD", Stock: 3}}}
	if _, err := svc.PutRoom(ctx, admin, "r1", spec); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		who  auth.Identity
		want string
	}{
		{"nobody", auth.Identity{}, protocol.CodeUnauthorized},
		{"viewer", auth.Identity{User: "v", Role: auth.RoleViewer}, protocol.CodeForbidden},
		{"creator of another room", auth.Identity{User: "c", Role: auth.RoleCreator, Rooms: []string{"r2"}}, protocol.CodeForbidden},
		{"anonymous", auth.Identity{User: "anon-1", Role: auth.RoleViewer, Anonymous: true}, protocol.CodeForbidden},
		{"creator of the room", auth.Identity{User: "c", Role: auth.RoleCreator, Rooms: []string{"r1"}}, ""},
		{"admin", admin, ""},
	}
	for _, c := range cases {
		if got := code(svc.Pin(ctx, c.who, "r1", "p1")); got != c.want {
			t.Errorf("%s: pin = %q, want %q", c.name, got, c.want)
		}
		if _, err := svc.StartSale(ctx, c.who, "r1", inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 60000}); code(err) != c.want {
			t.Errorf("%s: sale_start = %v, want %q", c.name, err, c.want)
		}
		if c.want == "" {
			if _, err := svc.StopSale(ctx, c.who, "r1"); err != nil {
				t.Errorf("%s: sale_stop: %v", c.name, err)
			}
		}
	}
	snap, _ := store.Snapshot(ctx, "r1")
	if snap.Seq != 6 { // 2 pins + 2 × (sale started, sale ended)
		t.Fatalf("seq %d after the allowed actions, want 6: refused actions must change nothing", snap.Seq)
	}
	want := `
# HELP liveserver_creator_actions_total Creator actions (put_room, pin, unpin, sale_start, sale_stop, delete_room, auction_start, auction_stop) by outcome (ok or an error code).
# TYPE liveserver_creator_actions_total counter
liveserver_creator_actions_total{action="pin",outcome="forbidden"} 3
liveserver_creator_actions_total{action="pin",outcome="ok"} 2
liveserver_creator_actions_total{action="pin",outcome="unauthorized"} 1
liveserver_creator_actions_total{action="put_room",outcome="ok"} 1
liveserver_creator_actions_total{action="sale_start",outcome="forbidden"} 3
liveserver_creator_actions_total{action="sale_start",outcome="ok"} 2
liveserver_creator_actions_total{action="sale_start",outcome="unauthorized"} 1
liveserver_creator_actions_total{action="sale_stop",outcome="ok"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// A Redis outage is unavailable for a creator action, as for a purchase
// (not internal), both in the answer and in the metric.
func TestRedisOutageIsUnavailable(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	store := inventory.NewRedisStore(redistest.NewClient(t, proxy.Addr()), inventory.RedisConfig{KeyPrefix: "pinning-test:"})
	defer store.Close()
	reg := prometheus.NewRegistry()
	svc := pinning.New(store, reg)
	admin := auth.Identity{User: "a", Role: auth.RoleAdmin}
	spec := inventory.RoomSpec{Title: "T", Products: []inventory.ProductSpec{{ID: "p1", Name: "P", Price: 1, Currency: "USD", Stock: 3}}}
	if _, err := svc.PutRoom(ctx, admin, "r1", spec); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	if err := svc.Pin(ctx, admin, "r1", "p1"); protocol.ErrorCode(err) != protocol.CodeUnavailable {
		t.Fatalf("pin with Redis unreachable: %v, want unavailable", err)
	}
	want := `
# HELP liveserver_creator_actions_total Creator actions (put_room, pin, unpin, sale_start, sale_stop, delete_room, auction_start, auction_stop) by outcome (ok or an error code).
# TYPE liveserver_creator_actions_total counter
liveserver_creator_actions_total{action="pin",outcome="unavailable"} 1
liveserver_creator_actions_total{action="put_room",outcome="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
