package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// A node whose Redis pool is far smaller than a burst of purchases queues
// them for connections and answers every one, ok or sold out, never
// unavailable while Redis answers; the pool metrics show the wait. (A
// flash sale once got unavailable from a healthy Redis this way, with the
// pool go-redis sizes by CPUs; no timing is asserted here, the request
// timeout is generous.) The pool has one connection, and pipelines use it
// too (go-redis otherwise gives them a pool of their own, of 10). Redis
// holds writes (CLIENT PAUSE WRITE) until the rest of the burst has
// waited: a first purchase keeps the one connection, so every later one
// must wait for it, however slowly a loaded machine sends the burst (one
// that arrived slowly used to fit the pool without a wait). The read
// timeout is as generous as the request's, so the pause is not a failure.
func TestClusterBurstQueuesForPool(t *testing.T) {
	srv := redistest.Start(t)
	n := startNode(t, server.Config{RedisURL: srv.URL() + "?pool_size=1&pipeline_pool_size=-1&read_timeout=30s", JWTSecret: clusterSecret, RequestTimeout: 30 * time.Second})
	n.putRoom(t, clusterToken(t, "creator", "creator", "r1"), "r1", 40)
	const buyers = 200
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	first := make(chan struct{})
	for i := range buyers {
		tok := clusterToken(t, fmt.Sprintf("buyer%d", i), "viewer")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				<-first
			} else {
				<-start
			}
			st, out, err := clusterPost(n.url+"/api/rooms/r1/purchases", tok, msg{"id": "b", "product": "p1"})
			key := fmt.Sprint(st)
			if err != nil {
				key = "transport: " + err.Error()
			} else if st != 200 {
				key = errCode(out)
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		}()
	}
	// Whatever happens, the buyers go and Redis resumes before the node
	// closes.
	goFirst, goAll := sync.OnceFunc(func() { close(first) }), sync.OnceFunc(func() { close(start) })
	defer wg.Wait()
	defer goAll()
	defer goFirst()
	rdb := redistest.NewClient(t, srv.Addr())
	redisDo := func(args ...any) *redis.Cmd {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return rdb.Do(ctx, args...)
	}
	if err := redisDo("CLIENT", "PAUSE", 60_000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	unpause := sync.OnceFunc(func() {
		if err := redisDo("CLIENT", "UNPAUSE").Err(); err != nil {
			t.Error(err)
		}
	})
	defer unpause()
	goFirst()
	testutil.Eventually(t, "the first purchase holding the pool's connection in Redis", func() bool {
		info, err := redisDo("INFO", "clients").Text()
		return err == nil && !strings.Contains(info, "blocked_clients:0\r\n")
	})
	goAll()
	// A wait is counted when it ends; while Redis is paused it shows as
	// pending.
	testutil.Eventually(t, "a purchase waiting for the pool's connection", func() bool {
		return metric(t, n, "liveserver_redis_pool_pending") > 0
	})
	unpause()
	wg.Wait()
	if outcomes["200"] != 40 || outcomes["sold_out"] != buyers-40 {
		t.Fatalf("outcomes %v, want 40 ok (200) and %d sold_out", outcomes, buyers-40)
	}
	if size := metric(t, n, "liveserver_redis_pool_size"); size != 1 {
		t.Fatalf("liveserver_redis_pool_size %v, want 1 (from the URL)", size)
	}
	if waits := metric(t, n, "liveserver_redis_pool_waits_total"); waits == 0 {
		t.Fatal("liveserver_redis_pool_waits_total 0: the burst never waited for a connection")
	}
	if v := metric(t, n, "liveserver_redis_pool_timeouts_total"); v != 0 {
		t.Fatalf("liveserver_redis_pool_timeouts_total %v", v)
	}
}
