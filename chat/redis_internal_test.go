package chat

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
)

// go-redis runs a script again when its reply was lost: the same request
// must answer the same comment and post nothing more.
func TestRedisPostRetriedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := redistest.NewClient(t, srv.Addr())
	prefix := "t-" + uuid.NewString() + ":"
	inv := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix, TimerPoll: -1})
	t.Cleanup(func() { inv.Close() })
	if _, err := inv.PutRoom(ctx, "r1", inventory.RoomSpec{Title: "t"}); err != nil {
		t.Fatal(err)
	}
	s := NewRedisStore(rdb, RedisConfig{KeyPrefix: prefix})
	h, _ := NewHandles(RandomKey())
	a := h.Author("r1", "u", "", RoleViewer)
	author, _ := json.Marshal(a)
	req := newRequestKey()
	var answers []string
	for range 2 {
		vals, reason, err := s.run(ctx, "post", scriptPost, "r1", a.ID, req,
			a.ID, a.Role, author, `"hello"`, "0", "0", postTTLms, userStateTTL.Milliseconds(), int64(1000), int64(2000))
		if err != nil || reason != "" {
			t.Fatalf("post: %q %v", reason, err)
		}
		answers = append(answers, str(vals, 0))
	}
	if answers[0] != answers[1] {
		t.Fatalf("the retry answered %s, the first %s", answers[1], answers[0])
	}
	if n, err := rdb.LLen(ctx, chatKey(prefix, "r1", "recent")).Result(); err != nil || n != 1 {
		t.Fatalf("%d comments held, want 1 (%v)", n, err)
	}
	if id, err := rdb.Get(ctx, chatKey(prefix, "r1", "lastid")).Result(); err != nil || id != "1" {
		t.Fatalf("last id %q, want 1 (%v)", id, err)
	}
}
