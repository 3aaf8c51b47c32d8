package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// Cluster mode: several nodes (server.New with RedisURL) on one real
// redis-server, each behind its own httptest server, driven over HTTP and
// WebSocket as clients would.

const clusterSecret = "cluster-test-secret-0123456789abcdef"

// startCluster starts n nodes on redisURLs[i] (cycled).
func startCluster(t *testing.T, n int, redisURLs ...string) []*testNode {
	t.Helper()
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = startNode(t, server.Config{RedisURL: redisURLs[i%len(redisURLs)], JWTSecret: clusterSecret})
	}
	return nodes
}

func clusterToken(t *testing.T, sub, role string, rooms ...string) string {
	return sign(t, clusterSecret, sub, role, time.Hour, rooms...)
}

// clusterPost is a POST that does not fail the test, for goroutines.
func clusterPost(url, token string, body any) (int, msg, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out msg
	if err := json.Unmarshal(data, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("body %q: %v", data, err)
	}
	return resp.StatusCode, out, nil
}

// roomView is what a viewer knows of a room, built only from what it
// received, as a client would: snapshots replace it, events apply in seq
// order, and an event that does not follow the last seq is a gap the
// server failed to repair.
type roomView struct {
	seq       int
	pinned    string
	events    []string // "seq type product" of every event applied
	snapshots int
	gaps      []string
	viewers   float64 // the last viewer count received
	// remaining is each product's stock, from snapshots and stock
	// messages, the highest v winning.
	remaining map[string]float64
	v         map[string]float64
}

// stock records a product's remaining stock at version v unless a later
// version is known.
func (v *roomView) stock(p any, remaining, ver any) {
	id, _ := p.(string)
	r, _ := remaining.(float64)
	n, _ := ver.(float64)
	if v.remaining == nil {
		v.remaining, v.v = map[string]float64{}, map[string]float64{}
	}
	if old, ok := v.v[id]; !ok || n >= old {
		v.remaining[id], v.v[id] = r, n
	}
}

func (v *roomView) apply(m msg) {
	seq, hasSeq := m["seq"].(float64)
	switch {
	case m["type"] == "viewers":
		v.viewers, _ = m["count"].(float64)
	case m["type"] == "stock":
		v.stock(m["product"], m["remaining"], m["v"])
	case m["type"] == "snapshot":
		ps, _ := m["products"].([]any)
		for _, p := range ps {
			if p, ok := p.(map[string]any); ok {
				v.stock(p["id"], p["remaining"], p["v"])
			}
		}
		if int(seq) < v.seq {
			v.gaps = append(v.gaps, fmt.Sprintf("snapshot at %v after seq %d", seq, v.seq))
		}
		v.snapshots++
		v.seq, v.pinned = int(seq), productID(m["pinned"])
		v.viewers, _ = m["viewers"].(float64)
	case hasSeq:
		if int(seq) != v.seq+1 {
			v.gaps = append(v.gaps, fmt.Sprintf("%v %v after seq %d", m["type"], seq, v.seq))
		}
		v.seq = int(seq)
		switch m["type"] {
		case "pinned":
			v.pinned = productID(m["product"])
		case "unpinned":
			v.pinned = ""
		}
		v.events = append(v.events, fmt.Sprintf("%d %v %s", v.seq, m["type"], productID(m["product"])))
	}
}

func productID(p any) string {
	if m, ok := p.(map[string]any); ok {
		s, _ := m["id"].(string)
		return s
	}
	return ""
}

// follow applies c's messages to v until done(v) holds.
func follow(t *testing.T, c *client, v *roomView, what string, done func(*roomView) bool) {
	t.Helper()
	deadline := time.After(waitLong)
	for !done(v) {
		select {
		case m := <-c.msgs:
			v.apply(m)
		case <-c.done:
			t.Fatalf("%s: connection ended: %v", what, c.closeErr())
		case <-deadline:
			t.Fatalf("%s: not reached within %s (seq %d, pinned %q, gaps %v)", what, waitLong, v.seq, v.pinned, v.gaps)
		}
	}
}

// joinViewers dials n viewers, each its own user, over nodes in turn and
// joins each to room.
func joinViewers(t *testing.T, nodes []*testNode, n int, room string) ([]*client, []*roomView) {
	t.Helper()
	var viewers []*client
	var views []*roomView
	for i := range n {
		c := dial(t, nodes[i%len(nodes)].wsURL(), clusterToken(t, fmt.Sprintf("viewer%d", i), "viewer"))
		viewers = append(viewers, c)
		views = append(views, joinView(c, room))
	}
	return viewers, views
}

// joinView joins room and starts a view from the snapshot.
func joinView(c *client, room string) *roomView {
	v := &roomView{}
	v.apply(c.join(room))
	return v
}

// Three nodes on one Redis: events of a creator on node 1 reach the viewers
// of every node in the same seq order; 300 buyers spread over the nodes race
// for a stock of 100 and exactly 100 win, all in the order stream; viewer
// counts add up across nodes.
func TestClusterThreeNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := startCluster(t, 3, srv.URL())
	checkThreeNodes(t, nodes, "r1")
}

// checkThreeNodes runs the checks of TestClusterThreeNodes on room (which
// it creates) with three nodes.
func checkThreeNodes(t *testing.T, nodes []*testNode, room string) {
	t.Helper()
	creatorTok := clusterToken(t, "creator", "creator", room)
	nodes[0].putRoom(t, creatorTok, room, 100, 5)

	viewers, views := joinViewers(t, nodes, 6, room)

	creator := dial(t, nodes[0].wsURL(), creatorTok)
	const pins = 30
	for i := range pins {
		r := creator.request(msg{"type": "pin", "room": room, "product": fmt.Sprintf("p%d", i%2+1)})
		if r["ok"] != true {
			t.Fatalf("pin %d: %v", i, r)
		}
	}
	if r := creator.request(msg{"type": "unpin", "room": room}); r["ok"] != true {
		t.Fatalf("unpin: %v", r)
	}
	for i, c := range viewers {
		follow(t, c, views[i], fmt.Sprintf("viewer %d", i), func(v *roomView) bool { return v.seq == pins+1 })
	}
	for i, v := range views {
		if len(v.gaps) > 0 || len(v.events) != pins+1 || v.pinned != "" {
			t.Fatalf("viewer %d: %d events, pinned %q, gaps %v", i, len(v.events), v.pinned, v.gaps)
		}
		if fmt.Sprint(v.events) != fmt.Sprint(views[0].events) {
			t.Fatalf("viewer %d saw\n%v\nviewer 0 saw\n%v", i, v.events, views[0].events)
		}
	}

	// 300 buyers over three nodes, stock 100. A purchase that times out
	// queueing on a loaded node is answered overloaded (nothing taken);
	// the buyer retries it with the same id, as the protocol asks, and
	// every buyer ends with ok or sold_out.
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	acked := map[string]bool{}
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := clusterToken(t, fmt.Sprintf("buyer%d", i), "viewer")
			var st int
			var err error
			out := retryOverloaded(func() msg {
				var out msg
				st, out, err = clusterPost(nodes[i%3].url+"/api/rooms/"+room+"/purchases", tok, msg{"id": "b", "product": "p1"})
				return out
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				outcomes["transport: "+err.Error()]++
			case st == 200:
				outcomes["ok"]++
				acked[out["order"].(string)] = true
			default:
				outcomes[errCode(out)]++
			}
		}()
	}
	wg.Wait()
	if outcomes["ok"] != 100 || outcomes["sold_out"] != 200 || len(acked) != 100 {
		t.Fatalf("outcomes %v (%d distinct orders), want 100 ok and 200 sold_out", outcomes, len(acked))
	}
	for i, n := range nodes {
		var all []msg
		after := ""
		for {
			var page struct {
				Orders []msg
				Next   *string
			}
			path := "/api/rooms/" + room + "/orders?limit=37"
			if after != "" {
				path += "&after=" + after
			}
			if st := n.do(t, "GET", path, creatorTok, nil, &page); st != 200 {
				t.Fatalf("node %d: orders: status %d", i, st)
			}
			all = append(all, page.Orders...)
			if page.Next == nil {
				break
			}
			after = *page.Next
		}
		if len(all) != 100 {
			t.Fatalf("node %d: %d orders in the stream, want 100", i, len(all))
		}
		for _, o := range all {
			if !acked[o["order"].(string)] {
				t.Fatalf("node %d: order %v was never acknowledged", i, o)
			}
		}
		var snap struct {
			Products []struct {
				ID        string
				Remaining int
			}
		}
		n.do(t, "GET", "/api/rooms/"+room, "", nil, &snap)
		if snap.Products[0].ID != "p1" || snap.Products[0].Remaining != 0 {
			t.Fatalf("node %d: snapshot products %+v, want p1 remaining 0", i, snap.Products)
		}
	}
	for i, c := range viewers {
		testutil.Eventually(t, fmt.Sprintf("viewer %d sees stock 0", i), func() bool {
			s := c.lastStock("p1")
			return s != nil && s["remaining"] == 0.0
		})
	}

	// Viewer counts: six viewers, two per node, are six on every node; a
	// seventh joining sees seven in its snapshot.
	for i, c := range viewers {
		follow(t, c, views[i], fmt.Sprintf("viewer %d: count 6", i), func(v *roomView) bool { return v.viewers == 6 })
	}
	late := dial(t, nodes[1].wsURL(), clusterToken(t, "late", "viewer"))
	if snap := late.join(room); snap["viewers"] != 7.0 {
		t.Fatalf("seventh viewer's snapshot viewers = %v, want 7", snap["viewers"])
	}
	for i, c := range viewers {
		follow(t, c, views[i], fmt.Sprintf("viewer %d: count 7", i), func(v *roomView) bool { return v.viewers == 7 })
	}
	var snap struct{ Viewers int }
	nodes[2].do(t, "GET", "/api/rooms/"+room, "", nil, &snap)
	if snap.Viewers != 7 {
		t.Fatalf("HTTP snapshot on node 3: viewers %d, want 7", snap.Viewers)
	}
}

// One node's link to Redis is cut for 500ms while a creator on another
// node pins: every viewer ends with the same state and seq, having seen no
// gap (the cut node resynchronizes its viewers with a fresh snapshot).
func TestClusterLinkCut(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	nodes := startCluster(t, 3, srv.URL(), "redis://"+proxy.Addr()+"/0", srv.URL())
	creatorTok := clusterToken(t, "creator", "creator", "r1")
	nodes[0].putRoom(t, creatorTok, "r1", 10, 10, 10)
	viewers, views := joinViewers(t, nodes, 6, "r1")

	creator := dial(t, nodes[0].wsURL(), creatorTok)
	stop := make(chan struct{})
	cutDone := make(chan struct{})
	go func() {
		defer close(cutDone)
		time.Sleep(300 * time.Millisecond)
		proxy.Cut()
		time.Sleep(500 * time.Millisecond)
		proxy.Restore()
		time.Sleep(500 * time.Millisecond)
		close(stop)
	}()
	pins := 0
	for done := false; !done; pins++ {
		select {
		case <-stop:
			done = true
		default:
		}
		// The last pin, after the link is back, is one every node must
		// deliver.
		if r := creator.request(msg{"type": "pin", "room": "r1", "product": fmt.Sprintf("p%d", pins%3+1)}); r["ok"] != true {
			t.Fatalf("pin %d: %v", pins, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	<-cutDone
	last := fmt.Sprintf("p%d", (pins-1)%3+1)
	for i, c := range viewers {
		follow(t, c, views[i], fmt.Sprintf("viewer %d", i), func(v *roomView) bool { return v.seq == pins })
	}
	for i, v := range views {
		if len(v.gaps) > 0 || v.pinned != last || v.seq != pins {
			t.Fatalf("viewer %d: seq %d (want %d), pinned %q (want %s), gaps %v", i, v.seq, pins, v.pinned, last, v.gaps)
		}
	}
	// The viewers of the cut node were resynchronized with a snapshot.
	for _, i := range []int{1, 4} {
		if views[i].snapshots < 2 {
			t.Fatalf("viewer %d of the cut node got %d snapshots, want a fresh one after the cut", i, views[i].snapshots)
		}
	}
	if n := metric(t, nodes[1], "liveserver_pubsub_reconnects_total"); n < 1 {
		t.Fatalf("cut node counted %v pub/sub reconnects", n)
	}
	if n := metric(t, nodes[0], "liveserver_pubsub_reconnects_total"); n != 0 {
		t.Fatalf("uncut node counted %v pub/sub reconnects", n)
	}
}

// redis-server is killed (SIGKILL) mid-sale and restarted with its
// append-only file: no oversell, every acknowledged purchase is in the
// order stream, requests during the outage fail fast with unavailable,
// viewers stay connected and get a fresh snapshot once Redis is back.
func TestClusterRedisRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAppendOnly())
	nodes := startCluster(t, 2, srv.URL())
	creatorTok := clusterToken(t, "creator", "creator", "r1")
	const stock, saleQty = 150, 100
	nodes[0].putRoom(t, creatorTok, "r1", stock)
	var sale struct{ Sale struct{ ID, State string } }
	if st := nodes[0].do(t, "POST", "/api/rooms/r1/sales", creatorTok, msg{"product": "p1", "price": 1, "quantity": saleQty, "per_user_limit": 1, "duration_ms": 60000}, &sale); st != 201 || sale.Sale.State != "live" {
		t.Fatalf("start sale: %d %+v", st, sale)
	}
	viewers, views := joinViewers(t, nodes[:2], 4, "r1")

	// Buyers run through the whole test, each request a new user.
	type result struct {
		status int
		code   string
		order  string
		price  float64
		took   time.Duration
		at     time.Time
	}
	var mu sync.Mutex
	var results []result
	var next atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := next.Add(1)
				tok := clusterToken(t, fmt.Sprintf("buyer%d", i), "viewer")
				start := time.Now()
				st, out, err := clusterPost(nodes[w%2].url+"/api/rooms/r1/purchases", tok, msg{"id": "b", "product": "p1"})
				r := result{status: st, took: time.Since(start), at: start}
				if err != nil {
					r.code = "transport: " + err.Error()
				} else if st == 200 {
					r.order, _ = out["order"].(string)
					r.price, _ = out["price"].(float64)
				} else {
					r.code = errCode(out)
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	acks := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range results {
			if r.status == 200 {
				n++
			}
		}
		return n
	}
	testutil.Eventually(t, "some purchases before the crash", func() bool { return acks() >= 20 })

	srv.Kill()
	killed := time.Now()
	for i, n := range nodes {
		testutil.Eventually(t, fmt.Sprintf("node %d /readyz 503", i), func() bool {
			var out msg
			return n.do(t, "GET", "/readyz", "", nil, &out) == 503
		})
	}
	time.Sleep(time.Second) // purchases keep failing meanwhile
	restarted := time.Now()
	srv.Restart()
	for i, n := range nodes {
		testutil.Eventually(t, fmt.Sprintf("node %d /readyz 200", i), func() bool {
			var out msg
			return n.do(t, "GET", "/readyz", "", nil, &out) == 200
		})
	}
	// Viewers stayed connected and are resynchronized within seconds.
	for i, c := range viewers {
		follow(t, c, views[i], fmt.Sprintf("viewer %d fresh snapshot", i), func(v *roomView) bool { return v.snapshots >= 2 })
	}
	testutil.Eventually(t, "stock sold out after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(results) > 0 && results[len(results)-1].code == "sold_out"
	})
	close(stop)
	wg.Wait()

	// During the outage (requests that began after a grace for those in
	// flight at the crash and ended before the restart) every purchase
	// failed fast with unavailable.
	const requestTimeout = 2 * time.Second
	var during, acked, saleAcked int
	var slowest time.Duration
	orders := map[string]bool{}
	for _, r := range results {
		if r.at.After(killed.Add(100*time.Millisecond)) && r.at.Add(r.took).Before(restarted) {
			during++
			slowest = max(slowest, r.took)
			if r.code != "unavailable" || r.took > requestTimeout/2 {
				t.Fatalf("purchase during the outage: status %d %q after %v; want unavailable, fast", r.status, r.code, r.took)
			}
		}
		if r.status == 200 {
			acked++
			orders[r.order] = true
			if r.price == 1 {
				saleAcked++
			}
		} else if r.code != "unavailable" && r.code != "sold_out" {
			t.Fatalf("purchase: status %d %q", r.status, r.code)
		}
	}
	if during == 0 {
		t.Fatal("no purchase was attempted during the outage")
	}
	if acked > stock || saleAcked > saleQty || len(orders) != acked {
		t.Fatalf("%d purchases acknowledged (%d at the sale price, %d distinct): oversold %d/%d", acked, saleAcked, len(orders), stock, saleQty)
	}
	var page struct{ Orders []msg }
	if st := nodes[1].do(t, "GET", "/api/rooms/r1/orders?limit=1000", creatorTok, nil, &page); st != 200 {
		t.Fatalf("orders: %d", st)
	}
	inStream := map[string]bool{}
	for _, o := range page.Orders {
		inStream[o["order"].(string)] = true
	}
	for o := range orders {
		if !inStream[o] {
			t.Fatalf("acknowledged order %s is not in the order stream", o)
		}
	}
	// Nothing oversold: the stream (which may also hold purchases whose
	// answer was lost in the crash) is exactly what left the stock.
	if len(page.Orders) != stock {
		t.Fatalf("%d orders in the stream for a sold-out stock of %d", len(page.Orders), stock)
	}
	t.Logf("%d purchases: %d acknowledged, %d during the outage (slowest answer %v), %d orders in the stream", len(results), acked, during, slowest, len(page.Orders))
}

// In development mode the nodes of a cluster share the token secret through
// Redis: a token from one node's /dev/token works on every node.
func TestClusterDevTokensWorkOnEveryNode(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, server.Config{RedisURL: srv.URL(), SeedDemo: true})
	b := startNode(t, server.Config{RedisURL: srv.URL()})
	if !a.srv.DevMode() || !b.srv.DevMode() {
		t.Fatal("nodes without a secret must be in development mode")
	}
	tok := a.token(t, "maya", "creator", "demo")
	if st := b.do(t, "POST", "/api/rooms/demo/pin", tok, msg{"product": "p1"}, nil); st != 200 {
		t.Fatalf("node B refused node A's development token: %d", st)
	}
	dial(t, b.wsURL(), tok).join("demo")
	// A node with its own secret still refuses it. (It has its own Redis:
	// a production node refuses a Redis used by development nodes.)
	c := startNode(t, server.Config{RedisURL: redistest.Start(t).URL(), JWTSecret: clusterSecret})
	if st := c.do(t, "POST", "/api/rooms/demo/pin", tok, msg{"product": "p1"}, nil); st != 401 {
		t.Fatalf("a node with a real secret accepted a development token: %d", st)
	}
}
