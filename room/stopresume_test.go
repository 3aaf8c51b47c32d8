package room

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	ltestutil "github.com/liveserver/liveserver/internal/testutil"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// Consumers that stop reading and later resume, many times each, while a
// room's events keep flowing to them and to consumers that always read:
// each must get every event, in order, up to the last, or get the events in
// order up to some point, then slow_consumer and a 4000 close. A consumer
// whose connection stays open while it stops getting what is queued for it
// (a lost wake-up between the queue, the pool and the hand-off goroutine)
// fails the test, with the state of every connection the hub still has.
//
// The sockets are small on both sides so that a pause of a few
// milliseconds fills them: most pauses make the pool hand the connection to
// a goroutine of its own mid-frame, and the longer ones overflow the queue.
// The client's receive buffer is set before it connects: set after (with
// SetReadBuffer), the kernel drops data the window had already allowed,
// and the stream crawls at retransmission timeouts; a consumer then gets
// the ~600 events its sockets held and nothing more for seconds, with the
// connection open, whatever the server does (a lost wake-up's symptom,
// without one).
func TestStopResumeUnderLoad(t *testing.T) {
	const (
		rounds    = 4
		stoppers  = 12   // consumers that pause
		readers   = 4    // consumers that always read
		events    = 6000 // per round
		burst     = 5    // events per millisecond, at most
		maxPause  = 200 * time.Millisecond
		stuckWait = 15 * time.Second // after the last event, for every consumer to finish
	)
	store := inventory.NewMemoryStore(inventory.MemoryConfig{})
	defer store.Close()
	if _, err := store.PutRoom(context.Background(), "r", inventory.RoomSpec{Title: "R", Products: []inventory.ProductSpec{
		{ID: "a", Name: "A", Price: 1, Currency: "USD", Stock: 5},
	}}); err != nil {
		t.Fatal(err)
	}
	hub := NewHub(Config{Source: store, ViewersInterval: time.Hour, MaxQueueBytes: 128 << 10,
		WriteTimeout: time.Minute, PingInterval: time.Hour})
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := hub.Accept(w, r, AcceptOptions{})
		if err != nil {
			return
		}
		if err := hub.Join(context.Background(), c, "r", nil, nil); err != nil {
			t.Errorf("join: %v", err)
		}
		go c.ReadLoop(func(websocket.MessageType, []byte) {})
	}))
	ts.Listener = ltestutil.SmallSendBufListener{Listener: ts.Listener}
	ts.Start()
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return ltestutil.SmallRecvBufDialer(16<<10).DialContext(ctx, network, addr)
	}}}

	pad := strings.Repeat("x", 100)
	var seq uint64
	var full, slow int
	for round := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		outcomes := make([]string, stoppers+readers)
		var wg sync.WaitGroup
		joined := make(chan struct{}, stoppers+readers)
		for i := range stoppers + readers {
			ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client})
			if err != nil {
				t.Fatal(err)
			}
			ws.SetReadLimit(-1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer ws.CloseNow()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(i)))
				outcomes[i] = consume(ctx, ws, seq+1, seq+events, i < stoppers, rng, maxPause, joined)
			}()
		}
		for range stoppers + readers {
			<-joined // each has its snapshot: it is subscribed
		}
		for range events {
			seq++
			hub.HandleMessage("r", protocol.SeqEnvelope(seq, fmt.Appendf(nil, "m %d %s", seq, pad)))
			if seq%burst == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stuckWait):
			t.Errorf("round %d: consumers still waiting %v after the last event; the hub's connections:\n%s", round, stuckWait, hubState(hub))
			cancel()
			<-done
		}
		cancel()
		for i, o := range outcomes {
			switch o {
			case "all":
				full++
			case "slow":
				slow++
				if i >= stoppers {
					t.Errorf("round %d: consumer %d, which never paused, was closed as slow", round, i)
				}
			default:
				t.Errorf("round %d: consumer %d (pauses: %v): %s", round, i, i < stoppers, o)
			}
		}
		// The next round's consumers join a quiet room.
		ltestutil.Eventually(t, "every connection closed", func() bool { return hub.Conns() == 0 })
	}
	handoffs := testutil.ToFloat64(hub.metrics.handoffs)
	t.Logf("%d consumers got every event, %d were closed as slow; %v hand-offs", full, slow, handoffs)
	if handoffs == 0 || full <= rounds*readers {
		t.Fatalf("no paused consumer got its whole backlog (%d full) or no socket filled (%v hand-offs): this test tested nothing", full, handoffs)
	}
}

// consume reads events first..last in order; with pause set it stops
// reading for up to maxPause (now and then 4 times as long) after reading
// for up to maxPause. It returns "all" when it
// got every event, "slow" when it got a prefix, slow_consumer and a 4000
// close, and otherwise what went wrong.
func consume(ctx context.Context, ws *websocket.Conn, first, last uint64, pause bool, rng *rand.Rand, maxPause time.Duration, joined chan<- struct{}) string {
	next := first
	sawSlow := false
	pauseAt := time.Now().Add(time.Duration(rng.Int64N(int64(maxPause))))
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == protocol.CloseSlowConsumer && sawSlow {
				return "slow"
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				return fmt.Sprintf("stuck: got events %d..%d, none since (slow_consumer seen: %v)", first, next-1, sawSlow)
			}
			return fmt.Sprintf("read after event %d: %v", next-1, err)
		}
		for _, m := range bytes.Split(data, []byte("\n")) {
			switch {
			case bytes.HasPrefix(m, []byte(`{"type":"snapshot"`)):
				joined <- struct{}{}
				continue
			case bytes.Contains(m, []byte(protocol.CodeSlowConsumer)):
				sawSlow = true
				continue
			case sawSlow:
				return fmt.Sprintf("%.40q after slow_consumer", m)
			}
			f := bytes.Fields(m)
			n, err := strconv.ParseUint(string(f[min(1, len(f)-1)]), 10, 64)
			if len(f) != 3 || err != nil || n != next {
				return fmt.Sprintf("got %.40q, want event %d", m, next)
			}
			if next == last {
				return "all"
			}
			next++
		}
		if pause && time.Now().After(pauseAt) {
			d := time.Duration(rng.Int64N(int64(maxPause)))
			if rng.IntN(8) == 0 {
				d *= 4 // long enough to overflow the queue
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
			pauseAt = time.Now().Add(time.Duration(rng.Int64N(int64(maxPause))))
		}
	}
}

// hubState describes every connection the hub has, for a failure report.
func hubState(h *Hub) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var b strings.Builder
	for c := range h.conns {
		c.mu.Lock()
		fmt.Fprintf(&b, "conn %d: writing %v closing %v queued %d bytes in %d+%d messages; %s\n",
			c.id, c.writing, c.closing, c.queued, len(c.queue), len(c.vol), sockState(c))
		c.mu.Unlock()
	}
	return b.String()
}
