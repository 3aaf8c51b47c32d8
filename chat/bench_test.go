package chat_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/inventory"
)

// benchPost posts comments from many users (so the per-user rate never
// refuses) in parallel, with a block list of 200 terms to match.
func benchPost(b *testing.B, s chat.Store, inv inventory.Store) {
	if _, err := inv.PutRoom(ctx, "r1", inventory.RoomSpec{Title: "bench"}); err != nil {
		b.Fatal(err)
	}
	terms := make([]string, chat.MaxBlockTerms)
	for i := range terms {
		terms[i] = fmt.Sprint("term", i)
	}
	if err := s.SetBlockList(ctx, "r1", terms); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := viewer("r1", fmt.Sprint("u", n.Add(1)))
			if _, err := s.Post(ctx, chat.Post{Room: "r1", Author: a, Text: "does it come in blue? and in a larger size too"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMemoryPost(b *testing.B) {
	inv := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: discard{}})
	defer inv.Close()
	benchPost(b, chat.NewMemoryStore(chat.MemoryConfig{Events: inv, Publisher: discard{}}), inv)
}

func BenchmarkRedisPost(b *testing.B) {
	srv := redistest.Start(b)
	prefix := "b-" + uuid.NewString() + ":"
	rdb := redistest.NewClient(b, srv.Addr())
	inv := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix, TimerPoll: -1})
	defer inv.Close()
	benchPost(b, chat.NewRedisStore(rdb, chat.RedisConfig{KeyPrefix: prefix}), inv)
}

type discard struct{}

func (discard) Publish(_ context.Context, _ string, _ []byte) error { return nil }
