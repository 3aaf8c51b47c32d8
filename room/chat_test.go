package room

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// The sampling decisions depend only on the comments' ids and times, so
// every node that sees the same comments decides alike.
func TestChatSamplingDecisions(t *testing.T) {
	const rate = 3
	var a, b chatRoom
	var modes []bool
	delivered := 0
	for id := uint64(1); id <= 12; id++ {
		everyone, mode := a.admit(id, 100_000, rate)
		e2, m2 := b.admit(id, 100_000, rate)
		if everyone != e2 || (mode == nil) != (m2 == nil) {
			t.Fatalf("comment %d: two rooms decided differently", id)
		}
		if mode != nil {
			modes = append(modes, *mode)
		}
		if everyone {
			delivered++
		}
		if id <= rate && !everyone {
			t.Fatalf("comment %d of %d in the window was sampled out", id, rate)
		}
	}
	if len(modes) != 1 || !modes[0] {
		t.Fatalf("modes announced %v, want [true]", modes)
	}
	if delivered >= 12 || delivered < rate {
		t.Fatalf("delivered %d of 12 at rate %d", delivered, rate)
	}
	// The next window is still busy: still sampled, k from the last window.
	if everyone, mode := a.admit(13, 101_000, rate); mode != nil || everyone != (13%4 == 0) {
		t.Fatalf("comment 13 in the next window: everyone %v, mode %v", everyone, mode)
	}
	// Quiet windows: one closed window at or below the rate is not enough,
	// two are.
	if a.advance(102, rate) {
		t.Fatal("sampling ended after one quiet window")
	}
	if !a.advance(103, rate) || a.sampled {
		t.Fatal("sampling did not end after two quiet windows")
	}
	// Comments stopping altogether: the sweep's advance ends it.
	var c chatRoom
	for id := uint64(1); id <= 5; id++ {
		c.admit(id, 200_000, rate)
	}
	if !c.sampled {
		t.Fatal("5 comments at rate 3 not sampled")
	}
	if !c.advance(205, rate) {
		t.Fatal("a gap of windows did not end sampling")
	}
}

// A steady stream at the rate, bunched by jitter so that some 1 s windows
// hold more than the rate, is not sampled; a sustained excess is, and the
// larger the excess the sooner.
func TestChatSamplingToleratesJitter(t *testing.T) {
	const rate = 50
	// run feeds n comments a second for secs seconds, each up to jitter ms
	// late (deterministic), and returns the ms of the first sampled one.
	run := func(n, secs int, jitter int64) (sampledAt int64) {
		var cr chatRoom
		id := uint64(0)
		for i := range n * secs {
			id++
			at := 1_000_000 + int64(i)*1000/int64(n) + int64(i*7919)%(jitter+1)
			if _, mode := cr.admit(id, at, rate); mode != nil && *mode {
				return at - 1_000_000
			}
		}
		return -1
	}
	if at := run(50, 60, 300); at >= 0 {
		t.Fatalf("50/s with 300 ms of jitter sampled at %d ms", at)
	}
	if at := run(60, 30, 0); at < 0 || at > 6_000 {
		t.Fatalf("60/s: sampled at %d ms, want within ~5 s", at)
	}
	if at := run(500, 2, 0); at < 0 || at > 200 {
		t.Fatalf("500/s: sampled at %d ms, want within 0.2 s", at)
	}
}

// chatFixture is a hub whose connections join room "r" as the member the
// dial names (?handle=...&all=1).
func chatFixture(t *testing.T, rate int) (*Hub, func(handle string, all bool) func() map[string]any) {
	t.Helper()
	store := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: &lossyPublisher{got: make(chan []byte, 64)}})
	if _, err := store.PutRoom(context.Background(), "r", inventory.RoomSpec{Title: "R"}); err != nil {
		t.Fatal(err)
	}
	hub := NewHub(Config{Source: store, ViewersInterval: time.Hour, ChatFanoutRate: rate})
	if err := hub.Run(); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := hub.Accept(w, r, AcceptOptions{})
		if err != nil {
			return
		}
		m := Member{Handle: r.URL.Query().Get("handle"), All: r.URL.Query().Get("all") == "1"}
		if err := hub.JoinMember(context.Background(), c, "r", nil, nil, m); err != nil {
			t.Errorf("join: %v", err)
		}
		go c.ReadLoop(func(websocket.MessageType, []byte) {})
	}))
	t.Cleanup(func() {
		ts.Close()
		hub.Close()
		store.Close()
	})
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	dial := func(handle string, all bool) func() map[string]any {
		a := ""
		if all {
			a = "1"
		}
		f := &hubFixture{url: url + "/?handle=" + handle + "&all=" + a}
		return f.viewer(t)
	}
	return hub, dial
}

// commentEnv is the envelope of comment id by handle, at (Unix ms).
func commentEnv(id int, handle string, at int64) []byte {
	c := protocol.Comment{ID: fmt.Sprint(id), Author: protocol.Author{ID: handle, Name: "x", Role: "viewer"}, Text: "t", At: at}
	return protocol.VolatileEnvelope(protocol.CommentKey(handle), protocol.Marshal(protocol.CommentMsg{Type: protocol.TypeComment, Room: "r", TS: c.At, Comment: c}))
}

// A ban's message goes only to the banned handle's connections, which leave
// the room; a member with All and everyone else stay and see nothing of it.
func TestHubBanRemovesOnlyTheHandle(t *testing.T) {
	hub, dial := chatFixture(t, 50)
	banned1, banned2 := dial("BANNEDBANNEDBANN", false), dial("BANNEDBANNEDBANN", false)
	other := dial("OTHEROTHEROTHERO", false)
	for _, next := range []func() map[string]any{banned1, banned2, other} {
		if m := next(); m["type"] != "snapshot" {
			t.Fatalf("first message %v", m)
		}
	}
	ban := protocol.VolatileEnvelope(protocol.BanKey("BANNEDBANNEDBANN"), protocol.Marshal(protocol.RoomErrorMsg{
		Type: protocol.TypeError, Room: "r", Code: protocol.CodeBanned, Message: "banned"}))
	hub.HandleMessage("r", ban)
	hub.HandleMessage("r", commentEnv(1, "OTHEROTHEROTHERO", time.Now().UnixMilli()))
	for i, next := range []func() map[string]any{banned1, banned2} {
		if m := next(); m["type"] != "error" || m["code"] != "banned" || m["room"] != "r" {
			t.Fatalf("banned connection %d got %v", i, m)
		}
	}
	if m := other(); m["type"] != "comment" {
		t.Fatalf("the other viewer got %v, want the comment (and nothing of the ban)", m)
	}
	testutil.Eventually(t, "one viewer left in the room", func() bool {
		hub.mu.RLock()
		r := hub.rooms["r"]
		hub.mu.RUnlock()
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.subs) == 1 && len(r.chat.byHandle) == 1
	})
}

// While sampled, a viewer gets a sample, the author all of its own, a
// member with All everything; chat_mode announces it first.
func TestHubSampledFanout(t *testing.T) {
	hub, dial := chatFixture(t, 2)
	viewer, author, mod := dial("VIEWERVIEWERVIEW", false), dial("AUTHORAUTHORAUTH", false), dial("MODMODMODMODMODM", true)
	for _, next := range []func() map[string]any{viewer, author, mod} {
		next() // the snapshot
	}
	const n = 12
	at := time.Now().UnixMilli() // one window: the sample does not depend on when a second ends
	for id := 1; id <= n; id++ {
		h := "OTHEROTHEROTHERO"
		if id%3 == 0 {
			h = "AUTHORAUTHORAUTH"
		}
		hub.HandleMessage("r", commentEnv(id, h, at))
	}
	hub.HandleMessage("r", commentEnv(n+1, "ENDENDENDENDENDE", at)) // a marker the mod waits for
	count := func(next func() map[string]any, until int) (comments int, sampled bool) {
		for {
			m := next()
			switch m["type"] {
			case "chat_mode":
				sampled = sampled || m["sampled"] == true
			case "comment":
				comments++
				if id := m["comment"].(map[string]any)["id"]; id == fmt.Sprint(until) {
					return comments, sampled
				}
			}
		}
	}
	if c, s := count(mod, n+1); c != n+1 || !s {
		t.Fatalf("moderator got %d comments (sampled %v), want all %d", c, s, n+1)
	}
	// The author's own comments (ids 3, 6, 9, 12) all reach it.
	if c, s := count(author, 12); c < 4 || !s {
		t.Fatalf("author got %d comments up to its last (sampled %v), want its 4 at least", c, s)
	}
	if c, s := count(viewer, 12); c >= 12 || !s {
		t.Fatalf("viewer got %d of 12 (sampled %v), want a sample", c, s)
	}
}
