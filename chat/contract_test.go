package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

var ctx = context.Background()

// harness is one "cluster": a shop store and n chat stores that share their
// state (the same MemoryStore n times in memory mode; n RedisStores on
// their own clients of one Redis, like n nodes), and everything published
// to the rooms' channels.
type harness struct {
	inv    inventory.Store
	stores []chat.Store
	rec    *recorder
}

func (h *harness) chat() chat.Store { return h.stores[0] }

type factory func(t *testing.T, nodes int) *harness

func runContract(t *testing.T, f factory) {
	tests := []struct {
		name string
		run  func(t *testing.T, f factory)
	}{
		{"PostAndRecent", testPostAndRecent},
		{"NoRoom", testNoRoom},
		{"BadInput", testBadInput},
		{"IDsInOneOrderAcrossNodes", testIDsInOneOrder},
		{"RateLimit", testRateLimit},
		{"SlowMode", testSlowMode},
		{"MuteAndUnmute", testMute},
		{"MutePurge", testMutePurge},
		{"BanPurgesAndTellsTheHub", testBan},
		{"ChatClosed", testChatClosed},
		{"BlockList", testBlockList},
		{"BlockListChangedOnAnotherNode", testBlockListOtherNode},
		{"RefusalOrder", testRefusalOrder},
		{"DeletionsAreRoomEvents", testDeletionsAreRoomEvents},
		{"DeleteUnknown", testDeleteUnknown},
		{"ModerateUnseenHandle", testModerateUnseen},
		{"PrivilegedCannotBeMutedOrBanned", testPrivileged},
		{"Settings", testSettings},
		{"RecentIsBounded", testRecentBounded},
		{"ReactionsSummedExactlyOnce", testReactionsSummed},
		{"ReactionsFlushIdempotent", testReactionsIdempotent},
		{"TallyAcrossNodes", testTally},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, f)
		})
	}
}

// recorder keeps every envelope published, by room, in order.
type recorder struct {
	mu   sync.Mutex
	msgs map[string][][]byte
}

func newRecorder() *recorder { return &recorder{msgs: map[string][][]byte{}} }

func (r *recorder) Publish(_ context.Context, room string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs[room] = append(r.msgs[room], append([]byte(nil), data...))
	return nil
}

func (r *recorder) envelopes(room string) []protocol.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []protocol.Envelope
	for _, m := range r.msgs[room] {
		env, ok := protocol.ParseEnvelope(m)
		if !ok {
			panic(fmt.Sprintf("malformed envelope %q", m))
		}
		out = append(out, env)
	}
	return out
}

// volatile returns the room's volatile messages whose key starts with
// prefix, waiting until there are at least n (pub/sub is asynchronous).
func (r *recorder) volatile(t *testing.T, room, prefix string, n int) []protocol.Envelope {
	t.Helper()
	var got []protocol.Envelope
	testutil.Eventually(t, fmt.Sprintf("%d %q messages in %s", n, prefix, room), func() bool {
		got = got[:0]
		for _, e := range r.envelopes(room) {
			if e.Seq == 0 && strings.HasPrefix(e.Key, prefix) {
				got = append(got, e)
			}
		}
		return len(got) >= n
	})
	return got
}

var users = chatHandles()

func chatHandles() *chat.Handles {
	h, err := chat.NewHandles(bytes.Repeat([]byte{7}, chat.KeyLen))
	if err != nil {
		panic(err)
	}
	return h
}

func author(room, sub, role string) chat.Author { return users.Author(room, sub, "", role) }

func viewer(room, sub string) chat.Author { return author(room, sub, chat.RoleViewer) }

func newRoom(t *testing.T, h *harness, room string) {
	t.Helper()
	spec := inventory.RoomSpec{Title: "Room " + room, Products: []inventory.ProductSpec{
		{ID: "p1", Name: "Tote", Price: 1999, Currency: "USD", Image: "/t.svg", Stock: 5},
	}}
	if _, err := h.inv.PutRoom(ctx, room, spec); err != nil {
		t.Fatal(err)
	}
}

func post(t *testing.T, s chat.Store, room string, a chat.Author, text string) chat.Comment {
	t.Helper()
	c, err := s.Post(ctx, chat.Post{Room: room, Author: a, Text: text})
	if err != nil {
		t.Fatalf("post %q by %s: %v", text, a.ID, err)
	}
	return c
}

func code(err error) string {
	var e *protocol.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

func wantCode(t *testing.T, err error, want string) *chat.Error {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("error %v: code %q, want %q", err, got, want)
	}
	var ce *chat.Error
	if errors.As(err, &ce) {
		return ce
	}
	switch want {
	case chat.CodeMuted, chat.CodeSlowMode, protocol.CodeRateLimited:
		t.Fatalf("error %v is not a *chat.Error: it cannot carry until or retry_after_ms", err)
	}
	return nil
}

func recentIDs(t *testing.T, s chat.Store, room string, limit int) []string {
	t.Helper()
	cs, err := s.Recent(ctx, room, limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// events returns the room's whole history, checking that seqs are 1, 2, ...
func events(t *testing.T, h *harness, room string) []protocol.Envelope {
	t.Helper()
	evs, ok, err := h.inv.Since(ctx, room, 0)
	if err != nil || !ok {
		t.Fatalf("Since(0): %v %v", ok, err)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	return evs
}

func eventType(t *testing.T, msg []byte) string {
	t.Helper()
	var m struct{ Type string }
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatalf("%s: %v", msg, err)
	}
	return m.Type
}

func testPostAndRecent(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	ann, bob := users.Author("r1", "ann", "Ann ✓", chat.RoleViewer), viewer("r1", "bob")
	c1 := post(t, s, "r1", ann, "  does it come in <blue>? \"quoted\" & ünïcode  ")
	c2 := post(t, s, "r1", bob, "second")
	c3 := post(t, s, "r1", ann, "third")
	if c1.ID != "1" || c2.ID != "2" || c3.ID != "3" {
		t.Fatalf("ids %s %s %s, want 1 2 3", c1.ID, c2.ID, c3.ID)
	}
	if c1.Text != `does it come in <blue>? "quoted" & ünïcode` || c1.Author != ann || c1.At < 1e12 {
		t.Fatalf("comment %+v", c1)
	}
	if bob.Name != "b***" || ann.Name != "Ann ✓" {
		t.Fatalf("names %q %q", ann.Name, bob.Name)
	}
	got, err := s.Recent(ctx, "r1", 2)
	if err != nil || len(got) != 2 || got[0] != c2 || got[1] != c3 {
		t.Fatalf("Recent(2) = %+v, %v; want the last two, oldest first", got, err)
	}
	st, err := s.State(ctx, "r1")
	if err != nil || len(st.Comments) != 3 || st.Comments[0] != c1 || st.Chat.Enabled != true || st.Chat.SlowModeMS != 0 || st.Chat.Announcement != nil {
		t.Fatalf("State = %+v, %v", st, err)
	}
	// The published comment is what protocol.Marshal makes of it, byte for
	// byte (the Redis script assembles it), under the author's key.
	msgs := h.rec.volatile(t, "r1", "comment:", 3)
	for i, want := range []chat.Comment{c1, c2, c3} {
		if msgs[i].Key != chat.CommentKey(want.Author.ID) {
			t.Fatalf("comment %d key %q", i, msgs[i].Key)
		}
		var m chat.CommentMsg
		if err := json.Unmarshal(msgs[i].Msg, &m); err != nil {
			t.Fatal(err)
		}
		if m.Comment != want || m.Room != "r1" || m.Type != "comment" {
			t.Fatalf("published %s, want comment %+v", msgs[i].Msg, want)
		}
		if !bytes.Equal(msgs[i].Msg, protocol.Marshal(m)) {
			t.Fatalf("published\n %s\nwant\n %s", msgs[i].Msg, protocol.Marshal(m))
		}
		if bytes.Contains(msgs[i].Msg, []byte(`"ann"`)) || bytes.Contains(msgs[i].Msg, []byte(`"bob"`)) {
			t.Fatalf("a user id was broadcast: %s", msgs[i].Msg)
		}
	}
	// Comments are volatile: no room event.
	if evs := events(t, h, "r1"); len(evs) != 0 {
		t.Fatalf("%d room events, want none", len(evs))
	}
}

func testNoRoom(t *testing.T, f factory) {
	s := f(t, 1).chat()
	a := viewer("nope", "u")
	_, err := s.Post(ctx, chat.Post{Room: "nope", Author: a, Text: "hi"})
	wantCode(t, err, protocol.CodeNotFound)
	wantCode(t, s.Seen(ctx, "nope", a), protocol.CodeNotFound)
	_, err = s.Recent(ctx, "nope", 10)
	wantCode(t, err, protocol.CodeNotFound)
	_, err = s.State(ctx, "nope")
	wantCode(t, err, protocol.CodeNotFound)
	wantCode(t, s.Delete(ctx, "nope", []string{"1"}), protocol.CodeNotFound)
	_, err = s.Mute(ctx, "nope", a.ID, time.Minute, true)
	wantCode(t, err, protocol.CodeNotFound)
	wantCode(t, s.Unmute(ctx, "nope", a.ID), protocol.CodeNotFound)
	wantCode(t, s.Ban(ctx, "nope", a.ID), protocol.CodeNotFound)
	wantCode(t, s.Unban(ctx, "nope", a.ID), protocol.CodeNotFound)
	_, err = s.Banned(ctx, "nope", a.ID)
	wantCode(t, err, protocol.CodeNotFound)
	_, err = s.UpdateSettings(ctx, "nope", chat.SettingsPatch{})
	wantCode(t, err, protocol.CodeNotFound)
	_, err = s.BlockList(ctx, "nope")
	wantCode(t, err, protocol.CodeNotFound)
	wantCode(t, s.SetBlockList(ctx, "nope", []string{"x"}), protocol.CodeNotFound)
	_, err = s.AddReactions(ctx, "nope", "f1", chat.Counts{1})
	wantCode(t, err, protocol.CodeNotFound)
}

func testBadInput(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	a := viewer("r1", "u")
	for _, text := range []string{"", "   ", strings.Repeat("x", 301), "a\x00b", "line\nbreak", "evil \u202Etxt", "iso \u2066x\u2069", "bad \xff utf8", "c1 \u0085 x"} {
		_, err := s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: text})
		wantCode(t, err, protocol.CodeBadRequest)
	}
	if _, err := s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: strings.Repeat("é", 300)}); err != nil {
		t.Fatalf("300 characters (600 bytes): %v", err)
	}
	_, err := s.Post(ctx, chat.Post{Room: "r1", Author: chat.Author{ID: "sub-as-id", Role: "viewer"}, Text: "hi"})
	wantCode(t, err, protocol.CodeBadRequest)
	for _, n := range []int{0, -1, 101} {
		_, err := s.Recent(ctx, "r1", n)
		wantCode(t, err, protocol.CodeBadRequest)
	}
	for _, d := range []time.Duration{999 * time.Millisecond, 24*time.Hour + time.Millisecond} {
		_, err := s.Mute(ctx, "r1", a.ID, d, false)
		wantCode(t, err, protocol.CodeBadRequest)
	}
	_, err = s.Mute(ctx, "r1", "not a handle", time.Minute, false)
	wantCode(t, err, protocol.CodeBadRequest)
	wantCode(t, s.Ban(ctx, "r1", ""), protocol.CodeBadRequest)
	neg, big := int64(-1), int64(600_001)
	long := strings.Repeat("a", 201)
	bidi := "x\u202Ey"
	for _, p := range []chat.SettingsPatch{{SlowModeMS: &neg}, {SlowModeMS: &big}, {Announcement: &long}, {Announcement: &bidi}} {
		_, err := s.UpdateSettings(ctx, "r1", p)
		wantCode(t, err, protocol.CodeBadRequest)
	}
	tooMany := make([]string, 201)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("t", i)
	}
	for _, terms := range [][]string{tooMany, {""}, {"  "}, {strings.Repeat("x", 51)}, {"ok", "bad\x01"}} {
		wantCode(t, s.SetBlockList(ctx, "r1", terms), protocol.CodeBadRequest)
	}
	for _, ids := range [][]string{nil, {"abc"}, {"0"}, {"01"}, {"-1"}, {"1234567890123456"}} {
		wantCode(t, s.Delete(ctx, "r1", ids), protocol.CodeBadRequest)
	}
	// Nothing of the above changed the room.
	if evs := events(t, h, "r1"); len(evs) != 0 {
		t.Fatalf("%d room events after bad input", len(evs))
	}
}

// Several nodes post at once: every id is issued once, ids are 1..n, and the
// comments are published in id order.
func testIDsInOneOrder(t *testing.T, f factory) {
	h := f(t, 3)
	newRoom(t, h, "r1")
	const posters, each = 12, 3
	var wg sync.WaitGroup
	ids := make(chan string, posters*each)
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := h.stores[p%len(h.stores)]
			a := viewer("r1", fmt.Sprint("user", p))
			for i := range each {
				c, err := s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: fmt.Sprint("m", i)})
				if err != nil {
					t.Errorf("post: %v", err)
					return
				}
				ids <- c.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %s issued twice", id)
		}
		seen[id] = true
	}
	for i := 1; i <= posters*each; i++ {
		if !seen[strconv.Itoa(i)] {
			t.Fatalf("id %d never issued (got %v)", i, seen)
		}
	}
	msgs := h.rec.volatile(t, "r1", "comment:", posters*each)
	for i, m := range msgs {
		var cm chat.CommentMsg
		if err := json.Unmarshal(m.Msg, &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Comment.ID != strconv.Itoa(i+1) {
			t.Fatalf("published comment %d has id %s: not in id order", i, cm.Comment.ID)
		}
	}
	got := recentIDs(t, h.stores[1], "r1", 100)
	for i, id := range got {
		if id != strconv.Itoa(i+1) {
			t.Fatalf("recent %v: not in id order", got)
		}
	}
}

func testRateLimit(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	a := viewer("r1", "fast")
	// The limit is per user across nodes.
	for i := range chat.CommentBurst {
		post(t, h.stores[i%2], "r1", a, fmt.Sprint("burst ", i))
	}
	_, err := h.stores[1].Post(ctx, chat.Post{Room: "r1", Author: a, Text: "one too many"})
	ce := wantCode(t, err, protocol.CodeRateLimited)
	if ce.RetryAfterMS < 1 || ce.RetryAfterMS > 1000 {
		t.Fatalf("retry_after_ms %d, want 1 to 1000", ce.RetryAfterMS)
	}
	if ce.Fields()["retry_after_ms"] != ce.RetryAfterMS {
		t.Fatalf("fields %v", ce.Fields())
	}
	// Moderators are rate limited too (only slow mode and the block list
	// spare them); another user is not affected.
	post(t, h.chat(), "r1", viewer("r1", "other"), "fine")
}

func testSlowMode(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	slow := int64(60_000)
	if _, err := h.chat().UpdateSettings(ctx, "r1", chat.SettingsPatch{SlowModeMS: &slow}); err != nil {
		t.Fatal(err)
	}
	a := viewer("r1", "v")
	post(t, h.stores[0], "r1", a, "first")
	_, err := h.stores[1].Post(ctx, chat.Post{Room: "r1", Author: a, Text: "second"})
	ce := wantCode(t, err, chat.CodeSlowMode)
	if ce.RetryAfterMS < 50_000 || ce.RetryAfterMS > 60_000 {
		t.Fatalf("retry_after_ms %d, want about 60000", ce.RetryAfterMS)
	}
	for _, role := range []string{chat.RoleModerator, chat.RoleCreator, chat.RoleAdmin} {
		m := author("r1", "boss-"+role, role)
		post(t, h.chat(), "r1", m, "one")
		post(t, h.chat(), "r1", m, "two")
	}
	off := int64(0)
	if _, err := h.chat().UpdateSettings(ctx, "r1", chat.SettingsPatch{SlowModeMS: &off}); err != nil {
		t.Fatal(err)
	}
	post(t, h.stores[1], "r1", a, "slow mode is off")
}

func testMute(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	a := viewer("r1", "loud")
	before := time.Now().UnixMilli()
	until, err := h.stores[0].Mute(ctx, "r1", a.ID, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := until - before; d < time.Hour.Milliseconds()-5000 || d > time.Hour.Milliseconds()+5000 {
		t.Fatalf("until %d is %d ms from now, want an hour", until, d)
	}
	_, err = h.stores[1].Post(ctx, chat.Post{Room: "r1", Author: a, Text: "hello?"})
	ce := wantCode(t, err, chat.CodeMuted)
	if ce.Until != until || ce.Fields()["until"] != until {
		t.Fatalf("until %d (fields %v), want %d", ce.Until, ce.Fields(), until)
	}
	if err := h.stores[1].Unmute(ctx, "r1", a.ID); err != nil {
		t.Fatal(err)
	}
	post(t, h.stores[0], "r1", a, "back")
	if evs := events(t, h, "r1"); len(evs) != 0 {
		t.Fatalf("a mute without purge emitted %d events", len(evs))
	}
}

func testMutePurge(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	bad, good := viewer("r1", "bad"), viewer("r1", "good")
	b1 := post(t, s, "r1", bad, "spam 1")
	g1 := post(t, s, "r1", good, "hello")
	b2 := post(t, s, "r1", bad, "spam 2")
	if _, err := s.Mute(ctx, "r1", bad.ID, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	if got := recentIDs(t, s, "r1", 50); len(got) != 1 || got[0] != g1.ID {
		t.Fatalf("recent %v, want only %s", got, g1.ID)
	}
	evs := events(t, h, "r1")
	if len(evs) != 1 {
		t.Fatalf("%d events, want one comment_deleted", len(evs))
	}
	var ev chat.DeletedEvent
	if err := json.Unmarshal(evs[0].Msg, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "comment_deleted" || fmt.Sprint(ev.Comments) != fmt.Sprint([]string{b1.ID, b2.ID}) {
		t.Fatalf("event %s", evs[0].Msg)
	}
	// A second purge finds nothing: no event.
	if _, err := s.Mute(ctx, "r1", bad.ID, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	if n := len(events(t, h, "r1")); n != 1 {
		t.Fatalf("%d events after an empty purge", n)
	}
}

func testBan(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	bad, good := viewer("r1", "troll"), viewer("r1", "fan")
	b1 := post(t, h.stores[0], "r1", bad, "bad 1")
	g1 := post(t, h.stores[1], "r1", good, "good")
	b2 := post(t, h.stores[1], "r1", bad, "bad 2")
	if err := h.stores[1].Ban(ctx, "r1", bad.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range h.stores {
		banned, err := s.Banned(ctx, "r1", bad.ID)
		if err != nil || !banned {
			t.Fatalf("Banned = %v, %v", banned, err)
		}
		_, err = s.Post(ctx, chat.Post{Room: "r1", Author: bad, Text: "let me in"})
		wantCode(t, err, chat.CodeBanned)
	}
	if got := recentIDs(t, h.chat(), "r1", 100); fmt.Sprint(got) != fmt.Sprint([]string{g1.ID}) {
		t.Fatalf("recent %v after ban, want [%s]", got, g1.ID)
	}
	evs := events(t, h, "r1")
	var ev chat.DeletedEvent
	if len(evs) != 1 || json.Unmarshal(evs[0].Msg, &ev) != nil || fmt.Sprint(ev.Comments) != fmt.Sprint([]string{b1.ID, b2.ID}) {
		t.Fatalf("events %v, want one comment_deleted of %s %s", evs, b1.ID, b2.ID)
	}
	// The hub's signal: addressed by handle, carrying the error the user's
	// connections get, and nothing that identifies the user.
	ban := h.rec.volatile(t, "r1", "ban:", 1)[0]
	if handle, ok := chat.BannedHandle(ban.Key); !ok || handle != bad.ID {
		t.Fatalf("ban key %q", ban.Key)
	}
	var m chat.BannedMsg
	if err := json.Unmarshal(ban.Msg, &m); err != nil || m.Type != "error" || m.Code != "banned" || m.Room != "r1" || m.Message == "" {
		t.Fatalf("ban message %s: %v", ban.Msg, err)
	}
	if !bytes.Equal(ban.Msg, protocol.Marshal(m)) || bytes.Contains(ban.Msg, []byte("troll")) {
		t.Fatalf("ban message %s", ban.Msg)
	}
	if err := h.stores[0].Unban(ctx, "r1", bad.ID); err != nil {
		t.Fatal(err)
	}
	if banned, err := h.stores[1].Banned(ctx, "r1", bad.ID); err != nil || banned {
		t.Fatalf("Banned after unban = %v, %v", banned, err)
	}
	post(t, h.stores[1], "r1", bad, "sorry")
	if banned, err := h.chat().Banned(ctx, "r1", good.ID); err != nil || banned {
		t.Fatalf("Banned(good) = %v, %v", banned, err)
	}
}

func testChatClosed(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	off := false
	if _, err := h.stores[0].UpdateSettings(ctx, "r1", chat.SettingsPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	_, err := h.stores[1].Post(ctx, chat.Post{Room: "r1", Author: viewer("r1", "v"), Text: "hi"})
	wantCode(t, err, chat.CodeChatClosed)
	for _, role := range []string{chat.RoleModerator, chat.RoleCreator, chat.RoleAdmin} {
		post(t, h.stores[1], "r1", author("r1", role, role), "still here")
	}
}

func testBlockList(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	if err := s.SetBlockList(ctx, "r1", []string{" spam ", "buy now", "SPAM", "ünï"}); err != nil {
		t.Fatal(err)
	}
	terms, err := s.BlockList(ctx, "r1")
	if err != nil || fmt.Sprint(terms) != fmt.Sprint([]string{"spam", "buy now", "ünï"}) {
		t.Fatalf("BlockList = %q, %v", terms, err)
	}
	for i, text := range []string{"SPAM!", "this is Spam", "please BUY NOW", "ÜNÏ", "(spam)"} {
		_, err := s.Post(ctx, chat.Post{Room: "r1", Author: viewer("r1", fmt.Sprint("b", i)), Text: text})
		wantCode(t, err, chat.CodeBlocked)
	}
	for i, text := range []string{"spammer", "antispam", "buy nowhere", "ünïcode"} {
		post(t, s, "r1", viewer("r1", fmt.Sprint("ok", i)), text)
	}
	post(t, s, "r1", author("r1", "mod", chat.RoleModerator), "moderators may say spam")
	if err := s.SetBlockList(ctx, "r1", nil); err != nil {
		t.Fatal(err)
	}
	if terms, err := s.BlockList(ctx, "r1"); err != nil || terms == nil || len(terms) != 0 {
		t.Fatalf("emptied BlockList = %#v, %v", terms, err)
	}
	post(t, s, "r1", viewer("r1", "b0"), "spam is fine now")
}

// A node that read the block list before another node changed it must not
// let a comment pass the old list.
func testBlockListOtherNode(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	post(t, h.stores[1], "r1", viewer("r1", "v1"), "hello") // node 1 reads the (empty) list
	if _, err := h.stores[1].BlockList(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := h.stores[0].SetBlockList(ctx, "r1", []string{"scam"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.stores[1].Post(ctx, chat.Post{Room: "r1", Author: viewer("r1", "v2"), Text: "total scam"})
	wantCode(t, err, chat.CodeBlocked)
	if err := h.stores[0].SetBlockList(ctx, "r1", []string{"other"}); err != nil {
		t.Fatal(err)
	}
	post(t, h.stores[1], "r1", viewer("r1", "v2"), "total scam")
}

// The refusals come in the documented order: banned, muted, chat_closed,
// blocked, slow_mode, rate_limited.
func testRefusalOrder(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	a := viewer("r1", "all-of-it")
	for i := range chat.CommentBurst {
		post(t, s, "r1", a, fmt.Sprint("m", i))
	}
	off, slow := false, int64(600_000)
	steps := []struct {
		code string
		undo func() error
	}{
		{protocol.CodeRateLimited, nil},
		{chat.CodeSlowMode, func() error {
			off := int64(0)
			_, err := s.UpdateSettings(ctx, "r1", chat.SettingsPatch{SlowModeMS: &off})
			return err
		}},
		{chat.CodeBlocked, func() error { return s.SetBlockList(ctx, "r1", nil) }},
		{chat.CodeChatClosed, func() error {
			on := true
			_, err := s.UpdateSettings(ctx, "r1", chat.SettingsPatch{Enabled: &on})
			return err
		}},
		{chat.CodeMuted, func() error { return s.Unmute(ctx, "r1", a.ID) }},
		{chat.CodeBanned, func() error { return s.Unban(ctx, "r1", a.ID) }},
	}
	if _, err := s.UpdateSettings(ctx, "r1", chat.SettingsPatch{SlowModeMS: &slow}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBlockList(ctx, "r1", []string{"word"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateSettings(ctx, "r1", chat.SettingsPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mute(ctx, "r1", a.ID, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Ban(ctx, "r1", a.ID); err != nil {
		t.Fatal(err)
	}
	for i := len(steps) - 1; i >= 0; i-- {
		_, err := s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: "a word"})
		wantCode(t, err, steps[i].code)
		if steps[i].undo != nil {
			if err := steps[i].undo(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// comment_deleted and chat share the room's seq, history and channel with
// the shop's events.
func testDeletionsAreRoomEvents(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	if err := h.inv.Pin(ctx, "r1", "p1"); err != nil {
		t.Fatal(err)
	}
	c := post(t, h.stores[0], "r1", viewer("r1", "v"), "hello")
	c2 := post(t, h.stores[0], "r1", viewer("r1", "w"), "world")
	if err := h.stores[1].Delete(ctx, "r1", []string{c.ID}); err != nil {
		t.Fatal(err)
	}
	ann := "Drop at 8"
	if _, err := h.stores[0].UpdateSettings(ctx, "r1", chat.SettingsPatch{Announcement: &ann}); err != nil {
		t.Fatal(err)
	}
	if err := h.inv.Unpin(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	evs := events(t, h, "r1")
	want := []string{"pinned", "comment_deleted", "chat", "unpinned"}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %v", len(evs), want)
	}
	for i, e := range evs {
		if typ := eventType(t, e.Msg); typ != want[i] {
			t.Fatalf("event %d (seq %d) is %s, want %s", i, e.Seq, typ, want[i])
		}
	}
	var del chat.DeletedEvent
	if err := json.Unmarshal(evs[1].Msg, &del); err != nil {
		t.Fatal(err)
	}
	if del.Seq != 2 || del.Room != "r1" || fmt.Sprint(del.Comments) != "["+c.ID+"]" || del.TS < 1e12 || !bytes.Equal(evs[1].Msg, protocol.Marshal(del)) {
		t.Fatalf("comment_deleted %s", evs[1].Msg)
	}
	var ce chat.ChatEvent
	if err := json.Unmarshal(evs[2].Msg, &ce); err != nil {
		t.Fatal(err)
	}
	if ce.Seq != 3 || !ce.Chat.Enabled || ce.Chat.Announcement == nil || *ce.Chat.Announcement != ann || !bytes.Equal(evs[2].Msg, protocol.Marshal(ce)) {
		t.Fatalf("chat %s", evs[2].Msg)
	}
	// A join with since 1 replays the deletion.
	since, ok, err := h.inv.Since(ctx, "r1", 1)
	if err != nil || !ok || len(since) != 3 || since[0].Seq != 2 {
		t.Fatalf("Since(1) = %v, %v, %v", since, ok, err)
	}
	snap, err := h.inv.Snapshot(ctx, "r1")
	if err != nil || snap.Seq != 4 {
		t.Fatalf("snapshot seq %d, %v; want 4", snap.Seq, err)
	}
	if got := recentIDs(t, h.stores[1], "r1", 50); fmt.Sprint(got) != "["+c2.ID+"]" {
		t.Fatalf("recent %v after delete", got)
	}
	// The same events, in the same order, went to the room's channel.
	var published []uint64
	testutil.Eventually(t, "4 published events", func() bool {
		published = published[:0]
		for _, e := range h.rec.envelopes("r1") {
			if e.Seq != 0 {
				published = append(published, e.Seq)
			}
		}
		return len(published) >= 4
	})
	if fmt.Sprint(published) != "[1 2 3 4]" {
		t.Fatalf("published seqs %v", published)
	}
}

func testDeleteUnknown(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	wantCode(t, s.Delete(ctx, "r1", []string{"1"}), protocol.CodeNotFound)
	c := post(t, s, "r1", viewer("r1", "v"), "hi")
	wantCode(t, s.Delete(ctx, "r1", []string{"2"}), protocol.CodeNotFound)
	// Deleting again is fine: a client may still show it.
	for range 2 {
		if err := s.Delete(ctx, "r1", []string{c.ID, "7"}); err != nil {
			t.Fatal(err)
		}
	}
	evs := events(t, h, "r1")
	var ev chat.DeletedEvent
	if len(evs) != 2 || json.Unmarshal(evs[1].Msg, &ev) != nil || fmt.Sprint(ev.Comments) != "[1]" {
		t.Fatalf("%d events, last %s", len(evs), evs[len(evs)-1].Msg)
	}
}

func testModerateUnseen(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	later := viewer("r1", "comes-later")
	if _, err := s.Mute(ctx, "r1", later.ID, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Ban(ctx, "r1", later.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.Post(ctx, chat.Post{Room: "r1", Author: later, Text: "hi"})
	wantCode(t, err, chat.CodeBanned)
	if err := s.Unban(ctx, "r1", later.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Post(ctx, chat.Post{Room: "r1", Author: later, Text: "hi"})
	wantCode(t, err, chat.CodeMuted)
	if err := s.Unmute(ctx, "r1", later.ID); err != nil {
		t.Fatal(err)
	}
	// Unmuting or unbanning a handle that is neither is fine too.
	if err := s.Unmute(ctx, "r1", later.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Unban(ctx, "r1", viewer("r1", "never").ID); err != nil {
		t.Fatal(err)
	}
	post(t, s, "r1", later, "hi")
}

func testPrivileged(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	mod := author("r1", "mod", chat.RoleModerator)
	post(t, h.stores[0], "r1", mod, "I moderate")
	creator := author("r1", "maya", chat.RoleCreator)
	if err := h.stores[0].Seen(ctx, "r1", creator); err != nil {
		t.Fatal(err)
	}
	for _, a := range []chat.Author{mod, creator} {
		_, err := h.stores[1].Mute(ctx, "r1", a.ID, time.Minute, true)
		wantCode(t, err, protocol.CodeForbidden)
		wantCode(t, h.stores[1].Ban(ctx, "r1", a.ID), protocol.CodeForbidden)
	}
	if got := recentIDs(t, h.chat(), "r1", 10); len(got) != 1 {
		t.Fatalf("recent %v: the moderator's comment was purged", got)
	}
	// A role is per room: the same user is a viewer elsewhere, and a user
	// seen as a viewer (a demoted moderator) may be moderated.
	if err := h.stores[0].Seen(ctx, "r1", author("r1", "mod", chat.RoleViewer)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.stores[1].Mute(ctx, "r1", mod.ID, time.Minute, false); err != nil {
		t.Fatalf("muting a moderator seen as a viewer since: %v", err)
	}
}

func testSettings(t *testing.T, f factory) {
	h := f(t, 2)
	newRoom(t, h, "r1")
	ann, slow, off := `Sale at 8 "sharp" <b>`, int64(5000), false
	got, err := h.stores[0].UpdateSettings(ctx, "r1", chat.SettingsPatch{Announcement: &ann, SlowModeMS: &slow})
	if err != nil || !got.Enabled || got.SlowModeMS != 5000 || got.Announcement == nil || *got.Announcement != ann {
		t.Fatalf("UpdateSettings = %+v, %v", got, err)
	}
	got, err = h.stores[1].UpdateSettings(ctx, "r1", chat.SettingsPatch{Enabled: &off})
	if err != nil || got.Enabled || got.SlowModeMS != 5000 || got.Announcement == nil {
		t.Fatalf("a partial patch changed other fields: %+v, %v", got, err)
	}
	got, err = h.stores[0].UpdateSettings(ctx, "r1", chat.SettingsPatch{ClearAnnouncement: true})
	if err != nil || got.Announcement != nil || got.Enabled {
		t.Fatalf("clearing the announcement: %+v, %v", got, err)
	}
	st, err := h.stores[1].State(ctx, "r1")
	if err != nil || st.Chat != got || st.Comments == nil {
		t.Fatalf("State = %+v, %v; want %+v and an empty comment list", st, err, got)
	}
	evs := events(t, h, "r1")
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3 chat events", len(evs))
	}
	var last chat.ChatEvent
	if err := json.Unmarshal(evs[2].Msg, &last); err != nil || last.Chat != got {
		t.Fatalf("last chat event %s", evs[2].Msg)
	}
	if !bytes.Contains(evs[2].Msg, []byte(`"announcement":null`)) {
		t.Fatalf("cleared announcement must be null: %s", evs[2].Msg)
	}
}

func testRecentBounded(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	const n = chat.RecentSize + 5
	for i := range n {
		post(t, s, "r1", viewer("r1", fmt.Sprint("u", i)), fmt.Sprint("comment ", i))
	}
	got := recentIDs(t, s, "r1", chat.RecentSize)
	if len(got) != chat.RecentSize || got[0] != "6" || got[len(got)-1] != strconv.Itoa(n) {
		t.Fatalf("Recent(100) from %s to %s (%d)", got[0], got[len(got)-1], len(got))
	}
	st, err := s.State(ctx, "r1")
	if err != nil || len(st.Comments) != chat.SnapshotComments || st.Comments[0].ID != strconv.Itoa(n-49) {
		t.Fatalf("State has %d comments from %v", len(st.Comments), st.Comments[0].ID)
	}
	// Deleting an id that aged out still tells clients.
	if err := s.Delete(ctx, "r1", []string{"1"}); err != nil {
		t.Fatal(err)
	}
}

// drainReactions flushes what the stores still hold and returns the sum of
// every reactions message of the room, checking their spacing.
func drainReactions(t *testing.T, h *harness, room string, flushes *int) chat.Counts {
	t.Helper()
	for {
		*flushes++
		retry, err := h.chat().AddReactions(ctx, room, fmt.Sprint("drain-", *flushes), chat.Counts{})
		if err != nil {
			t.Fatal(err)
		}
		if retry == 0 {
			break
		}
		time.Sleep(retry)
	}
	var sum chat.Counts
	var lastTS int64
	// Pub/sub is asynchronous: wait until the messages stop changing the sum.
	time.Sleep(50 * time.Millisecond)
	for _, e := range h.rec.envelopes(room) {
		if e.Key != chat.ReactionsKey {
			continue
		}
		var m chat.ReactionsMsg
		if err := json.Unmarshal(e.Msg, &m); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Msg, protocol.Marshal(m)) {
			t.Fatalf("reactions %s, want %s", e.Msg, protocol.Marshal(m))
		}
		if lastTS != 0 && m.TS-lastTS < chat.ReactionInterval.Milliseconds() {
			t.Fatalf("two reactions messages %d ms apart", m.TS-lastTS)
		}
		lastTS = m.TS
		for k, n := range m.Counts {
			if n <= 0 {
				t.Fatalf("kind %s with count %d in %s", k, n, e.Msg)
			}
			sum[chat.KindIndex(k)] += n
		}
	}
	return sum
}

func testReactionsSummed(t *testing.T, f factory) {
	h := f(t, 3)
	newRoom(t, h, "r1")
	const per = 40
	var wg sync.WaitGroup
	for node, s := range h.stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				c := chat.Counts{}
				c[chat.KindIndex("heart")] = 3
				c[chat.KindIndex("fire")] = int64(node + 1)
				if _, err := s.AddReactions(ctx, "r1", fmt.Sprintf("n%d-%d", node, i), c); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	flushes := 0
	got := drainReactions(t, h, "r1", &flushes)
	want := chat.Counts{}
	want[chat.KindIndex("heart")] = 3 * per * 3
	want[chat.KindIndex("fire")] = per * (1 + 2 + 3)
	if got != want {
		t.Fatalf("published sums %v, want %v", got.Map(), want.Map())
	}
}

func testReactionsIdempotent(t *testing.T, f factory) {
	h := f(t, 1)
	newRoom(t, h, "r1")
	s := h.chat()
	c := chat.Counts{0, 0, 5}
	for range 3 { // a flush retried after a lost reply
		if _, err := s.AddReactions(ctx, "r1", "same-flush", c); err != nil {
			t.Fatal(err)
		}
	}
	flushes := 0
	got := drainReactions(t, h, "r1", &flushes)
	if got[2] > 5*3 || got[2] < 5 {
		t.Fatalf("hearts %d", got[2])
	}
	if _, redis := s.(*chat.RedisStore); redis && got[2] != 5 {
		t.Fatalf("a retried flush was counted %d times", got[2]/5)
	}
}

func testTally(t *testing.T, f factory) {
	h := f(t, 3)
	newRoom(t, h, "r1")
	tallies := make([]*chat.Tally, len(h.stores))
	for i, s := range h.stores {
		tallies[i] = chat.NewTally(chat.TallyConfig{Store: s, Node: fmt.Sprint("node", i), Interval: 20 * time.Millisecond})
	}
	var want chat.Counts
	var wg sync.WaitGroup
	var mu sync.Mutex
	for u := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl := tallies[u%len(tallies)]
			handle := viewer("r1", fmt.Sprint("u", u)).ID
			var mine chat.Counts
			for i := range 12 { // 10 counted at once, then the user is over the limit
				k := (u + i) % len(chat.Kinds)
				if tl.Add("r1", handle, k) {
					mine[k]++
				}
			}
			mu.Lock()
			for k, n := range mine {
				want[k] += n
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	total := int64(0)
	for _, n := range want {
		total += n
	}
	if total > 30*chat.ReactionRate || total < 30*(chat.ReactionRate-1) {
		t.Fatalf("%d reactions counted by the tallies, want about %d (the per-user limit)", total, 30*chat.ReactionRate)
	}
	for _, tl := range tallies {
		tl.Close()
	}
	flushes := 0
	if got := drainReactions(t, h, "r1", &flushes); got != want {
		t.Fatalf("published %v, counted %v", got.Map(), want.Map())
	}
}
