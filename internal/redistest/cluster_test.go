package redistest

import (
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/testutil"
)

// A three-master cluster serves keys of every slot through a cluster
// client, and the masters split the slots.
func TestClusterStarts(t *testing.T) {
	c := StartCluster(t, 3, 0)
	if m := c.Masters(); len(m) != 3 {
		t.Fatalf("masters %v, want 3", m)
	}
	rdb := c.Client()
	ctx := ctxT(t)
	seen := map[string]bool{}
	for i := range 30 {
		k := fmt.Sprintf("{room:%d}:k", i)
		if err := rdb.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		m, err := rdb.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		seen[m.Options().Addr] = true
	}
	if len(seen) != 3 {
		t.Fatalf("30 keys landed on %d masters, want 3", len(seen))
	}
}

// Sentinels promote a replica when the master is killed.
func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t, 1, 3)
	old := s.Master()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs()})
	defer rdb.Close()
	ctx := ctxT(t)
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old.Kill()
	testutil.Eventually(t, "a replica promoted", func() bool { return s.MasterAddr() != old.Addr() })
	if err := rdb.Set(ctx, "k2", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}
