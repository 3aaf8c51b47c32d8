package inventory_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// replicated starts a master with one replica and returns the replica and
// a client of the master, once the replica is in sync.
func replicated(t *testing.T) (*redistest.Server, *redis.Client) {
	t.Helper()
	// No delay before a full sync: the replica restarts in these tests.
	master := redistest.Start(t, redistest.WithArgs("--repl-diskless-sync-delay", "0"))
	host, port, _ := strings.Cut(master.Addr(), ":")
	replica := redistest.Start(t, redistest.WithArgs("--replicaof", host, port))
	rdb := redistest.NewClient(t, master.Addr())
	waitReplicaOnline(t, rdb)
	return replica, rdb
}

func waitReplicaOnline(t *testing.T, rdb *redis.Client) {
	t.Helper()
	testutil.Eventually(t, "the replica in sync", func() bool {
		info, _ := rdb.Info(ctx, "replication").Result()
		return strings.Contains(info, "state=online")
	})
}

// newWaitingStore is a store with -redis-wait-replicas 1 and a short WAIT.
func newWaitingStore(t *testing.T, rdb *redis.Client, prefix string) *inventory.RedisStore {
	t.Helper()
	// The production default (500 ms): a running replica answers WAIT
	// within it even when the whole suite loads the machine (200 ms did
	// not, now and then); it must stay under the client's ReadTimeout (1 s).
	s := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix, WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { s.Close() })
	return s
}

func wantNotReplicated(t *testing.T, err error) {
	t.Helper()
	wantCode(t, err, protocol.CodeUnavailable)
	if !errors.Is(err, inventory.ErrNotReplicated) {
		t.Fatalf("error %v is not ErrNotReplicated", err)
	}
}

// With WaitReplicas 1 a purchase is acknowledged while the replica is up;
// with it stopped the buyer gets unavailable (the purchase ran on the
// master), and the retry with the same id, once the replica is back,
// answers the first outcome without buying again.
func TestRedisBuyWaitsForReplicas(t *testing.T) {
	t.Parallel()
	replica, rdb := replicated(t)
	s := newWaitingStore(t, rdb, uniquePrefix())
	mustPut(t, s, "r1", 10)
	buy := func(id string) (inventory.Receipt, error) {
		return s.Buy(ctx, inventory.BuyRequest{Room: "r1", User: "ann", ID: id, Product: "p1", Qty: 1})
	}
	if _, err := buy("a"); err != nil {
		t.Fatal(err)
	}
	replica.Stop()
	_, err := buy("b")
	wantNotReplicated(t, err)
	_, err = buy("b") // the replay waits too
	wantNotReplicated(t, err)
	replica.Restart()
	waitReplicaOnline(t, rdb)
	rec, err := buy("b")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Remaining != 8 {
		t.Fatalf("receipt %+v, want remaining 8", rec)
	}
	if got := remaining(t, s, "r1", "p1"); got != 8 {
		t.Fatalf("remaining %d, want 8", got)
	}
	if n := len(allOrders(t, s, "r1")); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

// With WaitReplicas 1 a bid is acknowledged while the replica is up; with
// it stopped the bidder gets unavailable (the bid ran on the master), and
// the retry with the same id, once the replica is back, answers the bid's
// real outcome without bidding again.
func TestRedisBidWaitsForReplicas(t *testing.T) {
	t.Parallel()
	replica, rdb := replicated(t)
	s := newWaitingStore(t, rdb, uniquePrefix())
	mustPut(t, s, "r1", 1)
	a, err := s.StartAuction(ctx, "r1", inventory.AuctionSpec{Product: "p1", StartPrice: 100, Increment: 10, DurationMS: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	bid := func(user string, amount int64) (inventory.BidReceipt, error) {
		return s.Bid(ctx, inventory.BidRequest{Room: "r1", User: user, ID: "b", Auction: a.ID, Amount: amount,
			Author: protocol.Author{ID: "h-" + user, Name: "n", Role: "viewer"}})
	}
	if r, err := bid("ann", 100); err != nil || !r.Leading {
		t.Fatalf("first bid: %+v, %v", r, err)
	}
	replica.Stop()
	_, err = bid("bob", 200)
	wantNotReplicated(t, err)
	_, err = bid("bob", 200) // the replay waits too
	wantNotReplicated(t, err)
	// A refusal waits as well: its answer is remembered like an acceptance.
	_, err = bid("cy", 150)
	wantNotReplicated(t, err)
	replica.Restart()
	waitReplicaOnline(t, rdb)
	r, err := bid("bob", 200)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Leading || r.Amount != 200 || r.Current != 200 {
		t.Fatalf("retried bid answered %+v, want leading at 200", r)
	}
	_, err = bid("cy", 150)
	wantCode(t, err, protocol.CodeBidTooLow)
	snap, err := s.Snapshot(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if sa := snap.Auction; sa == nil || sa.Bids != 2 || *sa.Current != 200 || sa.Leader.ID != "h-bob" {
		t.Fatalf("auction %+v, want 2 bids, bob leading at 200", sa)
	}
}

// With WaitReplicas 1 and the replica stopped across an auction's end, the
// end happens on the master (its event is published) but does not count as
// done: its index entry stays and the poll ticks it again, without a
// second order. Once the replica is back a poll's tick confirms the end
// and removes the entry; the log holds exactly one order.
func TestRedisAuctionEndWaitsForReplicas(t *testing.T) {
	t.Parallel()
	replica, rdb := replicated(t)
	prefix := uniquePrefix()
	s := newWaitingStore(t, rdb, prefix)
	mustPut(t, s, "r1", 1)
	a, err := s.StartAuction(ctx, "r1", inventory.AuctionSpec{Product: "p1", StartPrice: 100, Increment: 10, DurationMS: protocol.MinAuctionDuration})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bid(ctx, inventory.BidRequest{Room: "r1", User: "ann", ID: "b", Auction: a.ID, Amount: 100,
		Author: protocol.Author{ID: "h", Name: "n", Role: "viewer"}}); err != nil {
		t.Fatal(err)
	}
	replica.Stop()
	testutil.Eventually(t, "the end on the master", func() bool {
		for _, ev := range auctionEvents(t, s, "r1") {
			if ev.State == protocol.SaleEnded {
				return true
			}
		}
		return false
	})
	// Ticks as the poll makes them (it does too, meanwhile): each finds the
	// auction ended and fails its WAIT; the entry stays.
	for range 2 {
		wantNotReplicated(t, inventory.TickAuction(ctx, s, "r1", a.ID))
	}
	index := prefix + "auction-timers"
	if n, err := rdb.ZCard(ctx, index).Result(); err != nil || n != 1 {
		t.Fatalf("index holds %d entries (%v) while the end is unconfirmed, want 1", n, err)
	}
	if n := len(allOrders(t, s, "r1")); n != 1 {
		t.Fatalf("%d orders after the retried ticks, want 1", n)
	}
	replica.Restart()
	waitReplicaOnline(t, rdb)
	testutil.Eventually(t, "the end confirmed (index empty)", func() bool {
		n, err := rdb.ZCard(ctx, index).Result()
		return err == nil && n == 0
	})
	end := lastEnded(t, s, "r1")
	if end.Result == nil || end.Result.Outcome != protocol.OutcomeSold || end.Result.Amount != 100 {
		t.Fatalf("ended %+v", end)
	}
	orders := allOrders(t, s, "r1")
	if len(orders) != 1 || orders[0].User != "ann" || orders[0].Order != end.Result.Order {
		t.Fatalf("orders %+v, want ann's one order %s", orders, end.Result.Order)
	}
}

// On a 3-master cluster with a replica each and WaitReplicas 1, a bid and
// an auction's end in a room on every master wait on that master (WAIT
// must follow the writes on their connection; each master's script cache
// starts empty): the bids are acknowledged, each auction ends once with
// one order, and its index entry goes.
func TestRedisClusterAuctionWaitsForReplicas(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)
	rdb := c.Client()
	prefix := uniquePrefix()
	names := rkeys.New(prefix)
	s := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix, WaitReplicas: 1})
	t.Cleanup(func() { s.Close() })
	rooms := c.IDsOnEveryMaster(names.Events)
	for _, room := range rooms {
		mustPut(t, s, room, 1)
		a, err := s.StartAuction(ctx, room, inventory.AuctionSpec{Product: "p1", StartPrice: 100, Increment: 10, DurationMS: protocol.MinAuctionDuration})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Bid(ctx, inventory.BidRequest{Room: room, User: "ann", ID: "b", Auction: a.ID, Amount: 100,
			Author: protocol.Author{ID: "h", Name: "n", Role: "viewer"}})
		if err != nil || !r.Leading {
			t.Fatalf("%s: bid %+v, %v", room, r, err)
		}
	}
	for _, room := range rooms {
		end := waitEnded(t, s, room, 15*time.Second)
		if end.Result == nil || end.Result.Outcome != protocol.OutcomeSold {
			t.Fatalf("%s: ended %+v", room, end)
		}
		if n := len(allOrders(t, s, room)); n != 1 {
			t.Fatalf("%s: %d orders", room, n)
		}
	}
	testutil.Eventually(t, "every end confirmed (index empty)", func() bool {
		n, err := rdb.ZCard(ctx, names.AuctionTimers()).Result()
		return err == nil && n == 0
	})
}
