package server_test

import (
	"context"
	"testing"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/server"
)

// Two clusters share one Redis under two key prefixes and see nothing of
// each other: the same room id is created on each (201 both times), stock
// sold on one is not sold on the other, and the events of one never reach
// the viewers of the other.
func TestTwoPrefixesOneRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, server.Config{RedisURL: srv.URL(), RedisKeyPrefix: "shop-a:"})
	b := startNode(t, server.Config{RedisURL: srv.URL(), RedisKeyPrefix: "shop-b:"})
	tokA := a.token(t, "creator", "creator", "r1")
	tokB := b.token(t, "creator", "creator", "r1")
	for _, n := range []struct {
		node  *testNode
		tok   string
		stock int64
	}{{a, tokA, 5}, {b, tokB, 7}} {
		var out map[string]any
		body := map[string]any{"title": "Room", "products": []map[string]any{{"id": "p1", "name": "P", "price": 100, "currency": "USD", "stock": n.stock}}}
		if st := n.node.do(t, "PUT", "/api/rooms/r1", n.tok, body, &out); st != 201 {
			t.Fatalf("PUT r1: %d %v; want 201 on each cluster (created)", st, out)
		}
	}
	viewerA := dial(t, a.wsURL(), a.token(t, "va", "viewer"))
	viewerB := dial(t, b.wsURL(), b.token(t, "vb", "viewer"))
	viewerA.join("r1")
	viewerB.join("r1")

	creatorB := dial(t, b.wsURL(), tokB)
	if r := creatorB.request(msg{"type": "pin", "room": "r1", "product": "p1"}); r["ok"] != true {
		t.Fatalf("pin on b: %v", r)
	}
	if r := dial(t, b.wsURL(), b.token(t, "buyer", "viewer")).request(msg{"type": "buy", "room": "r1", "product": "p1"}); r["ok"] != true || r["remaining"] != 6.0 {
		t.Fatalf("buy on b: %v, want remaining 6 of b's 7", r)
	}
	if ev := viewerB.nextEvent(waitLong); ev["type"] != "pinned" || ev["seq"] != 1.0 {
		t.Fatalf("b's viewer: %v, want b's pin", ev)
	}

	// a's room is untouched; a's viewer's first event is a's own, seq 1.
	var snap map[string]any
	a.do(t, "GET", "/api/rooms/r1", "", nil, &snap)
	if p := snap["products"].([]any)[0].(map[string]any); p["remaining"] != 5.0 || snap["seq"] != 0.0 || snap["pinned"] != nil {
		t.Fatalf("a's room after b's pin and purchase: %v", snap)
	}
	if r := dial(t, a.wsURL(), tokA).request(msg{"type": "unpin", "room": "r1"}); r["ok"] != true {
		t.Fatalf("unpin on a: %v", r)
	}
	if r := dial(t, a.wsURL(), tokA).request(msg{"type": "pin", "room": "r1", "product": "p1"}); r["ok"] != true {
		t.Fatalf("pin on a: %v", r)
	}
	if ev := viewerA.nextEvent(waitLong); ev["type"] != "pinned" || ev["seq"] != 1.0 {
		t.Fatalf("a's viewer: first event %v, want a's own pin at seq 1", ev)
	}
	if st := viewerA.lastStock("p1"); st != nil {
		t.Fatalf("a's viewer got b's stock message %v", st)
	}

	// Every key either cluster wrote is under its prefix.
	rdb := redistest.NewClient(t, srv.Addr())
	keys, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var na, nb int
	for _, k := range keys {
		switch {
		case len(k) > 7 && k[:7] == "shop-a:":
			na++
		case len(k) > 7 && k[:7] == "shop-b:":
			nb++
		default:
			t.Errorf("key %q is under neither prefix", k)
		}
	}
	if na == 0 || nb == 0 {
		t.Fatalf("keys %v: want some under each prefix", keys)
	}
	for _, p := range []string{"shop-a:", "shop-b:"} {
		if n, _ := rdb.Exists(context.Background(), rkeys.New(p).RoomKey("r1", "meta")).Result(); n != 1 {
			t.Errorf("no room r1 under %s", p)
		}
	}
}
