package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/server"
)

// A node whose Redis pool is far smaller than a burst of purchases queues
// them for connections and answers every one, ok or sold out, never
// unavailable while Redis answers; the pool metrics show the wait. (A
// flash sale once got unavailable from a healthy Redis this way, with the
// pool go-redis sizes by CPUs; no timing is asserted here, the request
// timeout is generous.) The pool has one connection: purchases go in
// pipelines, and on a loaded machine a burst arriving slowly could fit
// two connections without a wait.
func TestClusterBurstQueuesForPool(t *testing.T) {
	srv := redistest.Start(t)
	n := startNode(t, server.Config{RedisURL: srv.URL() + "?pool_size=1", JWTSecret: clusterSecret, RequestTimeout: 30 * time.Second})
	n.putRoom(t, clusterToken(t, "creator", "creator", "r1"), "r1", 40)
	const buyers = 200
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i := range buyers {
		tok := clusterToken(t, fmt.Sprintf("buyer%d", i), "viewer")
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
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
	close(start)
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
