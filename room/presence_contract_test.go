package room

import (
	"context"
	"io"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
)

// The Presence contract: what the Hub relies on from any Presence, checked
// against every implementation.

// presenceBackend is one fresh backend of an implementation.
type presenceBackend struct {
	// newNode returns the Presence of one more node on the backend; its
	// counts last ttl without a new report.
	newNode func(t *testing.T, ttl time.Duration) Presence
	// nodes is how many nodes may share the backend: 1 for the presence of
	// a single node, whose counts are the totals.
	nodes int
}

var presenceImpls = []struct {
	name  string
	setup func(t *testing.T) presenceBackend
}{
	{"memory", func(t *testing.T) presenceBackend {
		return presenceBackend{nodes: 1, newNode: func(*testing.T, time.Duration) Presence { return localPresence{} }}
	}},
	{"redis", func(t *testing.T) presenceBackend {
		srv := redistest.Start(t)
		rdb := redistest.NewClient(t, srv.Addr())
		prefix := "t-" + uuid.NewString() + ":"
		return presenceBackend{nodes: 1 << 10, newNode: func(t *testing.T, ttl time.Duration) Presence {
			p := NewRedisPresence(rdb, RedisPresenceConfig{KeyPrefix: prefix, TTL: ttl})
			t.Cleanup(func() { p.Close() })
			return p
		}}
	}},
}

func TestPresenceContract(t *testing.T) {
	for _, impl := range presenceImpls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			t.Run("OneNode", func(t *testing.T) { t.Parallel(); testPresenceOneNode(t, impl.setup(t)) })
			t.Run("SumsNodes", func(t *testing.T) { t.Parallel(); testPresenceSums(t, impl.setup(t)) })
			t.Run("DeadNodeExpires", func(t *testing.T) { t.Parallel(); testPresenceExpires(t, impl.setup(t)) })
			t.Run("CloseRemovesNode", func(t *testing.T) { t.Parallel(); testPresenceClose(t, impl.setup(t)) })
		})
	}
}

func report(t *testing.T, p Presence, local map[string]int64) map[string]int64 {
	t.Helper()
	got, err := p.Report(context.Background(), local)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// wantTotals checks the rooms of want; rooms absent from want must be
// absent or zero.
func wantTotals(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	for room, n := range got {
		if want[room] != n {
			t.Fatalf("%s: totals %v, want %v", what, got, want)
		}
	}
	for room, n := range want {
		if got[room] != n {
			t.Fatalf("%s: totals %v, want %v", what, got, want)
		}
	}
}

// Alone, a node's totals are its own counts: every room reported gets a
// total, a room it reports 0 counts 0, an empty report is answered.
func testPresenceOneNode(t *testing.T, be presenceBackend) {
	p := be.newNode(t, time.Minute)
	local := map[string]int64{"a": 3, "b": 1}
	wantTotals(t, "first report", report(t, p, local), local)
	if len(local) != 2 || local["a"] != 3 {
		t.Fatalf("Report changed its argument: %v", local)
	}
	wantTotals(t, "leaving b", report(t, p, map[string]int64{"a": 4, "b": 0}), map[string]int64{"a": 4})
	wantTotals(t, "an empty report", report(t, p, map[string]int64{}), nil)
}

// Counts of several nodes add up per room; a node that leaves a room
// (reports 0) stops counting there at once.
func testPresenceSums(t *testing.T, be presenceBackend) {
	if be.nodes < 3 {
		t.Skip("a single-node presence: there is nothing to sum")
	}
	a, b, c := be.newNode(t, time.Minute), be.newNode(t, time.Minute), be.newNode(t, time.Minute)
	report(t, a, map[string]int64{"r1": 3, "r2": 1})
	wantTotals(t, "b's report", report(t, b, map[string]int64{"r1": 4}), map[string]int64{"r1": 7})
	wantTotals(t, "c's report", report(t, c, map[string]int64{"r1": 5, "r2": 2}), map[string]int64{"r1": 12, "r2": 3})
	report(t, a, map[string]int64{"r1": 3, "r2": 0})
	wantTotals(t, "after a left r2", report(t, c, map[string]int64{"r1": 5, "r2": 2}), map[string]int64{"r1": 12, "r2": 2})
}

// A node that stops reporting (it died) stops counting once its counts
// expire; the others' remain.
func testPresenceExpires(t *testing.T, be presenceBackend) {
	if be.nodes < 2 {
		t.Skip("a single-node presence: no other node can die")
	}
	live := be.newNode(t, time.Minute)
	dead := be.newNode(t, 500*time.Millisecond)
	report(t, live, map[string]int64{"r": 2})
	// A report's answer counts the reporter's own share, whatever its TTL.
	wantTotals(t, "the dying node's last report", report(t, dead, map[string]int64{"r": 7}), map[string]int64{"r": 9})
	testutil.Eventually(t, "the dead node's share to expire", func() bool {
		return maps.Equal(report(t, live, map[string]int64{"r": 2}), map[string]int64{"r": 2})
	})
}

// Close, where the implementation has it, removes the node's share at
// once rather than after its TTL.
func testPresenceClose(t *testing.T, be presenceBackend) {
	if be.nodes < 2 {
		t.Skip("a single-node presence: no other node sees a close")
	}
	a, b := be.newNode(t, time.Minute), be.newNode(t, time.Hour)
	closer, ok := b.(io.Closer)
	if !ok {
		t.Skip("this presence has no Close")
	}
	report(t, a, map[string]int64{"r": 1})
	wantTotals(t, "both", report(t, b, map[string]int64{"r": 4}), map[string]int64{"r": 5})
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	wantTotals(t, "after b closed", report(t, a, map[string]int64{"r": 1}), map[string]int64{"r": 1})
}
