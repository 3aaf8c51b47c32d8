package server_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func auctionOf(m msg) msg {
	a, _ := m["auction"].(map[string]any)
	return a
}

func isAuctionState(state string) func(msg) bool {
	return func(m msg) bool { return m["type"] == "auction" && auctionOf(m)["state"] == state }
}

// minBid is the min_bid of a bid_too_low reply or error body.
func minBid(m msg) int64 {
	e, _ := m["error"].(map[string]any)
	return num(e["min_bid"])
}

// One node in memory mode on a fake clock, driven over WebSocket and HTTP
// as a creator console and viewers would: the start holds a unit (stock),
// bids answer and broadcast, bad input is refused with its code and
// changes nothing, and the end (the clock) sells to the leader with one
// order in the log.
func TestAuctionOverWebSocketAndHTTP(t *testing.T) {
	clk := clock.NewFake(time.Now())
	n := startNode(t, server.Config{Clock: clk})
	creator := n.token(t, "cara", "creator", "a1")
	n.putRoom(t, creator, "a1", 2)
	cc := dial(t, n.wsURL(), creator)
	ann := dial(t, n.wsURL(), n.token(t, "ann", "viewer"))
	bob := dial(t, n.wsURL(), n.token(t, "bob", "viewer"))
	watcher := dial(t, n.wsURL(), n.token(t, "wes", "viewer"))
	if snap := watcher.join("a1"); snap["auction"] != nil {
		t.Fatalf("snapshot auction before any: %v", snap["auction"])
	}

	// Bad auction_start input: each its code, nothing started.
	for _, bad := range []msg{
		{"product": "p1", "start_price": 0, "increment": 10, "duration_ms": 30000},
		{"product": "p1", "start_price": 100, "increment": 1.5, "duration_ms": 30000},
		{"product": "p1", "start_price": 100, "increment": 10, "duration_ms": 4999},
		{"product": "p1", "start_price": 100, "increment": 10, "duration_ms": 600001},
		{"product": "p1", "start_price": 100, "increment": 10, "duration_ms": 30000, "extend_ms": 60001},
		{"product": "p1", "start_price": 100, "increment": 10, "duration_ms": 30000, "sudden_death": "yes"},
		{"product": "p1", "start_price": "100", "increment": 10, "duration_ms": 30000},
		{"start_price": 100, "increment": 10, "duration_ms": 30000},
	} {
		bad["type"], bad["room"] = "auction_start", "a1"
		if r := cc.request(bad); errCode(r) != "bad_request" {
			t.Fatalf("auction_start %v: %v", bad, r)
		}
	}
	if r := ann.request(msg{"type": "auction_start", "room": "a1", "product": "p1", "start_price": 100, "increment": 10, "duration_ms": 30000}); errCode(r) != "forbidden" {
		t.Fatalf("viewer auction_start: %v", r)
	}
	r := cc.request(msg{"type": "auction_start", "room": "a1", "product": "p1", "start_price": 100, "increment": 10, "duration_ms": 30000, "extend_ms": 10000})
	if r["ok"] != true {
		t.Fatalf("auction_start: %v", r)
	}
	a := auctionOf(r)
	id, _ := a["id"].(string)
	if a["state"] != "live" || a["current"] != nil || a["leader"] != nil || a["result"] != nil || num(a["bids"]) != 0 {
		t.Fatalf("started %v", a)
	}
	ev := watcher.waitFor("auction live", isAuctionState("live"))
	if auctionOf(ev)["id"] != id {
		t.Fatalf("event %v", ev)
	}
	testutil.Eventually(t, "stock 1", func() bool { s := watcher.lastStock("p1"); return s != nil && num(s["remaining"]) == 1 })
	if r := cc.request(msg{"type": "auction_start", "room": "a1", "product": "p1", "start_price": 1, "increment": 1, "duration_ms": 5000}); errCode(r) != "bad_request" {
		t.Fatalf("second auction: %v", r)
	}
	if r := cc.request(msg{"type": "sale_start", "room": "a1", "product": "p1", "price": 1, "quantity": 1, "per_user_limit": 1, "duration_ms": 5000}); errCode(r) != "bad_request" {
		t.Fatalf("sale of the auctioned product: %v", r)
	}

	// Bad bids: each its code, no bid counted.
	for _, c := range []struct {
		m    msg
		code string
	}{
		{msg{"auction": id, "amount": 0}, "bad_request"},
		{msg{"auction": id, "amount": -100}, "bad_request"},
		{msg{"auction": id, "amount": 100.5}, "bad_request"},
		{msg{"auction": id, "amount": "100"}, "bad_request"},
		{msg{"auction": id}, "bad_request"},
		{msg{"auction": id, "amount": 200, "max": 150}, "bad_request"},
		{msg{"amount": 100}, "bad_request"},
		{msg{"auction": "00000000-0000-4000-8000-000000000000", "amount": 100}, "not_found"},
		{msg{"auction": "nope", "amount": 100}, "not_found"},
		{msg{"auction": id, "amount": 99}, "bid_too_low"},
	} {
		c.m["type"], c.m["room"] = "bid", "a1"
		r := ann.request(c.m)
		if errCode(r) != c.code {
			t.Fatalf("bid %v: %v, want %s", c.m, r, c.code)
		}
		if c.code == "bid_too_low" && minBid(r) != 100 {
			t.Fatalf("min_bid %v", r)
		}
	}
	if r := cc.request(msg{"type": "bid", "room": "a1", "auction": id, "amount": 500}); errCode(r) != "forbidden" {
		t.Fatalf("creator bid: %v", r)
	}
	var snap msg
	n.do(t, "GET", "/api/rooms/a1", "", nil, &snap)
	if sa := auctionOf(snap); sa["id"] != id || num(sa["bids"]) != 0 {
		t.Fatalf("snapshot auction after refused bids: %v", sa)
	}

	// Bids.
	ann.send(msg{"type": "bid", "id": "b1", "room": "a1", "auction": id, "amount": 100})
	r1 := ann.waitFor("reply b1", func(m msg) bool { return m["type"] == "reply" && m["id"] == "b1" })
	if r1["ok"] != true || num(r1["amount"]) != 100 || r1["leading"] != true || num(r1["current"]) != 100 || num(r1["ends_at"]) != num(a["ends_at"]) {
		t.Fatalf("bid reply %v", r1)
	}
	b := watcher.waitFor("bid message", isType("bid"))
	if b["auction"] != id || num(b["current"]) != 100 || num(b["v"]) != 1 || num(b["bids"]) != 1 || b["leader"] == nil {
		t.Fatalf("bid message %v", b)
	}
	if leader := b["leader"].(map[string]any); leader["id"] == "ann" || leader["name"] == "ann" {
		t.Fatalf("the leader shows the user id: %v", leader)
	}
	if r := bob.request(msg{"type": "bid", "room": "a1", "auction": id, "amount": 105}); errCode(r) != "bid_too_low" || minBid(r) != 110 {
		t.Fatalf("low bid: %v", r)
	}
	if r := bob.request(msg{"type": "bid", "room": "a1", "auction": id, "amount": 110, "max": 300}); r["ok"] != true || r["leading"] != true || num(r["current"]) != 110 {
		t.Fatalf("proxy bid: %v", r)
	}
	// A viewer resuming with since gets no snapshot: the leading bid
	// comes as a bid message after the replay.
	// (Once the bid's own message went out, so that it is not what the
	// resumer gets.)
	watcher.waitFor("bid message v2", func(m msg) bool { return m["type"] == "bid" && num(m["v"]) == 2 })
	resumer := dial(t, n.wsURL(), n.token(t, "ray", "viewer"))
	resumer.send(msg{"type": "join", "id": "j", "room": "a1", "since": num(ev["seq"])})
	if rb := resumer.waitFor("bid state", func(m msg) bool { return m["type"] == "bid" || m["type"] == "snapshot" }); rb["type"] != "bid" || num(rb["current"]) != 110 || num(rb["v"]) != 2 {
		t.Fatalf("after a resume: %v", rb)
	}
	ann.send(msg{"type": "bid", "id": "b1", "room": "a1", "auction": id, "amount": 100})
	again := ann.waitFor("reply b1 again", func(m msg) bool { return m["type"] == "reply" && m["id"] == "b1" })
	if num(again["current"]) != 100 || again["leading"] != true {
		t.Fatalf("a repeated bid id answered %v, want the first answer", again)
	}
	// Over HTTP: ann outbid at once by bob's proxy.
	var hb msg
	if st := n.do(t, "POST", "/api/rooms/a1/auctions/"+id+"/bids", n.token(t, "ann", "viewer"), msg{"id": "h1", "amount": 200}, &hb); st != 200 || hb["leading"] != false || num(hb["current"]) != 210 || num(hb["amount"]) != 200 {
		t.Fatalf("HTTP bid: %d %v", st, hb)
	}
	var he msg
	if st := n.do(t, "POST", "/api/rooms/a1/auctions/"+id+"/bids", n.token(t, "ann", "viewer"), msg{"id": "h2", "amount": 210}, &he); st != 409 || errCode(he) != "bid_too_low" || minBid(he) != 220 {
		t.Fatalf("HTTP low bid: %d %v", st, he)
	}
	if st := n.do(t, "POST", "/api/rooms/a1/auctions/"+id+"/bids", n.token(t, "ann", "viewer"), msg{"id": "h3", "amount": 1.5}, &he); st != 400 {
		t.Fatalf("HTTP non-integer bid: %d %v", st, he)
	}
	if st := n.do(t, "POST", "/api/rooms/a1/auctions/"+id+"/bids", creator, msg{"id": "h4", "amount": 900}, &he); st != 403 || errCode(he) != "forbidden" {
		t.Fatalf("HTTP creator bid: %d %v", st, he)
	}
	if st := n.do(t, "DELETE", "/api/rooms/a1/auctions/current", creator, nil, &he); st != 400 {
		t.Fatalf("stop with bids: %d %v", st, he)
	}

	// The last seconds: a bid with under extend_ms left extends.
	clk.Advance(25 * time.Second)
	r = ann.request(msg{"type": "bid", "room": "a1", "auction": id, "amount": 400})
	wantEnd := clk.Now().UnixMilli() + 10_000
	if r["ok"] != true || r["leading"] != true || num(r["ends_at"]) != wantEnd {
		t.Fatalf("late bid: %v, want ends_at %d", r, wantEnd)
	}
	watcher.waitFor("extended bid message", func(m msg) bool { return m["type"] == "bid" && num(m["ends_at"]) == wantEnd })
	clk.Advance(6 * time.Second) // past the first ends_at: still live
	if r := bob.request(msg{"type": "bid", "room": "a1", "auction": id, "amount": 410}); r["ok"] != true {
		t.Fatalf("bid in the extension: %v", r)
	}
	clk.Advance(15 * time.Second)
	end := watcher.waitFor("auction ended", isAuctionState("ended"))
	res, _ := auctionOf(end)["result"].(map[string]any)
	winner, _ := res["winner"].(map[string]any)
	if res["outcome"] != "sold" || num(res["amount"]) != 410 || winner == nil || res["order"] == nil {
		t.Fatalf("result %v", res)
	}
	if r := ann.request(msg{"type": "bid", "room": "a1", "auction": id, "amount": 1000}); errCode(r) != "auction_not_live" {
		t.Fatalf("bid after the end: %v", r)
	}
	var orders struct{ Orders []msg }
	n.do(t, "GET", "/api/rooms/a1/orders", creator, nil, &orders)
	if len(orders.Orders) != 1 || orders.Orders[0]["auction"] != id || orders.Orders[0]["sale"] != nil || orders.Orders[0]["user"] != "bob" || num(orders.Orders[0]["price"]) != 410 || num(orders.Orders[0]["qty"]) != 1 {
		t.Fatalf("orders %v", orders.Orders)
	}
	var got msg
	if st := n.do(t, "GET", "/api/rooms/a1/auctions/"+id, n.token(t, "bob", "viewer"), nil, &got); st != 200 || got["order"] == nil || auctionOf(got)["state"] != "ended" {
		t.Fatalf("winner's GET: %d %v", st, got)
	}
	got = nil
	if st := n.do(t, "GET", "/api/rooms/a1/auctions/"+id, "", nil, &got); st != 200 || got["order"] != nil {
		t.Fatalf("anyone's GET: %d %v", st, got)
	}
	if st := n.do(t, "GET", "/api/rooms/a1/auctions/00000000-0000-4000-8000-000000000000", "", nil, &got); st != 404 {
		t.Fatalf("unknown auction GET: %d", st)
	}

	// HTTP start and cancel: the unit comes back.
	var started msg
	if st := n.do(t, "POST", "/api/rooms/a1/auctions", creator, msg{"product": "p1", "start_price": 5, "increment": 1, "duration_ms": 5000, "sudden_death": true, "reserve_price": 50}, &started); st != 201 || auctionOf(started)["sudden_death"] != true || auctionOf(started)["reserve_met"] != false {
		t.Fatalf("HTTP start: %d %v", st, started)
	}
	testutil.Eventually(t, "stock 0", func() bool { return num(watcher.lastStock("p1")["remaining"]) == 0 })
	var stopped msg
	if st := n.do(t, "DELETE", "/api/rooms/a1/auctions/current", creator, nil, &stopped); st != 200 || auctionOf(stopped)["state"] != "ended" {
		t.Fatalf("HTTP stop: %d %v", st, stopped)
	}
	testutil.Eventually(t, "stock back to 1", func() bool { return num(watcher.lastStock("p1")["remaining"]) == 1 })
	if st := n.do(t, "DELETE", "/api/rooms/a1/auctions/current", creator, nil, &stopped); st != 404 {
		t.Fatalf("HTTP stop without an auction: %d %v", st, stopped)
	}
}

// Three nodes on one real redis-server. The creator's node starts the
// auction and is closed at once, abruptly (its timers die with it); bidders
// on the other nodes bid in the last seconds, which extends the auction on
// every node; a remaining node ends it, once: every viewer on every node
// sees the same final auction, with one order in the log for the highest
// bid.
func TestClusterAuction(t *testing.T) {
	srv := redistest.Start(t)
	nodes := startCluster(t, 3, srv.URL())
	creator := clusterToken(t, "cara", "creator", "a1")
	nodes[1].putRoom(t, creator, "a1", 1)
	viewers, _ := joinViewers(t, nodes[1:], 6, "a1")
	st, out, err := clusterPost(nodes[0].url+"/api/rooms/a1/auctions", creator, msg{"product": "p1", "start_price": 100, "increment": 10, "duration_ms": 5000, "extend_ms": 3000})
	if err != nil || st != 201 {
		t.Fatalf("start: %d %v %v", st, out, err)
	}
	nodes[0].srv.Close() // as a crash: no hand-over of its timers
	a := auctionOf(out)
	id, _ := a["id"].(string)
	firstEnd := num(a["ends_at"])
	for _, v := range viewers {
		v.waitFor("auction live", isAuctionState("live"))
	}

	// Bidders on WebSocket over the two remaining nodes (and a few over
	// HTTP) wait for the last extend_ms, then all bid at once.
	const bidders = 120
	conns := make([]*client, bidders)
	for i := range conns {
		if i%10 != 9 {
			conns[i] = dial(t, nodes[1+i%2].wsURL(), clusterToken(t, fmt.Sprintf("bidder%d", i), "viewer"))
		}
	}
	for time.Now().UnixMilli() < firstEnd-2500 {
		time.Sleep(20 * time.Millisecond)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted []int64
	var lastEnds int64
	for i := range bidders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			amount := int64(100 + 10*i)
			var r msg
			ok := false
			if c := conns[i]; c != nil {
				c.send(msg{"type": "bid", "id": "b", "room": "a1", "auction": id, "amount": amount})
				r = c.waitFor("bid reply", isType("reply"))
				ok = r["ok"] == true
			} else {
				st, out, err := clusterPost(fmt.Sprintf("%s/api/rooms/a1/auctions/%s/bids", nodes[1+i%2].url, id), clusterToken(t, fmt.Sprintf("bidder%d", i), "viewer"), msg{"id": "b", "amount": amount})
				if err != nil {
					t.Error(err)
					return
				}
				r, ok = out, st == http.StatusOK
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ok:
				accepted = append(accepted, amount)
				lastEnds = max(lastEnds, num(r["ends_at"]))
			case errCode(r) == "bid_too_low" || errCode(r) == "auction_not_live":
			default:
				t.Errorf("bid: %v", r)
			}
		}()
	}
	wg.Wait()
	if len(accepted) == 0 {
		t.Fatal("no bid accepted")
	}
	if lastEnds <= firstEnd {
		t.Fatalf("no extension: ends_at %d, first %d", lastEnds, firstEnd)
	}
	top := accepted[0]
	for _, x := range accepted {
		top = max(top, x)
	}
	if top != 100+10*(bidders-1) {
		t.Fatalf("the highest bid %d was not accepted", 100+10*(bidders-1))
	}
	var final msg
	for i, v := range viewers {
		// The bid message with the highest v a viewer got is the last
		// bid's: the extension reached every node.
		var last msg
		end := auctionOf(v.waitFor("auction ended", func(m msg) bool {
			if m["type"] == "bid" && (last == nil || num(m["v"]) > num(last["v"])) {
				last = m
			}
			return isAuctionState("ended")(m)
		}))
		if last == nil || num(last["ends_at"]) != lastEnds || num(last["current"]) != top || num(last["v"]) != int64(len(accepted)) {
			t.Fatalf("viewer %d: last bid message %v, want ends_at %d current %d v %d", i, last, lastEnds, top, len(accepted))
		}
		if i == 0 {
			final = end
			continue
		}
		if fmt.Sprint(end) != fmt.Sprint(final) {
			t.Fatalf("viewer %d saw the end %v, viewer 0 %v", i, end, final)
		}
	}
	res, _ := final["result"].(map[string]any)
	if res["outcome"] != "sold" || num(res["amount"]) != top || num(final["ends_at"]) != lastEnds || num(final["bids"]) != int64(len(accepted)) {
		t.Fatalf("final %v, top bid %d, last ends_at %d, %d accepted", final, top, lastEnds, len(accepted))
	}
	var orders struct{ Orders []msg }
	nodes[2].do(t, "GET", "/api/rooms/a1/orders", creator, nil, &orders)
	if len(orders.Orders) != 1 || orders.Orders[0]["auction"] != id || num(orders.Orders[0]["price"]) != top {
		t.Fatalf("orders %v", orders.Orders)
	}
	var snap msg
	nodes[2].do(t, "GET", "/api/rooms/a1", "", nil, &snap)
	if snap["auction"] != nil {
		t.Fatalf("snapshot auction after the end: %v", snap["auction"])
	}
	if p := snap["products"].([]any)[0].(map[string]any); num(p["remaining"]) != 0 {
		t.Fatalf("remaining %v: the unit was sold", p["remaining"])
	}
}

// A user the room's moderation banned (by the handle its bids showed) gets
// banned on its next bid, in memory and on Redis, and nothing changes; an
// unban lets it bid again.
func TestAuctionBannedBidder(t *testing.T) {
	srv := redistest.Start(t)
	for _, mode := range []string{"memory", "redis"} {
		t.Run(mode, func(t *testing.T) {
			cfg := server.Config{}
			if mode == "redis" {
				cfg = server.Config{RedisURL: srv.URL(), JWTSecret: clusterSecret, RedisKeyPrefix: "ban-" + mode + ":"}
			}
			n := startNode(t, cfg)
			tok := func(sub, role string, rooms ...string) string {
				if mode == "redis" {
					return clusterToken(t, sub, role, rooms...)
				}
				return n.token(t, sub, role, rooms...)
			}
			creator := tok("cara", "creator", "b1")
			n.putRoom(t, creator, "b1", 1)
			var started msg
			if st := n.do(t, "POST", "/api/rooms/b1/auctions", creator, msg{"product": "p1", "start_price": 10, "increment": 1, "duration_ms": 60000}, &started); st != 201 {
				t.Fatalf("start: %d %v", st, started)
			}
			id, _ := auctionOf(started)["id"].(string)
			ann := tok("ann", "viewer")
			var r msg
			if st := n.do(t, "POST", "/api/rooms/b1/auctions/"+id+"/bids", ann, msg{"id": "1", "amount": 10}, &r); st != 200 {
				t.Fatalf("bid: %d %v", st, r)
			}
			var got msg
			n.do(t, "GET", "/api/rooms/b1/auctions/"+id, "", nil, &got)
			handle, _ := auctionOf(got)["leader"].(map[string]any)["id"].(string)
			if st := n.do(t, "PUT", "/api/rooms/b1/bans/"+handle, creator, nil, &r); st != 200 {
				t.Fatalf("ban: %d %v", st, r)
			}
			if st := n.do(t, "POST", "/api/rooms/b1/auctions/"+id+"/bids", ann, msg{"id": "2", "amount": 20}, &r); st != 403 || errCode(r) != "banned" {
				t.Fatalf("banned bid: %d %v", st, r)
			}
			n.do(t, "GET", "/api/rooms/b1/auctions/"+id, "", nil, &got)
			if num(auctionOf(got)["bids"]) != 1 || num(auctionOf(got)["current"]) != 10 {
				t.Fatalf("a banned bid changed the auction: %v", auctionOf(got))
			}
			if st := n.do(t, "DELETE", "/api/rooms/b1/bans/"+handle, creator, nil, &r); st != 200 {
				t.Fatalf("unban: %d %v", st, r)
			}
			if st := n.do(t, "POST", "/api/rooms/b1/auctions/"+id+"/bids", ann, msg{"id": "2", "amount": 20}, &r); st != 200 || num(r["current"]) != 20 {
				t.Fatalf("bid after the unban: %d %v", st, r)
			}
		})
	}
}
