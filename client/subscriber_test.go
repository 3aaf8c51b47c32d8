package client_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/client"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// runSubscriber runs s until the test ends and returns Run's result channel.
func runSubscriber(t *testing.T, s *client.Subscriber) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx)
		close(done) // the test may have read the result already
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Subscriber.Run did not return after its context ended")
			return
		}
		// Every goroutine Run started (the pinger) has ended with it.
		deadline := time.Now().Add(5 * time.Second)
		for {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			if !strings.Contains(stacks, "client.(*Subscriber)") {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("a goroutine of the Subscriber outlived Run:\n%s", stacks)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return done
}

// sameState fails unless the subscriber's state is the room's snapshot
// read over HTTP: seq, pin, sale and every product's stock and version.
func sameState(t *testing.T, ctx context.Context, c *client.Client, s *client.Subscriber, room string) {
	t.Helper()
	want, err := c.Room(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.State()
	if !ok || got.Seq != want.Seq || got.Title != want.Title || (got.Pinned == nil) != (want.Pinned == nil) ||
		(got.Pinned != nil && got.Pinned.ID != want.Pinned.ID) || (got.Sale == nil) != (want.Sale == nil) {
		t.Fatalf("subscriber state seq %d title %q pinned %+v sale %+v; the node: seq %d title %q pinned %+v sale %+v",
			got.Seq, got.Title, got.Pinned, got.Sale, want.Seq, want.Title, want.Pinned, want.Sale)
	}
	for _, p := range want.Products {
		if st := got.Stock[p.ID]; st.Remaining != p.Remaining || st.V != p.V {
			t.Fatalf("stock of %s: subscriber %+v, node remaining %d v %d", p.ID, st, p.Remaining, p.V)
		}
	}
}

// recorder keeps the updates a subscriber reported.
type recorder struct {
	mu      sync.Mutex
	updates []client.Update
}

func (r *recorder) add(u client.Update, _ *client.RoomState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts []string
	for _, u := range r.updates {
		if u.Seq != 0 || u.Type == "snapshot" {
			ts = append(ts, fmt.Sprintf("%s:%d", u.Type, u.Seq))
		}
	}
	return ts
}

// subscribeThroughProxy makes a subscriber of room on the node at base,
// reached through a TCP proxy the test can cut.
func subscribeThroughProxy(t *testing.T, base string, c *client.Client, room string, rec *recorder) (*client.Subscriber, *redistest.Proxy) {
	proxy := redistest.NewProxy(t, strings.TrimPrefix(base, "http://"))
	s := client.New("http://"+proxy.Addr(), c.Token).Subscriber(room, rec.add)
	s.HTTP = c // the stock refresh after a resume goes straight to a node
	s.MinBackoff, s.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	return s, proxy
}

// resumeScenario: the subscriber joins, follows events, loses its network;
// events and a purchase happen meanwhile on writer's node; when the
// network is back it rejoins with since and gets the missed events as a
// replay (no second snapshot), plus the stock it missed.
func resumeScenario(t *testing.T, subBase, writerBase string) {
	ctx := testCtx(t)
	creator := client.New(writerBase, token(t, "maya", auth.RoleCreator, "spring"))
	if _, _, err := creator.PutRoom(ctx, "spring", spring); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s, proxy := subscribeThroughProxy(t, subBase, client.New(subBase, token(t, "sub", auth.RoleViewer)), "spring", rec)
	runSubscriber(t, s)
	testutil.Eventually(t, "the snapshot", func() bool { _, ok := s.State(); return ok })
	if err := creator.Pin(ctx, "spring", "tote"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the pin", func() bool { st, _ := s.State(); return st.Pinned != nil && st.Pinned.ID == "tote" })
	seqBefore := func() uint64 { st, _ := s.State(); return st.Seq }()

	proxy.Cut()
	if err := creator.Pin(ctx, "spring", "cap"); err != nil {
		t.Fatal(err)
	}
	if _, err := creator.StartSale(ctx, "spring", client.SaleSpec{Product: "cap", Price: 499, Quantity: 5, PerUserLimit: 1, DurationMS: 60000, StartsInMS: 60000}); err != nil {
		t.Fatal(err)
	}
	if _, err := creator.WithToken(token(t, "jo", auth.RoleViewer)).Buy(ctx, "spring", client.Purchase{Product: "tote"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a few failed reconnects
	proxy.Restore()

	testutil.Eventually(t, "the missed events", func() bool { st, _ := s.State(); return st.Seq == seqBefore+2 && st.Sale != nil })
	testutil.Eventually(t, "the missed stock", func() bool { st, _ := s.State(); return st.Stock["tote"].Remaining == 2 })
	sameState(t, ctx, creator, s, "spring")
	st := s.Stats()
	if st.Snapshots != 1 || st.Resumes < 1 || st.Connects < 2 || st.Gaps != 0 {
		t.Fatalf("stats %+v: want 1 snapshot, a resume, 2 connects, no gap; updates %v", st, rec.types())
	}
	want := []string{fmt.Sprintf("snapshot:%d", seqBefore-1), fmt.Sprintf("pinned:%d", seqBefore), fmt.Sprintf("pinned:%d", seqBefore+1), fmt.Sprintf("sale:%d", seqBefore+2)}
	if got := rec.types(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("updates %v, want %v", got, want)
	}
}

func TestSubscriberResumeMemory(t *testing.T) {
	base := startNode(t, server.Config{})
	resumeScenario(t, base, base)
}

// TestSubscriberResumeRedis: two nodes on one real redis-server; the
// subscriber is on node A, the creator and the buyer on node B.
func TestSubscriberResumeRedis(t *testing.T) {
	rs := redistest.Start(t)
	a := startNode(t, server.Config{RedisURL: rs.URL()})
	b := startNode(t, server.Config{RedisURL: rs.URL()})
	resumeScenario(t, a, b)
}

// TestSubscriberNodeResync: the node loses Redis and comes back; it sends
// its viewers a fresh snapshot, which the subscriber applies.
func TestSubscriberNodeResync(t *testing.T) {
	rs := redistest.Start(t, redistest.WithAppendOnly())
	base := startNode(t, server.Config{RedisURL: rs.URL()})
	ctx := testCtx(t)
	creator := client.New(base, token(t, "maya", auth.RoleCreator, "spring"))
	if _, _, err := creator.PutRoom(ctx, "spring", spring); err != nil {
		t.Fatal(err)
	}
	s := creator.Subscriber("spring", nil)
	runSubscriber(t, s)
	testutil.Eventually(t, "the snapshot", func() bool { _, ok := s.State(); return ok })
	rs.Kill()
	rs.Restart()
	testutil.Eventually(t, "a second snapshot after the node's resync", func() bool { return s.Stats().Snapshots >= 2 })
	testutil.Eventually(t, "the pin after the resync", func() bool {
		_ = creator.Pin(ctx, "spring", "cap") // unavailable until the node is back
		st, _ := s.State()
		return st.Pinned != nil && st.Pinned.ID == "cap"
	})
	sameState(t, ctx, creator, s, "spring")
}

// TestSubscriberRefused: a join the server refuses for good ends Run with
// the protocol error.
func TestSubscriberRefused(t *testing.T) {
	base := startNode(t, server.Config{})
	s := client.New(base, token(t, "sub", auth.RoleViewer)).Subscriber("nosuchroom", nil)
	done := runSubscriber(t, s)
	select {
	case err := <-done:
		if client.Code(err) != "not_found" {
			t.Fatalf("Run: %v, want not_found", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end on not_found")
	}
	bad := client.New(base, "not-a-jwt").Subscriber("demo", nil)
	select {
	case err := <-runSubscriber(t, bad):
		if client.Code(err) != "unauthorized" {
			t.Fatalf("Run with a bad token: %v, want unauthorized", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end on a refused token")
	}
}

// TestSubscriberRoomClosed: a deleted room ends Run with ErrRoomClosed,
// after the callback saw room_closed.
func TestSubscriberRoomClosed(t *testing.T) {
	base := startNode(t, server.Config{})
	ctx := testCtx(t)
	creator := client.New(base, token(t, "maya", auth.RoleCreator, "spring"))
	if _, _, err := creator.PutRoom(ctx, "spring", spring); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := creator.Subscriber("spring", rec.add)
	done := runSubscriber(t, s)
	testutil.Eventually(t, "the snapshot", func() bool { _, ok := s.State(); return ok })
	if err := creator.DeleteRoom(ctx, "spring"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrRoomClosed) {
			t.Fatalf("Run: %v, want ErrRoomClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end when the room was deleted")
	}
	rec.mu.Lock()
	last := rec.updates[len(rec.updates)-1].Type
	rec.mu.Unlock()
	if last != "room_closed" {
		t.Fatalf("last update %q, want room_closed", last)
	}
	wantCode(t, "DeleteRoom again", creator.DeleteRoom(ctx, "spring"), "not_found", 404)
}
