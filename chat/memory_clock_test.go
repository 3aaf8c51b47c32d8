package chat_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// What time does in the memory store (Redis keeps its own TIME, so the
// contract suite cannot wait out a limit without slow tests).
func TestMemoryLimitsExpire(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.UnixMilli(1_800_000_000_000))
	rec := newRecorder()
	inv := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: rec, Clock: clk})
	t.Cleanup(func() { inv.Close() })
	s := chat.NewMemoryStore(chat.MemoryConfig{Events: inv, Publisher: rec, Clock: clk})
	h := &harness{inv: inv, stores: []chat.Store{s}, rec: rec}
	newRoom(t, h, "r1")
	a := viewer("r1", "v")

	for range chat.CommentBurst {
		post(t, s, "r1", a, "burst")
	}
	_, err := s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: "more"})
	if ce := wantCode(t, err, protocol.CodeRateLimited); ce.RetryAfterMS != 1000 {
		t.Fatalf("retry_after_ms %d, want 1000 right after a burst", ce.RetryAfterMS)
	}
	clk.Advance(999 * time.Millisecond)
	_, err = s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: "more"})
	if ce := wantCode(t, err, protocol.CodeRateLimited); ce.RetryAfterMS != 1 {
		t.Fatalf("retry_after_ms %d, want 1", ce.RetryAfterMS)
	}
	clk.Advance(time.Millisecond)
	post(t, s, "r1", a, "one more after a second")

	until, err := s.Mute(ctx, "r1", a.ID, 5*time.Second, false)
	if err != nil || until != clk.Now().UnixMilli()+5000 {
		t.Fatalf("Mute = %d, %v", until, err)
	}
	clk.Advance(4999 * time.Millisecond)
	_, err = s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: "x"})
	wantCode(t, err, chat.CodeMuted)
	clk.Advance(time.Millisecond)
	post(t, s, "r1", a, "the mute ended")

	slow := int64(10_000)
	if _, err := s.UpdateSettings(ctx, "r1", chat.SettingsPatch{SlowModeMS: &slow}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Second)
	_, err = s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: "x"})
	if ce := wantCode(t, err, chat.CodeSlowMode); ce.RetryAfterMS != 7000 {
		t.Fatalf("slow mode retry_after_ms %d, want 7000 (10 s after the last comment, 3 s ago)", ce.RetryAfterMS)
	}
	clk.Advance(7 * time.Second)
	post(t, s, "r1", a, "slow and steady")

	// Reactions: the first goes at once, the next waits out the interval.
	if retry, err := s.AddReactions(ctx, "r1", "f1", chat.Counts{1}); err != nil || retry != 0 {
		t.Fatalf("first reactions: %v, %v", retry, err)
	}
	clk.Advance(100 * time.Millisecond)
	if retry, err := s.AddReactions(ctx, "r1", "f2", chat.Counts{2}); err != nil || retry != 150*time.Millisecond {
		t.Fatalf("second reactions: retry %v, %v; want 150ms", retry, err)
	}
	clk.Advance(150 * time.Millisecond)
	if retry, err := s.AddReactions(ctx, "r1", "f3", chat.Counts{}); err != nil || retry != 0 {
		t.Fatalf("drain: %v, %v", retry, err)
	}
	msgs := rec.volatile(t, "r1", chat.ReactionsKey, 2)
	want := fmt.Sprintf(`{"type":"reactions","room":"r1","ts":%d,"counts":{"clap":2}}`, clk.Now().UnixMilli())
	if len(msgs) != 2 || string(msgs[1].Msg) != want {
		t.Fatalf("reactions %d: %s", len(msgs), msgs[len(msgs)-1].Msg)
	}
}

func TestMemoryForget(t *testing.T) {
	t.Parallel()
	h := newMemoryHarness(t, 1)
	newRoom(t, h, "r1")
	s := h.chat().(*chat.MemoryStore)
	a := viewer("r1", "v")
	post(t, s, "r1", a, "hi")
	if err := s.Ban(ctx, "r1", a.ID); err != nil {
		t.Fatal(err)
	}
	if !s.IsBanned("r1", a.ID) || s.IsBanned("r1", viewer("r1", "w").ID) || s.IsBanned("r2", a.ID) {
		t.Fatal("IsBanned disagrees with Ban")
	}
	// Inside the shop's room lock, as a purchase would ask.
	err := h.inv.(*inventory.MemoryStore).Sequence(ctx, "r1", func(func(func(uint64, int64) []byte)) error {
		if !s.IsBanned("r1", a.ID) {
			t.Error("not banned inside Sequence")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Forget("r1")
	if c := post(t, s, "r1", a, "a new room"); c.ID != "1" {
		t.Fatalf("id %s after Forget, want 1", c.ID)
	}
}
