package chat_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// subscribe records every message of the prefix's room channels until the
// test ends.
func subscribe(t *testing.T, rdb *redis.Client, prefix string, rec *recorder) {
	t.Helper()
	ps := rdb.PSubscribe(ctx, prefix+"{room:*}:events")
	if _, err := ps.Receive(ctx); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			room := strings.TrimSuffix(strings.TrimPrefix(m.Channel, prefix+"{room:"), "}:events")
			rec.Publish(ctx, room, []byte(m.Payload))
		}
	}()
	t.Cleanup(func() {
		ps.Close()
		<-done
	})
}

func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	runContract(t, func(t *testing.T, nodes int) *harness {
		prefix := "t-" + uuid.NewString() + ":"
		rdb := redistest.NewClient(t, srv.Addr())
		inv := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix, TimerPoll: -1})
		t.Cleanup(func() { inv.Close() })
		h := &harness{inv: inv, rec: newRecorder()}
		subscribe(t, rdb, prefix, h.rec)
		for range nodes {
			h.stores = append(h.stores, chat.NewRedisStore(redistest.NewClient(t, srv.Addr()), chat.RedisConfig{KeyPrefix: prefix}))
		}
		return h
	})
}

// Every node gets the same handle key, created once.
func TestLoadHandleKey(t *testing.T) {
	srv := redistest.Start(t)
	prefix := "t-" + uuid.NewString() + ":"
	k1, err := chat.LoadHandleKey(ctx, redistest.NewClient(t, srv.Addr()), prefix)
	if err != nil || len(k1) != chat.KeyLen {
		t.Fatalf("LoadHandleKey = %x, %v", k1, err)
	}
	k2, err := chat.LoadHandleKey(ctx, redistest.NewClient(t, srv.Addr()), prefix)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("second node's key %x, %v; want %x", k2, err, k1)
	}
	k3, err := chat.LoadHandleKey(ctx, redistest.NewClient(t, srv.Addr()), "t-"+uuid.NewString()+":")
	if err != nil || string(k3) == string(k1) {
		t.Fatalf("another cluster's key %x, %v", k3, err)
	}
	srv.Kill()
	if _, err := chat.LoadHandleKey(ctx, redistest.NewClient(t, srv.Addr()), prefix); err == nil {
		t.Fatal("no error with Redis down")
	} else if protocol.ErrorCode(err) != protocol.CodeUnavailable {
		t.Fatalf("error %v: want unavailable", err)
	}
}

// With Redis down every call fails as a dependency failure (the edge
// answers unavailable), never as a refusal.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := "t-" + uuid.NewString() + ":"
	rdb := redistest.NewClient(t, srv.Addr())
	inv := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix, TimerPoll: -1})
	t.Cleanup(func() { inv.Close() })
	h := &harness{inv: inv}
	newRoom(t, h, "r1")
	s := chat.NewRedisStore(rdb, chat.RedisConfig{KeyPrefix: prefix})
	a := viewer("r1", "v")
	post(t, s, "r1", a, "before")
	srv.Kill()
	dependency := func(err error) bool { return protocol.ErrorCode(err) == protocol.CodeUnavailable }
	_, err := s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: "after"})
	if !dependency(err) {
		t.Fatalf("Post with Redis down: %v", err)
	}
	if err := s.Ban(ctx, "r1", a.ID); !dependency(err) {
		t.Fatalf("Ban with Redis down: %v", err)
	}
	if _, err := s.AddReactions(ctx, "r1", "f", chat.Counts{1}); !dependency(err) {
		t.Fatalf("AddReactions with Redis down: %v", err)
	}
}
