package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// namedToken is a development-mode token with a display name.
func (n *testNode) namedToken(t testing.TB, sub, role, name string, rooms ...string) string {
	t.Helper()
	var out struct{ Token string }
	if st := n.do(t, "POST", "/dev/token", "", map[string]any{"sub": sub, "role": role, "rooms": rooms, "name": name}, &out); st != 200 {
		t.Fatalf("dev token: status %d", st)
	}
	return out.Token
}

// errField is a field of a failed reply's error object.
func errField(m msg, name string) any {
	e, _ := m["error"].(map[string]any)
	return e[name]
}

// wantRefusal fails unless r is a failed reply with code.
func wantRefusal(t *testing.T, what string, r msg, code string) {
	t.Helper()
	if r["ok"] != false || errCode(r) != code {
		t.Fatalf("%s: %v, want %s", what, r, code)
	}
}

// comments are the comment messages of c until pred holds on one of them.
func commentOf(m msg) (id, text string, author map[string]any) {
	c, _ := m["comment"].(map[string]any)
	id, _ = c["id"].(string)
	text, _ = c["text"].(string)
	author, _ = c["author"].(map[string]any)
	return
}

func isComment(text string) func(msg) bool {
	return func(m msg) bool {
		_, t, _ := commentOf(m)
		return m["type"] == "comment" && t == text
	}
}

// One node in development mode: comments, their validation and limits,
// authors without user ids, moderation (delete, slow mode, closing, block
// list, mute, ban) over WebSocket and HTTP, each refusal with its code and
// extra field.
func TestChatOneNode(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	const room = "demo"
	creatorTok := n.namedToken(t, "creator-1", "creator", "Host", room)
	creator := dial(t, n.wsURL(), creatorTok)
	ann := dial(t, n.wsURL(), n.namedToken(t, "user-ann", "viewer", "Ann"))
	anon := dial(t, n.wsURL(), "") // an anonymous development viewer

	// Not joined on this connection: forbidden.
	wantRefusal(t, "comment before join", ann.request(msg{"type": "comment", "room": room, "text": "hi"}), "forbidden")

	snap := ann.join(room)
	if c, ok := snap["chat"].(map[string]any); !ok || c["enabled"] != true || c["slow_mode_ms"] != 0.0 || c["announcement"] != nil {
		t.Fatalf("snapshot chat = %v", snap["chat"])
	}
	if cs, ok := snap["comments"].([]any); !ok || len(cs) != 0 {
		t.Fatalf("snapshot comments = %v, want []", snap["comments"])
	}
	anon.join(room)
	creator.join(room)

	// A comment: the reply carries it; every joined connection gets it; the
	// author is a handle, a name and a role, never the user id.
	// Ann's own copy may come before her reply or after it.
	r, own := ann.requestSeeing(msg{"type": "comment", "room": room, "text": "  does it come in blue?  "}, "the comment", isComment("does it come in blue?"))
	if r["ok"] != true {
		t.Fatalf("comment: %v", r)
	}
	id1, text, author := commentOf(r)
	if id1 != "1" || text != "does it come in blue?" || author["name"] != "Ann" || author["role"] != "viewer" || len(author["id"].(string)) != 16 {
		t.Fatalf("comment reply = %v", r)
	}
	annHandle := author["id"].(string)
	for _, c := range []*client{ann, anon, creator} {
		m := own
		if c != ann {
			m = c.waitFor("the comment", isComment("does it come in blue?"))
		}
		raw, _ := json.Marshal(m)
		if strings.Contains(string(raw), "user-ann") {
			t.Fatalf("a broadcast carries the user id: %s", raw)
		}
	}
	// An anonymous development viewer may comment over WebSocket; its name
	// is the masked label.
	r = anon.request(msg{"type": "comment", "room": room, "text": "me too"})
	if _, _, a := commentOf(r); r["ok"] != true || a["name"] != "a***" {
		t.Fatalf("anonymous comment: %v", r)
	}
	_, _, anonAuthor := commentOf(r)
	anonHandle := anonAuthor["id"].(string)
	creatorComment := creator.request(msg{"type": "comment", "room": room, "text": "yes, blue and red"})
	if _, _, a := commentOf(creatorComment); a["role"] != "creator" || a["name"] != "Host" {
		t.Fatalf("creator's comment: %v", creatorComment)
	}

	// Bad input.
	wantRefusal(t, "bidi text", ann.request(msg{"type": "comment", "room": room, "text": "a\u202eb"}), "bad_request")
	wantRefusal(t, "blank text", ann.request(msg{"type": "comment", "room": room, "text": "   "}), "bad_request")
	wantRefusal(t, "long text", ann.request(msg{"type": "comment", "room": room, "text": strings.Repeat("x", 301)}), "bad_request")
	wantRefusal(t, "text not a string", ann.request(msg{"type": "comment", "room": room, "text": 5}), "bad_request")
	ann.send(msg{"type": "comment", "room": room, "text": "x"})
	if m := ann.waitFor("error", isType("error")); errCode(m) != "bad_request" {
		t.Fatalf("comment without id: %v", m)
	}

	// The per-user rate: 1 a second, 3 at once (the first comment counted).
	var limited msg
	for i := range 4 {
		if r := ann.request(msg{"type": "comment", "room": room, "text": fmt.Sprint("burst ", i)}); r["ok"] != true {
			limited = r
			break
		}
	}
	wantRefusal(t, "over the rate", limited, "rate_limited")
	if ms, _ := errField(limited, "retry_after_ms").(float64); ms <= 0 || ms > 1000 {
		t.Fatalf("rate_limited retry_after_ms = %v", errField(limited, "retry_after_ms"))
	}

	// A viewer cannot moderate.
	wantRefusal(t, "viewer mutes", ann.request(msg{"type": "mute", "room": room, "user": anonHandle, "duration_ms": 60000}), "forbidden")
	wantRefusal(t, "mute duration", creator.request(msg{"type": "mute", "room": room, "user": anonHandle, "duration_ms": 10}), "bad_request")
	wantRefusal(t, "mute of a non-handle", creator.request(msg{"type": "mute", "room": room, "user": "user-ann", "duration_ms": 60000}), "bad_request")

	// Delete: a room event every viewer gets, replayed to a join with since.
	before := snapSeq(t, n, room)
	if r := creator.request(msg{"type": "delete_comment", "room": room, "comment": id1}); r["ok"] != true {
		t.Fatalf("delete: %v", r)
	}
	del := anon.waitFor("comment_deleted", isType("comment_deleted"))
	if del["seq"] != float64(before+1) || fmt.Sprint(del["comments"]) != "[1]" {
		t.Fatalf("comment_deleted = %v, want seq %d, comments [1]", del, before+1)
	}
	late := dial(t, n.wsURL(), "")
	late.request(msg{"type": "join", "room": room, "since": before})
	if m := late.nextEvent(waitLong); m["type"] != "comment_deleted" || m["seq"] != float64(before+1) {
		t.Fatalf("replay after since %d: %v", before, m)
	}
	var list struct{ Comments []struct{ ID, Text string } }
	if st := n.do(t, "GET", "/api/rooms/demo/comments?limit=100", "", nil, &list); st != 200 {
		t.Fatalf("GET comments: %d", st)
	}
	for _, c := range list.Comments {
		if c.ID == id1 {
			t.Fatalf("deleted comment still listed: %v", list)
		}
	}
	if len(list.Comments) == 0 {
		t.Fatal("GET comments is empty")
	}
	if st := n.do(t, "GET", "/api/rooms/demo/comments?limit=0", "", nil, nil); st != 400 {
		t.Fatalf("limit=0: %d, want 400", st)
	}
	wantRefusal(t, "delete of an id never issued", creator.request(msg{"type": "delete_comment", "room": room, "comment": "999"}), "not_found")

	// Slow mode: a chat event; a viewer's second comment within it is
	// slow_mode with retry_after_ms; the creator is exempt.
	bob := dial(t, n.wsURL(), n.namedToken(t, "user-bob", "viewer", "Bob"))
	bob.join(room)
	if r := creator.request(msg{"type": "chat_settings", "room": room, "slow_mode_ms": 60000, "announcement": "Welcome!"}); r["ok"] != true {
		t.Fatalf("chat_settings: %v", r)
	}
	ev := bob.waitFor("chat event", isType("chat"))
	if c := ev["chat"].(map[string]any); c["slow_mode_ms"] != 60000.0 || c["announcement"] != "Welcome!" || ev["seq"] == nil {
		t.Fatalf("chat event = %v", ev)
	}
	if r := bob.request(msg{"type": "comment", "room": room, "text": "first"}); r["ok"] != true {
		t.Fatalf("first in slow mode: %v", r)
	}
	r = bob.request(msg{"type": "comment", "room": room, "text": "second"})
	wantRefusal(t, "slow mode", r, "slow_mode")
	if ms, _ := errField(r, "retry_after_ms").(float64); ms <= 1000 || ms > 60000 {
		t.Fatalf("slow_mode retry_after_ms = %v", errField(r, "retry_after_ms"))
	}
	if r := creator.request(msg{"type": "comment", "room": room, "text": "creator in slow mode"}); r["ok"] != true {
		t.Fatalf("creator in slow mode: %v", r)
	}
	// Over HTTP the same refusal, with its status and field.
	bobTok := n.namedToken(t, "user-bob", "viewer", "Bob")
	var herr struct {
		Error struct {
			Code         string
			RetryAfterMS int64 `json:"retry_after_ms"`
			Until        int64
		}
	}
	if st := n.do(t, "POST", "/api/rooms/demo/comments", bobTok, msg{"text": "third"}, &herr); st != 429 || herr.Error.Code != "slow_mode" || herr.Error.RetryAfterMS <= 0 {
		t.Fatalf("HTTP slow mode: %d %+v", st, herr)
	}
	if r := creator.request(msg{"type": "chat_settings", "room": room, "slow_mode_ms": 0, "announcement": nil}); r["ok"] != true || r["chat"].(map[string]any)["announcement"] != nil {
		t.Fatalf("slow mode off, announcement cleared: %v", r)
	}
	wantRefusal(t, "slow_mode_ms too long", creator.request(msg{"type": "chat_settings", "room": room, "slow_mode_ms": 600001}), "bad_request")

	// Closed chat: chat_closed for viewers (403 over HTTP), not the creator.
	creator.request(msg{"type": "chat_settings", "room": room, "enabled": false})
	wantRefusal(t, "closed chat", anon.request(msg{"type": "comment", "room": room, "text": "hello?"}), "chat_closed")
	if st := n.do(t, "POST", "/api/rooms/demo/comments", bobTok, msg{"text": "hello?"}, &herr); st != 403 || herr.Error.Code != "chat_closed" {
		t.Fatalf("HTTP closed chat: %d %+v", st, herr)
	}
	if r := creator.request(msg{"type": "comment", "room": room, "text": "only me"}); r["ok"] != true {
		t.Fatalf("creator in closed chat: %v", r)
	}
	creator.request(msg{"type": "chat_settings", "room": room, "enabled": true})

	// Block list over HTTP: moderator+ only; a blocked term is 422.
	var terms struct{ Terms []string }
	if st := n.do(t, "PUT", "/api/rooms/demo/chat/blocklist", bobTok, msg{"terms": []string{"spam"}}, nil); st != 403 {
		t.Fatalf("viewer PUT blocklist: %d, want 403", st)
	}
	if st := n.do(t, "PUT", "/api/rooms/demo/chat/blocklist", creatorTok, msg{"terms": []string{" Spam ", "spam", "scam link"}}, &terms); st != 200 || fmt.Sprint(terms.Terms) != "[Spam scam link]" {
		t.Fatalf("PUT blocklist: %d %v", st, terms)
	}
	if st := n.do(t, "PUT", "/api/rooms/demo/chat/blocklist", creatorTok, msg{"terms": []string{strings.Repeat("x", 51)}}, nil); st != 400 {
		t.Fatalf("PUT blocklist with a long term: %d, want 400", st)
	}
	if st := n.do(t, "POST", "/api/rooms/demo/comments", bobTok, msg{"text": "buy SPAM now"}, &herr); st != 422 || herr.Error.Code != "blocked" {
		t.Fatalf("blocked term: %d %+v", st, herr)
	}
	if st := n.do(t, "POST", "/api/rooms/demo/comments", bobTok, msg{"text": "I am a spammer"}, nil); st != 201 {
		t.Fatalf("a word containing a term: %d, want 201", st)
	}

	// HTTP POST needs a token, also in development mode.
	if st := n.do(t, "POST", "/api/rooms/demo/comments", "", msg{"text": "anon"}, &herr); st != 401 {
		t.Fatalf("anonymous HTTP comment: %d, want 401", st)
	}

	// Mute with purge: the muted user's comments go (comment_deleted), the
	// next one is muted with until, on WebSocket and HTTP.
	if r := creator.request(msg{"type": "mute", "room": room, "user": annHandle, "duration_ms": 60000, "purge": true}); r["ok"] != true || r["until"] == nil {
		t.Fatalf("mute: %v", r)
	} else {
		ann.waitFor("purge", isType("comment_deleted"))
	}
	r = ann.request(msg{"type": "comment", "room": room, "text": "am I muted?"})
	wantRefusal(t, "muted", r, "muted")
	if until, _ := errField(r, "until").(float64); until < float64(time.Now().Add(50*time.Second).UnixMilli()) {
		t.Fatalf("muted until = %v", errField(r, "until"))
	}
	annTok := n.namedToken(t, "user-ann", "viewer", "Ann")
	if st := n.do(t, "POST", "/api/rooms/demo/comments", annTok, msg{"text": "muted?"}, &herr); st != 403 || herr.Error.Code != "muted" || herr.Error.Until == 0 {
		t.Fatalf("HTTP muted: %d %+v", st, herr)
	}
	if st := n.do(t, "DELETE", "/api/rooms/demo/mutes/"+annHandle, creatorTok, nil, nil); st != 200 {
		t.Fatalf("HTTP unmute: %d", st)
	}
	testutil.Eventually(t, "unmuted", func() bool {
		return ann.request(msg{"type": "comment", "room": room, "text": "back"})["ok"] == true
	})

	// Ban: the banned connection gets the error and leaves the room; its
	// comments, reactions, joins and purchases are refused with banned.
	if st := n.do(t, "PUT", "/api/rooms/demo/bans/"+anonHandle, creatorTok, nil, nil); st != 200 {
		t.Fatalf("HTTP ban: %d", st)
	}
	if m := anon.waitFor("banned", isType("error")); m["code"] != "banned" || m["room"] != room {
		t.Fatalf("ban message: %v", m)
	}
	wantRefusal(t, "banned comment", anon.request(msg{"type": "comment", "room": room, "text": "let me in"}), "banned")
	wantRefusal(t, "banned react", anon.request(msg{"type": "react", "room": room, "kind": "heart"}), "banned")
	wantRefusal(t, "banned join", anon.request(msg{"type": "join", "room": room}), "banned")
	wantRefusal(t, "banned buy", anon.request(msg{"type": "buy", "room": room, "product": "p1"}), "banned")
	if st := n.do(t, "DELETE", "/api/rooms/demo/bans/"+anonHandle, creatorTok, nil, nil); st != 200 {
		t.Fatalf("HTTP unban: %d", st)
	}
	anon.join(room)
	if r := anon.request(msg{"type": "buy", "room": room, "product": "p1"}); r["ok"] != true {
		t.Fatalf("buy after unban: %v", r)
	}

	// A moderator: moderates its room, cannot be muted or banned (once
	// seen), cannot pin.
	mod := dial(t, n.wsURL(), n.namedToken(t, "mod-1", "moderator", "Mia", room))
	mod.join(room)
	mr := mod.request(msg{"type": "comment", "room": room, "text": "be nice"})
	_, _, modAuthor := commentOf(mr)
	if mr["ok"] != true || modAuthor["role"] != "moderator" {
		t.Fatalf("moderator's comment: %v", mr)
	}
	wantRefusal(t, "mute a moderator", creator.request(msg{"type": "mute", "room": room, "user": modAuthor["id"], "duration_ms": 60000}), "forbidden")
	wantRefusal(t, "ban a moderator", creator.request(msg{"type": "ban", "room": room, "user": modAuthor["id"]}), "forbidden")
	wantRefusal(t, "moderator pins", mod.request(msg{"type": "pin", "room": room, "product": "p1"}), "forbidden")
	if r := mod.request(msg{"type": "unban", "room": room, "user": "AAAAAAAAAAAAAAAA"}); r["ok"] != true {
		t.Fatalf("moderating a handle never seen: %v", r)
	}
	// A moderator that never commented is still known (recorded at join).
	mod2 := dial(t, n.wsURL(), n.namedToken(t, "mod-2", "moderator", "", room))
	mod2.join(room)
	mod2Handle := mod2.request(msg{"type": "comment", "room": room, "text": "hi"})
	_, _, m2 := commentOf(mod2Handle)
	if m2["name"] != "m***" {
		t.Fatalf("nameless moderator's name: %v", m2)
	}
	otherMod := dial(t, n.wsURL(), n.namedToken(t, "mod-3", "moderator", "Max", "other-room"))
	otherMod.join(room)
	wantRefusal(t, "moderator of another room", otherMod.request(msg{"type": "delete_comment", "room": room, "comment": "2"}), "forbidden")
}

// snapSeq is the room's seq from GET /api/rooms/{room}.
func snapSeq(t *testing.T, n *testNode, room string) int {
	t.Helper()
	var s struct{ Seq int }
	n.do(t, "GET", "/api/rooms/"+room, "", nil, &s)
	return s.Seq
}

// Reactions: counted per user up to 10 a second, summed into reactions
// messages of at most 4 a second per room.
func TestChatReactions(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	a := dial(t, n.wsURL(), "")
	b := dial(t, n.wsURL(), "")
	a.join("demo")
	b.join("demo")
	wantRefusal(t, "bad kind", a.request(msg{"type": "react", "room": "demo", "kind": "poop"}), "bad_request")
	for range 5 {
		a.send(msg{"type": "react", "room": "demo", "kind": "heart"})
	}
	for range 3 {
		b.send(msg{"type": "react", "room": "demo", "kind": "fire"})
	}
	got := map[string]float64{}
	for got["heart"] < 5 || got["fire"] < 3 {
		m := b.waitFor("reactions", isType("reactions"))
		for k, v := range m["counts"].(map[string]any) {
			got[k] += v.(float64)
		}
	}
	if got["heart"] != 5 || got["fire"] != 3 || len(got) != 2 {
		t.Fatalf("reactions summed to %v, want heart 5, fire 3", got)
	}
	// Beyond 10 a second a user's reactions are not counted, and a reply
	// says so.
	limited := 0
	for range 15 {
		if r := a.request(msg{"type": "react", "room": "demo", "kind": "wow"}); r["ok"] != true {
			wantRefusal(t, "over the reaction rate", r, "rate_limited")
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("15 reactions at once: none refused")
	}
	counted := 0.0
	for counted < float64(15-limited) {
		m := b.waitFor("reactions", isType("reactions"))
		counted += m["counts"].(map[string]any)["wow"].(float64)
	}
	if counted != float64(15-limited) {
		t.Fatalf("wow counted %v, want %d", counted, 15-limited)
	}
	if v := metric(t, n, "liveserver_chat_reactions_total"); v != float64(8+15-limited) {
		t.Fatalf("liveserver_chat_reactions_total = %v, want %d", v, 8+15-limited)
	}
}

// Above -chat-fanout-rate a viewer gets a sample, announced by chat_mode,
// while every author gets all of its own comments and the creator all.
func TestChatSampling(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true, ChatFanoutRate: 3})
	testSampling(t, []*testNode{n}, func(sub, role string, rooms ...string) string { return n.namedToken(t, sub, role, "", rooms...) })
}

func testSampling(t *testing.T, nodes []*testNode, token func(sub, role string, rooms ...string) string) {
	const room = "demo"
	const authors = 12 // more than twice the rate: one window surely passes it
	creator := dial(t, nodes[0].wsURL(), token("cr", "creator", room))
	creator.join(room)
	var viewers []*client
	for i := range nodes {
		v := dial(t, nodes[i].wsURL(), token(fmt.Sprint("watcher", i), "viewer"))
		v.join(room)
		viewers = append(viewers, v)
	}
	cs := make([]*client, authors)
	for i := range cs {
		cs[i] = dial(t, nodes[i%len(nodes)].wsURL(), token(fmt.Sprint("author", i), "viewer"))
		cs[i].join(room)
	}
	var wg sync.WaitGroup
	ids := make([]string, authors)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nextN++
			id := fmt.Sprint("c-", c.nextN)
			text := fmt.Sprint("comment of ", i)
			c.send(msg{"type": "comment", "id": id, "room": room, "text": text})
			// The reply and the comment itself, in either order (on Redis
			// the comment may come back before the reply).
			replied, own := false, false
			timeout := time.After(waitLong)
			for !replied || !own {
				var m msg
				select {
				case m = <-c.msgs:
				case <-timeout:
					ids[i] = "" // reported below (no t.Fatal off the test's goroutine)
					return
				}
				if m["type"] == "reply" && m["id"] == id {
					replied = true
					ids[i], _, _ = commentOf(m)
				}
				own = own || isComment(text)(m)
			}
		}()
	}
	wg.Wait()
	for i := range cs {
		if ids[i] == "" {
			t.Fatalf("author %d's comment was refused, or its reply or the comment itself did not come", i)
		}
	}
	// The creator gets every comment.
	seen := map[string]bool{}
	for len(seen) < authors {
		m := creator.waitFor("comments", isType("comment"))
		id, _, _ := commentOf(m)
		seen[id] = true
	}
	// A viewer: chat_mode sampled:true, then a sample (fewer than all, in
	// order), the same on every node; then sampled:false.
	var samples []string
	for i, v := range viewers {
		var got []string
		sampled := false
		for {
			m := v.waitFor("chat_mode sampled:false", func(m msg) bool { return m["type"] == "comment" || m["type"] == "chat_mode" })
			if m["type"] == "chat_mode" {
				if m["rate"] != 3.0 {
					t.Fatalf("chat_mode rate = %v", m["rate"])
				}
				if m["sampled"] == true {
					sampled = true
					continue
				}
				if !sampled {
					t.Fatalf("viewer %d: sampled:false before sampled:true", i)
				}
				break
			}
			id, _, _ := commentOf(m)
			got = append(got, id)
		}
		if len(got) >= authors {
			t.Fatalf("viewer %d got all %d comments while sampled: %v", i, authors, got)
		}
		samples = append(samples, fmt.Sprint(got))
		if samples[i] != samples[0] {
			t.Fatalf("viewer %d's sample %s differs from viewer 0's %s", i, samples[i], samples[0])
		}
	}
}

// A deleted room's chat goes with it: created again, it has no comments
// and no bans, in memory and on Redis.
func TestChatRoomDeleted(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		n := startNode(t, server.Config{})
		testChatRoomDeleted(t, n, func(sub, role string, rooms ...string) string { return n.namedToken(t, sub, role, "", rooms...) })
	})
	t.Run("redis", func(t *testing.T) {
		n := chatCluster(t, 1, 0)[0]
		testChatRoomDeleted(t, n, func(sub, role string, rooms ...string) string { return clusterNamed(t, sub, role, "", rooms...) })
	})
}

func testChatRoomDeleted(t *testing.T, n *testNode, token func(sub, role string, rooms ...string) string) {
	const room = "gone"
	creatorTok := token("cr", "creator", room)
	n.putRoom(t, creatorTok, room, 5)
	v := dial(t, n.wsURL(), token("v1", "viewer"))
	v.join(room)
	h := handleOf(t, v, room, "soon gone")
	creator := dial(t, n.wsURL(), creatorTok)
	creator.join(room)
	handleOf(t, creator, room, "creator was here")
	if r := creator.request(msg{"type": "ban", "room": room, "user": h}); r["ok"] != true {
		t.Fatalf("ban: %v", r)
	}
	if st := n.do(t, "DELETE", "/api/rooms/"+room, creatorTok, nil, nil); st != 200 {
		t.Fatalf("DELETE room: %d", st)
	}
	n.putRoom(t, creatorTok, room, 5)
	v2 := dial(t, n.wsURL(), token("v1", "viewer"))
	snap := v2.join(room) // no longer banned
	if cs := snap["comments"].([]any); len(cs) != 0 {
		t.Fatalf("re-created room's comments: %v", cs)
	}
	if r := v2.request(msg{"type": "comment", "room": room, "text": "new life"}); r["ok"] != true {
		t.Fatalf("comment in the re-created room: %v", r)
	} else if id, _, _ := commentOf(r); id != "1" {
		t.Fatalf("first comment of the re-created room has id %s", id)
	}
}

// A connection that joined anonymously and then authenticates is its new
// author in the rooms it joined: a ban of the new handle removes it.
func TestChatIdentityChangeInJoinedRoom(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	creator := dial(t, n.wsURL(), n.namedToken(t, "cr", "creator", "", "demo"))
	c := dial(t, n.wsURL(), "")
	c.join("demo")
	if r := c.request(msg{"type": "auth", "token": n.namedToken(t, "zed", "viewer", "Zed")}); r["ok"] != true {
		t.Fatalf("auth: %v", r)
	}
	h := handleOf(t, c, "demo", "now I am Zed")
	if r := creator.request(msg{"type": "ban", "room": "demo", "user": h}); r["ok"] != true {
		t.Fatalf("ban: %v", r)
	}
	if m := c.waitFor("banned", isType("error")); m["code"] != "banned" {
		t.Fatalf("after the ban: %v", m)
	}
}
