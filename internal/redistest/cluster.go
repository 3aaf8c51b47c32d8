package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterTimeout bounds how long a cluster or Sentinel setup waits to
// agree (every node reports cluster_state:ok, the replicas are in sync).
const clusterTimeout = 30 * time.Second

// Cluster is a local Redis Cluster of redis-server processes owned by one
// test: masters with their slots spread evenly by redis-cli --cluster
// create, each with the same number of replicas.
type Cluster struct {
	tb    testing.TB
	nodes []*Server
}

// StartCluster starts masters*(1+replicas) redis-server processes with
// --cluster-enabled yes and --cluster-node-timeout 2000 (a dead master's
// replica is promoted within a few seconds), joins them with redis-cli
// --cluster create, and waits until every node reports cluster_state:ok
// and every replica is in sync. The processes stop in tb.Cleanup. Missing
// binaries skip the test, or fail it with LIVESERVER_REQUIRE_REDIS=1, as
// in Start. opts apply to every node.
func StartCluster(tb testing.TB, masters, replicas int, opts ...Option) *Cluster {
	tb.Helper()
	cli := lookBinary(tb, "redis-cli")
	c := &Cluster{tb: tb}
	var given options
	for _, o := range opts {
		o(&given)
	}
	base := []Option{WithArgs("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")}
	if given.tls != nil {
		// The bus and replication over TLS too; the bus port is then the
		// TLS port + 10000. A TLS client learns TLS ports from the slot
		// map, a plain one (the harness's checks) plain ports.
		base = append(base, WithArgs("--tls-cluster", "yes", "--tls-replication", "yes"))
	}
	for range masters * (1 + replicas) {
		c.nodes = append(c.nodes, Start(tb, append(base, opts...)...))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	if given.tls != nil {
		args = append([]string{"--tls", "--cacert", given.tls.CAFile, "--cluster", "create"}, c.TLSAddrs()...)
	}
	args = append(args, "--cluster-replicas", fmt.Sprint(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(masters)
	return c
}

// lookBinary finds a binary on PATH, skipping the test (or failing it, with
// LIVESERVER_REQUIRE_REDIS=1) when it is missing.
func lookBinary(tb testing.TB, name string) string {
	tb.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not installed; apt-get install redis-server (redis-tools)"
		if os.Getenv("LIVESERVER_REQUIRE_REDIS") == "1" {
			tb.Fatal(msg + " (LIVESERVER_REQUIRE_REDIS=1)")
		}
		tb.Skip(msg)
	}
	return bin
}

// Addrs are the addresses of every node, masters and replicas, as seeds
// for a cluster client.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// TLSAddrs are the TLS addresses of every node (WithTLS).
func (c *Cluster) TLSAddrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.TLSAddr()
	}
	return addrs
}

// SetUser runs Server.SetUser on every node: each keeps its own ACL.
func (c *Cluster) SetUser(name, password string, rules ...string) {
	for _, n := range c.nodes {
		n.SetUser(name, password, rules...)
	}
}

// Node is the node at addr, nil if none.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// Client returns a cluster client of the nodes, closed in tb.Cleanup.
func (c *Cluster) Client() *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: c.Addrs(), DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: 2, ContextTimeoutEnabled: true,
	})
	c.tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Masters are the addresses of the nodes that serve slots now, as the
// first node that answers sees them.
func (c *Cluster) Masters() []string {
	c.tb.Helper()
	nodes, err := c.clusterNodes()
	if err != nil {
		c.tb.Fatalf("redistest: CLUSTER NODES: %v", err)
	}
	var out []string
	for _, n := range nodes {
		if n.master && !n.failed && n.slots {
			out = append(out, n.addr)
		}
	}
	return out
}

type clusterNode struct {
	addr                  string
	master, failed, slots bool
	masterID, id          string
	connected             bool
}

// live are the nodes whose process runs.
func (c *Cluster) live() []*Server {
	var out []*Server
	for _, s := range c.nodes {
		s.mu.Lock()
		alive := s.proc != nil
		s.mu.Unlock()
		if alive {
			out = append(out, s)
		}
	}
	return out
}

// clusterNodes reads CLUSTER NODES from the first live node.
func (c *Cluster) clusterNodes() ([]clusterNode, error) {
	var last error
	for _, s := range c.live() {
		txt, err := command(s.Addr(), "CLUSTER", "NODES")
		if err != nil {
			last = err
			continue
		}
		var out []clusterNode
		for _, line := range strings.Split(strings.TrimSpace(txt), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				continue
			}
			addr, _, _ := strings.Cut(f[1], "@")
			flags := f[2]
			out = append(out, clusterNode{
				id: f[0], addr: addr, masterID: f[3],
				master:    strings.Contains(flags, "master"),
				failed:    strings.Contains(flags, "fail") && !strings.Contains(flags, "fail?"),
				connected: f[7] == "connected",
				slots:     len(f) > 8,
			})
		}
		return out, nil
	}
	return nil, fmt.Errorf("no live node answered: %v", last)
}

// WaitHealthy waits until masters nodes serve slots, every live node
// reports cluster_state:ok and sees the same masters, and every live
// replica's link to its master is up. It fails the test after 30s.
func (c *Cluster) WaitHealthy(masters int) {
	c.tb.Helper()
	deadline := time.Now().Add(clusterTimeout)
	var why string
	for time.Now().Before(deadline) {
		why = c.unhealthy(masters)
		if why == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.tb.Fatalf("redistest: cluster not healthy after %v: %s", clusterTimeout, why)
}

func (c *Cluster) unhealthy(masters int) string {
	var want string
	for _, s := range c.live() {
		info, err := command(s.Addr(), "CLUSTER", "INFO")
		if err != nil {
			return fmt.Sprintf("%s: %v", s.Addr(), err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return s.Addr() + ": cluster_state not ok"
		}
		repl, err := command(s.Addr(), "INFO", "replication")
		if err != nil {
			return fmt.Sprintf("%s: %v", s.Addr(), err)
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return s.Addr() + ": replica not in sync"
		}
		nodes, err := command(s.Addr(), "CLUSTER", "NODES")
		if err != nil {
			return fmt.Sprintf("%s: %v", s.Addr(), err)
		}
		var ms []string
		for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
			f := strings.Fields(line)
			if len(f) > 8 && strings.Contains(f[2], "master") && !strings.Contains(f[2], "fail") {
				ms = append(ms, f[0])
			}
		}
		if len(ms) != masters {
			return fmt.Sprintf("%s sees %d masters with slots, want %d", s.Addr(), len(ms), masters)
		}
		got := strings.Join(slices.Sorted(slices.Values(ms)), ",")
		if want == "" {
			want = got
		} else if got != want {
			return "nodes disagree on the masters"
		}
	}
	return ""
}

// command sends one command over a fresh connection and returns its reply
// as text (a bulk string, or the status line).
func command(addr string, args ...string) (string, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	v, err := rdb.Do(ctx, a...).Result()
	if err != nil {
		return "", err
	}
	return fmt.Sprint(v), nil
}

// Sentinel is a local Sentinel setup owned by one test: a master, its
// replicas, and sentinels monitoring it under MasterName.
type Sentinel struct {
	tb         testing.TB
	MasterName string
	Data       []*Server // the master first at start; a failover changes which is master
	Sentinels  []*Server
}

// StartSentinel starts a master with replicas replicas, and sentinels
// redis-server --sentinel processes monitoring it (quorum: a majority)
// with down-after-milliseconds 1000 and failover-timeout 5000, and waits
// until the replicas are in sync and every sentinel knows the others and
// the replicas. Everything stops in tb.Cleanup. opts apply to the data
// nodes.
func StartSentinel(tb testing.TB, replicas, sentinels int, opts ...Option) *Sentinel {
	tb.Helper()
	s := &Sentinel{tb: tb, MasterName: "liveserver"}
	master := Start(tb, opts...)
	s.Data = append(s.Data, master)
	host, port, _ := strings.Cut(master.Addr(), ":")
	for range replicas {
		s.Data = append(s.Data, Start(tb, append([]Option{WithArgs("--replicaof", host, port)}, opts...)...))
	}
	quorum := sentinels/2 + 1
	for range sentinels {
		dir := tb.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s %[4]d\nsentinel down-after-milliseconds %[1]s 1000\nsentinel failover-timeout %[1]s 5000\nsentinel parallel-syncs %[1]s 1\n",
			s.MasterName, host, port, quorum)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		s.Sentinels = append(s.Sentinels, Start(tb, withConfigFile(conf), WithArgs("--sentinel")))
	}
	deadline := time.Now().Add(clusterTimeout)
	var why string
	for time.Now().Before(deadline) {
		if why = s.unready(replicas, sentinels); why == "" {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("redistest: sentinel setup not ready after %v: %s", clusterTimeout, why)
	return nil
}

func (s *Sentinel) unready(replicas, sentinels int) string {
	for _, r := range s.Data[1:] {
		repl, err := command(r.Addr(), "INFO", "replication")
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(repl, "master_link_status:up") {
			return r.Addr() + ": replica not in sync"
		}
	}
	for _, sn := range s.Sentinels {
		v, err := command(sn.Addr(), "SENTINEL", "MASTER", s.MasterName)
		if err != nil {
			return err.Error()
		}
		f := strings.Fields(strings.Trim(v, "[]"))
		m := map[string]string{}
		for i := 0; i+1 < len(f); i += 2 {
			m[f[i]] = f[i+1]
		}
		if m["num-slaves"] != fmt.Sprint(replicas) || m["num-other-sentinels"] != fmt.Sprint(sentinels-1) {
			return fmt.Sprintf("sentinel %s: %s replicas, %s other sentinels", sn.Addr(), m["num-slaves"], m["num-other-sentinels"])
		}
	}
	return ""
}

// SentinelAddrs are the sentinels' addresses.
func (s *Sentinel) SentinelAddrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		out[i] = sn.Addr()
	}
	return out
}

// Master is the data node the sentinels name as master now.
func (s *Sentinel) Master() *Server {
	s.tb.Helper()
	addr := s.MasterAddr()
	for _, d := range s.Data {
		if d.Addr() == addr {
			return d
		}
	}
	s.tb.Fatalf("redistest: no sentinel names a known master")
	return nil
}

// MasterAddr is the address of the master as the first sentinel that
// answers names it, "" if none does.
func (s *Sentinel) MasterAddr() string {
	for _, sn := range s.Sentinels {
		v, err := command(sn.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
		if err != nil {
			continue
		}
		f := strings.Fields(strings.Trim(v, "[]"))
		if len(f) == 2 {
			return f[0] + ":" + f[1]
		}
	}
	return ""
}

// IDsOnEveryMaster returns one id ("r0", "r1", ...) per master, in the
// masters' order of Masters, such that key(id) lives on that master: rooms
// spread over every shard.
func (c *Cluster) IDsOnEveryMaster(key func(id string) string) []string {
	c.tb.Helper()
	masters := c.Masters()
	rdb := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	ids := make([]string, len(masters))
	found := 0
	for i := 0; found < len(masters) && i < 10000; i++ {
		id := fmt.Sprintf("r%d", i)
		m, err := rdb.MasterForKey(ctx, key(id))
		if err != nil {
			c.tb.Fatalf("redistest: %v", err)
		}
		for j, addr := range masters {
			if addr == m.Options().Addr && ids[j] == "" {
				ids[j] = id
				found++
			}
		}
	}
	if found < len(masters) {
		c.tb.Fatalf("redistest: no ids found on every master %v: %v", masters, ids)
	}
	return ids
}

// MasterOf is the node that is master of key's slot now.
func (c *Cluster) MasterOf(key string) *Server {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	m, err := c.Client().MasterForKey(ctx, key)
	if err != nil {
		c.tb.Fatalf("redistest: %v", err)
	}
	n := c.Node(m.Options().Addr)
	if n == nil {
		c.tb.Fatalf("redistest: master %s of %q is not a node of this cluster", m.Options().Addr, key)
	}
	return n
}

// MigrateSlotOf moves key's slot, with its keys, from its master to the
// master to, as redis-cli --cluster reshard does: the target imports, the
// source migrates, the keys move in batches (MIGRATE), then every master
// learns the slot's new owner. Commands on the slot meanwhile meet ASK and
// then MOVED. pause, if not zero, is slept between batches, so that a test
// acts during the migration.
func (c *Cluster) MigrateSlotOf(key string, to *Server, pause time.Duration) {
	c.tb.Helper()
	from := c.MasterOf(key)
	if from == to {
		c.tb.Fatalf("redistest: %q is on %s already", key, to.Addr())
	}
	id := func(s *Server) string {
		v, err := command(s.Addr(), "CLUSTER", "MYID")
		if err != nil {
			c.tb.Fatalf("redistest: CLUSTER MYID: %v", err)
		}
		return v
	}
	slotS, err := command(from.Addr(), "CLUSTER", "KEYSLOT", key)
	if err != nil {
		c.tb.Fatalf("redistest: %v", err)
	}
	fromID, toID := id(from), id(to)
	must := func(addr string, args ...string) string {
		v, err := command(addr, args...)
		if err != nil {
			c.tb.Fatalf("redistest: %s %v: %v", addr, args, err)
		}
		return v
	}
	must(to.Addr(), "CLUSTER", "SETSLOT", slotS, "IMPORTING", fromID)
	must(from.Addr(), "CLUSTER", "SETSLOT", slotS, "MIGRATING", toID)
	host, port, _ := strings.Cut(to.Addr(), ":")
	for {
		keys := strings.Fields(strings.Trim(must(from.Addr(), "CLUSTER", "GETKEYSINSLOT", slotS, "3"), "[]"))
		if len(keys) == 0 {
			break
		}
		args := append([]string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}, keys...)
		must(from.Addr(), args...)
		time.Sleep(pause)
	}
	// The target first, then the source, then the other masters
	// (replicas learn it from their masters' gossip).
	nodes := append([]*Server{to, from}, c.nodes...)
	for i, n := range nodes {
		if i >= 2 && (n == to || n == from) {
			continue
		}
		n.mu.Lock()
		alive := n.proc != nil
		n.mu.Unlock()
		if alive {
			if r, _ := command(n.Addr(), "INFO", "replication"); strings.Contains(r, "role:master") {
				must(n.Addr(), "CLUSTER", "SETSLOT", slotS, "NODE", toID)
			}
		}
	}
}
