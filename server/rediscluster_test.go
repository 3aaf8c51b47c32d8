package server_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// Nodes on a Redis Cluster (Config.RedisCluster) or behind Sentinels
// (Config.RedisSentinel), against real processes the test starts.

// startNodesOn starts n nodes of cfg (given its JWT secret).
func startNodesOn(t *testing.T, n int, cfg server.Config) []*testNode {
	t.Helper()
	cfg.JWTSecret = clusterSecret
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = startNode(t, cfg)
	}
	return nodes
}

// Three nodes on a 3-master Redis Cluster pass the checks of
// TestClusterThreeNodes (same events in the same order on every node, 300
// buyers for 100 units sell exactly 100, all in the order stream, viewer
// counts summed) in three rooms, one on each master: each room's events
// travel by sharded pub/sub through its own master.
func TestRedisClusterThreeNodes(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	nodes := startNodesOn(t, 3, server.Config{RedisCluster: c.Addrs()})
	rooms := c.IDsOnEveryMaster(rkeys.New(rkeys.DefaultPrefix).Events)
	for _, room := range rooms {
		checkThreeNodes(t, nodes, room)
	}
	// Each node subscribed on every master: one shard connection each.
	for i, n := range nodes {
		if got := metric(t, n, "liveserver_pubsub_reconnects_total"); got != 0 {
			t.Fatalf("node %d counted %v pub/sub reconnects on a healthy cluster", i, got)
		}
	}
}

// purchaseLog records purchase attempts of concurrent buyers.
type purchaseLog struct {
	mu      sync.Mutex
	acked   map[string]bool // acknowledged orders
	codes   map[string]int
	lastOK  time.Time
	next    atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	started time.Time
}

// buyLoop runs workers buyers, each request a new user, on nodes in turn,
// until stop is called.
func buyLoop(t *testing.T, nodes []*testNode, room string, workers int) *purchaseLog {
	l := &purchaseLog{acked: map[string]bool{}, codes: map[string]int{}, stop: make(chan struct{}), started: time.Now()}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				i := l.next.Add(1)
				tok := clusterToken(t, fmt.Sprintf("buyer%d", i), "viewer")
				id := "b"
				for {
					// Retry an unavailable answer with the same id, as the
					// protocol asks: it answers the real outcome.
					st, out, err := clusterPost(nodes[w%len(nodes)].url+"/api/rooms/"+room+"/purchases", tok, msg{"id": id, "product": "p1"})
					l.mu.Lock()
					code := ""
					switch {
					case err != nil:
						code = "transport"
					case st == 200:
						code = "ok"
						l.acked[out["order"].(string)] = true
						l.lastOK = time.Now()
					default:
						code = errCode(out)
					}
					l.codes[code]++
					l.mu.Unlock()
					if code != "unavailable" && code != "transport" && code != "overloaded" {
						break
					}
					select {
					case <-l.stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *purchaseLog) halt() {
	close(l.stop)
	l.wg.Wait()
}

func (l *purchaseLog) acks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// ordersOf reads every order of room through node n.
func ordersOf(t *testing.T, n *testNode, tok, room string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	after := ""
	for {
		var page struct {
			Orders []msg
			Next   *string
		}
		path := "/api/rooms/" + room + "/orders?limit=500"
		if after != "" {
			path += "&after=" + after
		}
		if st := n.do(t, "GET", path, tok, nil, &page); st != 200 {
			t.Fatalf("orders: status %d", st)
		}
		for _, o := range page.Orders {
			out[o["order"].(string)] = true
		}
		if page.Next == nil {
			return out
		}
		after = *page.Next
	}
}

// failoverRun is what a master's death mid-sale did: how long until the
// first purchase succeeded again, and how many acknowledged orders the
// promoted replica lacks.
type failoverRun struct {
	recovery time.Duration
	acked    int
	lost     int
}

// killMidSale runs buyers against room on nodes, kills master (the room's
// Redis master) once some purchases went through, and checks that the
// nodes recover by themselves: purchases succeed again, every viewer gets
// a fresh snapshot and ends with the store's stock. It returns what was
// lost: acknowledged orders missing from the order stream afterwards.
func killMidSale(t *testing.T, nodes []*testNode, room string, kill func(), healthy func()) failoverRun {
	t.Helper()
	creatorTok := clusterToken(t, "creator", "creator", room)
	const stock = 100000
	nodes[0].putRoom(t, creatorTok, room, stock)
	var sale struct{ Sale struct{ ID, State string } }
	if st := nodes[0].do(t, "POST", "/api/rooms/"+room+"/sales", creatorTok, msg{"product": "p1", "price": 1, "quantity": stock, "per_user_limit": 1, "duration_ms": 120000}, &sale); st != 201 || sale.Sale.State != "live" {
		t.Fatalf("start sale: %d %+v", st, sale)
	}
	viewers, views := joinViewers(t, nodes, 2*len(nodes), room)
	buyers := buyLoop(t, nodes, room, 6)
	testutil.Eventually(t, "purchases before the kill", func() bool { return buyers.acks() >= 30 })

	kill()
	killed := time.Now()
	before := buyers.acks()
	healthy()
	var recovery time.Duration
	testutil.Eventually(t, "a purchase succeeds after the failover", func() bool {
		buyers.mu.Lock()
		defer buyers.mu.Unlock()
		if buyers.lastOK.After(killed) && len(buyers.acked) > before {
			recovery = buyers.lastOK.Sub(killed)
			return true
		}
		return false
	})
	testutil.Eventually(t, "purchases go on after the failover", func() bool { return buyers.acks() >= before+30 })
	buyers.halt()

	// Viewers stayed connected, were resynchronized (a fresh snapshot
	// after the resubscription), and end with what the store says.
	for i, c := range viewers {
		follow(t, c, views[i], fmt.Sprintf("viewer %d fresh snapshot", i), func(v *roomView) bool { return v.snapshots >= 2 })
	}
	var snap struct {
		Seq      int
		Products []struct {
			ID        string
			Remaining float64
		}
	}
	nodes[0].do(t, "GET", "/api/rooms/"+room, "", nil, &snap)
	for i, c := range viewers {
		follow(t, c, views[i], fmt.Sprintf("viewer %d has the store's stock %v", i, snap.Products[0].Remaining), func(v *roomView) bool {
			return v.remaining["p1"] == snap.Products[0].Remaining
		})
	}

	inStream := ordersOf(t, nodes[len(nodes)-1], creatorTok, room)
	buyers.mu.Lock()
	defer buyers.mu.Unlock()
	run := failoverRun{recovery: recovery, acked: len(buyers.acked)}
	for o := range buyers.acked {
		if !inStream[o] {
			run.lost++
		}
	}
	// Nothing sold twice: the stock left is the stock less the stream.
	if left := stock - len(inStream); float64(left) != snap.Products[0].Remaining {
		t.Fatalf("remaining %v, but %d orders of %d in the stream", snap.Products[0].Remaining, len(inStream), stock)
	}
	t.Logf("answers %v; %d acknowledged, %d in the stream, %d acknowledged but lost; first purchase %v after the kill",
		buyers.codes, run.acked, len(inStream), run.lost, recovery.Round(time.Millisecond))
	return run
}

// A Redis Cluster master dies mid-sale (3 masters, a replica each, two
// with -redis-wait-replicas 1, which needs one left after the failover): its
// replica is promoted, the nodes recover by themselves (purchases succeed
// again, the shard subscription moves to the new master, viewers are
// resynchronized), nothing is sold twice. With -redis-wait-replicas 1 no
// acknowledged order is lost; without, the test reports what was.
func TestRedisClusterMasterFailover(t *testing.T) {
	for _, wait := range []int{1, 0} {
		t.Run(fmt.Sprintf("wait-replicas=%d", wait), func(t *testing.T) {
			// WAIT 1 needs a replica after the failover too: the dead
			// master's other replica follows the promoted one.
			c := redistest.StartCluster(t, 3, 1+wait)
			nodes := startNodesOn(t, 2, server.Config{RedisCluster: c.Addrs(), RedisWaitReplicas: wait})
			names := rkeys.New(rkeys.DefaultPrefix)
			room := c.IDsOnEveryMaster(names.Events)[0]
			master := c.MasterOf(names.Events(room))
			run := killMidSale(t, nodes, room, master.Kill, func() { c.WaitHealthy(3) })
			if wait > 0 && run.lost > 0 {
				t.Fatalf("%d acknowledged orders lost with -redis-wait-replicas %d", run.lost, wait)
			}
			if n := metric(t, nodes[0], "liveserver_pubsub_reconnects_total"); n < 1 {
				t.Fatalf("node 0 counted %v pub/sub reconnects after its master died", n)
			}
		})
	}
}

// A master watched by three Sentinels dies mid-sale: a replica is
// promoted, the nodes follow it (purchases succeed again, pub/sub
// resubscribes, viewers are resynchronized), nothing is sold twice; with
// -redis-wait-replicas 1 no acknowledged order is lost.
func TestRedisSentinelFailover(t *testing.T) {
	for _, wait := range []int{1, 0} {
		t.Run(fmt.Sprintf("wait-replicas=%d", wait), func(t *testing.T) {
			s := redistest.StartSentinel(t, 2, 3)
			nodes := startNodesOn(t, 2, server.Config{RedisSentinel: s.SentinelAddrs(), RedisMaster: s.MasterName, RedisWaitReplicas: wait})
			old := s.Master()
			run := killMidSale(t, nodes, "r1", old.Kill, func() {
				testutil.Eventually(t, "a replica promoted", func() bool {
					a := s.MasterAddr()
					return a != "" && a != old.Addr()
				})
			})
			if wait > 0 && run.lost > 0 {
				t.Fatalf("%d acknowledged orders lost with -redis-wait-replicas %d", run.lost, wait)
			}
		})
	}
}

// A room's slot moves to another master (keys migrated in batches, as
// redis-cli --cluster reshard does) while its viewers watch, a creator
// pins and buyers buy: nothing is sold twice, every acknowledged order is
// in the stream, and every viewer ends with the room's last seq and stock
// without an unrepaired gap (the nodes follow ASK and MOVED, move their
// shard subscription when the old master drops it, and resync the room).
func TestRedisClusterSlotMigration(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	nodes := startNodesOn(t, 2, server.Config{RedisCluster: c.Addrs()})
	names := rkeys.New(rkeys.DefaultPrefix)
	ids := c.IDsOnEveryMaster(names.Events)
	room, target := ids[0], c.MasterOf(names.Events(ids[1]))
	creatorTok := clusterToken(t, "creator", "creator", room)
	const stock = 100000
	nodes[0].putRoom(t, creatorTok, room, stock, 5)
	viewers, views := joinViewers(t, nodes, 4, room)
	buyers := buyLoop(t, nodes, room, 4)

	creator := dial(t, nodes[1].wsURL(), creatorTok)
	stopPins := make(chan struct{})
	pinsDone := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stopPins:
				pinsDone <- n
				return
			default:
			}
			// Some pins fail while the keys are between two masters (a
			// script's keys must all be on one node): the creator retries.
			if r := creator.request(msg{"type": "pin", "room": room, "product": fmt.Sprintf("p%d", n%2+1)}); r["ok"] == true {
				n++
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	testutil.Eventually(t, "purchases before the migration", func() bool { return buyers.acks() >= 20 })
	c.MigrateSlotOf(names.Events(room), target, 20*time.Millisecond)
	if got := c.MasterOf(names.Events(room)); got != target {
		t.Fatalf("the room's slot is on %s, want %s", got.Addr(), target.Addr())
	}
	before := buyers.acks()
	testutil.Eventually(t, "purchases after the migration", func() bool { return buyers.acks() >= before+20 })
	close(stopPins)
	<-pinsDone
	buyers.halt()
	// One more event every node must deliver, after everything settled.
	if r := creator.request(msg{"type": "unpin", "room": room}); r["ok"] != true {
		t.Fatalf("unpin: %v", r)
	}
	var snap struct {
		Seq      int
		Products []struct {
			ID        string
			Remaining float64
		}
	}
	nodes[0].do(t, "GET", "/api/rooms/"+room, "", nil, &snap)
	for i, c := range viewers {
		follow(t, c, views[i], fmt.Sprintf("viewer %d at seq %d, stock %v", i, snap.Seq, snap.Products[0].Remaining), func(v *roomView) bool {
			return v.seq == snap.Seq && v.remaining["p1"] == snap.Products[0].Remaining
		})
		if len(views[i].gaps) > 0 || views[i].pinned != "" {
			t.Fatalf("viewer %d: gaps %v, pinned %q", i, views[i].gaps, views[i].pinned)
		}
	}
	inStream := ordersOf(t, nodes[1], creatorTok, room)
	buyers.mu.Lock()
	defer buyers.mu.Unlock()
	for o := range buyers.acked {
		if !inStream[o] {
			t.Fatalf("acknowledged order %s is not in the stream", o)
		}
	}
	if left := stock - len(inStream); float64(left) != snap.Products[0].Remaining {
		t.Fatalf("remaining %v, but %d orders in the stream", snap.Products[0].Remaining, len(inStream))
	}
	t.Logf("answers %v; %d orders; viewers' snapshots %d %d %d %d", buyers.codes, len(inStream), views[0].snapshots, views[1].snapshots, views[2].snapshots, views[3].snapshots)
}

// The chat on three nodes on a 3-master Redis Cluster passes the checks of
// TestChatClusterThreeNodes in a room on each master: its scripts keep to
// the room's slot and publish on its shard channel.
func TestRedisClusterChat(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	nodes := startNodesOn(t, 3, server.Config{RedisCluster: c.Addrs()})
	for _, room := range c.IDsOnEveryMaster(rkeys.New(rkeys.DefaultPrefix).Events) {
		checkChatThreeNodes(t, nodes, room)
	}
}
