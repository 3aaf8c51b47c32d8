package server_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/server"
)

// chatCluster starts n nodes on one Redis with a chat fan-out rate.
func chatCluster(t *testing.T, n, rate int) []*testNode {
	t.Helper()
	srv := redistest.Start(t)
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = startNode(t, server.Config{RedisURL: srv.URL(), JWTSecret: clusterSecret, ChatFanoutRate: rate})
	}
	return nodes
}

func clusterNamed(t testing.TB, sub, role, name string, rooms ...string) string {
	t.Helper()
	tok, err := auth.Sign(clusterSecret, auth.Identity{User: sub, Role: role, Rooms: rooms, Name: name}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// handleOf posts a comment and returns its author handle.
func handleOf(t *testing.T, c *client, room, text string) string {
	t.Helper()
	r := c.request(msg{"type": "comment", "room": room, "text": text})
	_, _, a := commentOf(r)
	if r["ok"] != true {
		t.Fatalf("comment %q: %v", text, r)
	}
	return a["id"].(string)
}

// Three nodes on one Redis: comments in one order on every node; a
// deletion everywhere and replayed on join with since; a mute and a ban
// made on one node enforced on the others (the ban removes the user's
// connections on every node and refuses its join, comments and
// purchases); a moderator seen on one node cannot be muted from another;
// reactions summed across nodes.
func TestChatClusterThreeNodes(t *testing.T) {
	checkChatThreeNodes(t, chatCluster(t, 3, 0), "r1")
}

// checkChatThreeNodes runs the checks of TestChatClusterThreeNodes in room
// (which it creates) on three nodes.
func checkChatThreeNodes(t *testing.T, nodes []*testNode, room string) {
	t.Helper()
	creatorTok := clusterNamed(t, "creator", "creator", "Host", room)
	nodes[0].putRoom(t, creatorTok, room, 100)
	creator := dial(t, nodes[0].wsURL(), creatorTok)
	creator.join(room)
	viewers := make([]*client, 3)
	for i := range viewers {
		viewers[i] = dial(t, nodes[i].wsURL(), clusterNamed(t, fmt.Sprint("watcher", i), "viewer", fmt.Sprint("W", i)))
		if s := viewers[i].join(room); s["chat"] == nil || s["comments"] == nil {
			t.Fatalf("node %d snapshot without chat or comments: %v", i, s)
		}
	}

	// One order: three authors, one per node, post 3 comments each at once.
	authors := make([]*client, 3)
	for i := range authors {
		authors[i] = dial(t, nodes[i].wsURL(), clusterNamed(t, fmt.Sprint("author", i), "viewer", fmt.Sprint("A", i)))
		authors[i].join(room)
	}
	var wg sync.WaitGroup
	for i, a := range authors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 3 {
				a.send(msg{"type": "comment", "id": fmt.Sprint("c", j), "room": room, "text": fmt.Sprintf("a%d-%d", i, j)})
			}
		}()
	}
	wg.Wait()
	var orders []string
	for i, v := range viewers {
		var ids []string
		last := 0
		for len(ids) < 9 {
			m := v.waitFor("comments", isType("comment"))
			id, _, _ := commentOf(m)
			n, _ := strconv.Atoi(id)
			if n <= last {
				t.Fatalf("node %d: comment %s after %d", i, id, last)
			}
			last = n
			ids = append(ids, id)
		}
		orders = append(orders, fmt.Sprint(ids))
		if orders[i] != orders[0] {
			t.Fatalf("node %d saw %s, node 0 saw %s", i, orders[i], orders[0])
		}
	}

	// A deletion made on node 0: every node gets comment_deleted at one
	// seq; a join with since on node 2 replays it.
	before := snapSeq(t, nodes[1], room)
	if r := creator.request(msg{"type": "delete_comment", "room": room, "comment": "2"}); r["ok"] != true {
		t.Fatalf("delete: %v", r)
	}
	for i, v := range viewers {
		if m := v.waitFor("comment_deleted", isType("comment_deleted")); m["seq"] != float64(before+1) {
			t.Fatalf("node %d: %v, want seq %d", i, m, before+1)
		}
	}
	late := dial(t, nodes[2].wsURL(), clusterNamed(t, "late", "viewer", ""))
	late.request(msg{"type": "join", "room": room, "since": before})
	if m := late.nextEvent(waitLong); m["type"] != "comment_deleted" || fmt.Sprint(m["comments"]) != "[2]" {
		t.Fatalf("replay on node 2: %v", m)
	}

	// A mute made on node 0 holds on node 1 (WebSocket) and node 2 (HTTP).
	target := dial(t, nodes[1].wsURL(), clusterNamed(t, "noisy", "viewer", "Noisy"))
	target.join(room)
	h := handleOf(t, target, room, "first")
	if r := creator.request(msg{"type": "mute", "room": room, "user": h, "duration_ms": 30000}); r["ok"] != true {
		t.Fatalf("mute: %v", r)
	}
	r := target.request(msg{"type": "comment", "room": room, "text": "muted?"})
	wantRefusal(t, "muted on node 1", r, "muted")
	if errField(r, "until") == nil {
		t.Fatalf("muted without until: %v", r)
	}
	var herr struct{ Error struct{ Code string } }
	if st := nodes[2].do(t, "POST", "/api/rooms/"+room+"/comments", clusterNamed(t, "noisy", "viewer", ""), msg{"text": "x"}, &herr); st != 403 || herr.Error.Code != "muted" {
		t.Fatalf("muted over HTTP on node 2: %d %+v", st, herr)
	}

	// A ban made on node 0: the user's connections on nodes 1 and 2 get the
	// banned error and leave; its join, comment and purchase are refused.
	banTok := clusterNamed(t, "troll", "viewer", "Troll")
	t1 := dial(t, nodes[1].wsURL(), banTok)
	t2 := dial(t, nodes[2].wsURL(), banTok)
	t1.join(room)
	t2.join(room)
	bh := handleOf(t, t1, room, "hello from the troll")
	for _, v := range viewers {
		v.waitFor("the troll's comment", isComment("hello from the troll"))
	}
	if r := creator.request(msg{"type": "ban", "room": room, "user": bh}); r["ok"] != true {
		t.Fatalf("ban: %v", r)
	}
	for i, c := range []*client{t1, t2} {
		if m := c.waitFor("banned", isType("error")); m["code"] != "banned" || m["room"] != room {
			t.Fatalf("troll connection %d: %v", i, m)
		}
	}
	for i, v := range viewers { // the ban purges the troll's comments
		m := v.waitFor("purge", isType("comment_deleted"))
		if m["comments"] == nil {
			t.Fatalf("node %d purge: %v", i, m)
		}
	}
	wantRefusal(t, "banned comment on node 1", t1.request(msg{"type": "comment", "room": room, "text": "again"}), "banned")
	wantRefusal(t, "banned join on node 2", t2.request(msg{"type": "join", "room": room}), "banned")
	if st, out, err := clusterPost(nodes[1].url+"/api/rooms/"+room+"/purchases", banTok, msg{"id": "b1", "product": "p1"}); err != nil || st != 403 || errCode(out) != "banned" {
		t.Fatalf("banned purchase on node 1: %d %v %v", st, out, err)
	}
	if r := creator.request(msg{"type": "unban", "room": room, "user": bh}); r["ok"] != true {
		t.Fatalf("unban: %v", r)
	}
	t2.join(room)
	if st, out, err := clusterPost(nodes[1].url+"/api/rooms/"+room+"/purchases", banTok, msg{"id": "b2", "product": "p1"}); err != nil || st != 200 {
		t.Fatalf("purchase after unban: %d %v %v", st, out, err)
	}

	// A moderator who joined on node 2 cannot be muted from node 0.
	mod := dial(t, nodes[2].wsURL(), clusterNamed(t, "mod", "moderator", "Mia", room))
	mod.join(room)
	mh := handleOf(t, mod, room, "moderator here")
	wantRefusal(t, "mute the moderator", creator.request(msg{"type": "mute", "room": room, "user": mh, "duration_ms": 5000}), "forbidden")
	if r := mod.request(msg{"type": "mute", "room": room, "user": h, "duration_ms": 5000}); r["ok"] != true {
		t.Fatalf("moderator mutes on node 2: %v", r)
	}

	// Reactions from every node, summed across the cluster.
	for i, v := range viewers {
		for range i + 2 {
			v.send(msg{"type": "react", "room": room, "kind": "clap"})
		}
	}
	const want = 2 + 3 + 4
	for i, v := range viewers {
		got := 0.0
		for got < want {
			m := v.waitFor("reactions", isType("reactions"))
			n, _ := m["counts"].(map[string]any)["clap"].(float64)
			got += n
		}
		if got != want {
			t.Fatalf("node %d counted %v claps, want %d", i, got, want)
		}
	}
}

// Sampling on three nodes: announced on each, the same sample everywhere,
// every author gets its own comments and the creator all.
func TestChatClusterSampling(t *testing.T) {
	nodes := chatCluster(t, 3, 3)
	creatorTok := clusterNamed(t, "cr", "creator", "", "demo")
	nodes[0].putRoom(t, creatorTok, "demo", 10)
	testSampling(t, nodes, func(sub, role string, rooms ...string) string { return clusterNamed(t, sub, role, "", rooms...) })
}
