package server_test

import (
	"strings"
	"testing"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/server"
)

// redisACL is the ACL of the node's Redis user in these tests: its keys
// and channels only (the default prefix), every command but the
// dangerous ones (CONFIG, KEYS, FLUSHALL, DEBUG, ...). docs/CLUSTER.md
// recommends it.
var redisACL = []string{"~liveserver:*", "&liveserver:*", "+@all", "-@dangerous"}

// sellOne creates a room with a live sale on node and buys one unit; a
// viewer of the room gets the new stock through Redis pub/sub.
func sellOne(t *testing.T, node *testNode, room string) {
	t.Helper()
	creatorTok := clusterToken(t, "creator", "creator", room)
	node.putRoom(t, creatorTok, room, 5)
	var sale struct{ Sale struct{ State string } }
	if st := node.do(t, "POST", "/api/rooms/"+room+"/sales", creatorTok, msg{"product": "p1", "price": 1, "quantity": 5, "per_user_limit": 1, "duration_ms": 60000}, &sale); st != 201 || sale.Sale.State != "live" {
		t.Fatalf("start sale: %d %+v", st, sale)
	}
	viewers, views := joinViewers(t, []*testNode{node}, 1, room)
	st, out, err := clusterPost(node.url+"/api/rooms/"+room+"/purchases", clusterToken(t, "buyer", "viewer"), msg{"id": "b", "product": "p1"})
	if err != nil || st != 200 || out["order"] == nil {
		t.Fatalf("purchase: %d %v %v", st, out, err)
	}
	follow(t, viewers[0], views[0], "the viewer sees the purchase", func(v *roomView) bool { return v.remaining["p1"] == 4 })
}

// A node on a TLS Redis (rediss://, a private CA given as
// RedisTLSRootCAs, i.e. -redis-tls-ca) as an ACL user with a password and
// limited rights serves a sale; a wrong password, a missing CA and a CA
// without TLS fail at start with a clear error that holds no password.
func TestRedisTLSAndACL(t *testing.T) {
	t.Parallel()
	certs := redistest.NewCerts(t)
	srv := redistest.Start(t, redistest.WithTLS(certs))
	const password = "s3cret-Passw0rd"
	srv.SetUser("shop", password, redisACL...)
	url := "rediss://shop@" + srv.TLSAddr() + "/0"

	node := startNode(t, server.Config{RedisURL: url, RedisPassword: password, RedisTLSRootCAs: certs.Pool, JWTSecret: clusterSecret})
	sellOne(t, node, "tls1")
	clients, err := redistest.NewClient(t, srv.Addr()).ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(clients, "user=shop") {
		t.Fatalf("no connection as user shop:\n%s", clients)
	}

	for _, c := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"wrong password", server.Config{RedisURL: url, RedisPassword: "wrong-Passw0rd", RedisTLSRootCAs: certs.Pool}, "WRONGPASS"},
		{"wrong password in the URL", server.Config{RedisURL: "rediss://shop:wrong-Passw0rd@" + srv.TLSAddr() + "/0", RedisTLSRootCAs: certs.Pool}, "WRONGPASS"},
		{"no CA", server.Config{RedisURL: url, RedisPassword: password}, "certificate signed by unknown authority"},
		{"CA without TLS", server.Config{RedisURL: "redis://shop@" + srv.Addr() + "/0", RedisPassword: password, RedisTLSRootCAs: certs.Pool}, "the connection is not TLS"},
	} {
		c.cfg.JWTSecret = clusterSecret
		_, err := server.New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "Passw0rd") {
			t.Errorf("%s: the error shows the password: %v", c.name, err)
		}
		t.Logf("%s: %v", c.name, err)
	}
}

// Three nodes' worth of Redis Cluster (3 masters) with TLS everywhere
// (clients, the cluster bus, replication: --tls-cluster yes) and the same
// ACL user on each master: a node connects with -redis-tls, the private
// CA, the user and its password, and sells in a room on every master; a
// wrong password fails at start, redacted.
func TestRedisClusterTLSAndACL(t *testing.T) {
	t.Parallel()
	certs := redistest.NewCerts(t)
	c := redistest.StartCluster(t, 3, 0, redistest.WithTLS(certs))
	const password = "s3cret-Passw0rd"
	c.SetUser("shop", password, redisACL...)
	cfg := server.Config{RedisCluster: c.TLSAddrs(), RedisTLS: true, RedisTLSRootCAs: certs.Pool, RedisUsername: "shop", RedisPassword: password, JWTSecret: clusterSecret}
	node := startNode(t, cfg)
	for _, room := range c.IDsOnEveryMaster(rkeys.New(rkeys.DefaultPrefix).Events) {
		sellOne(t, node, room)
	}
	cfg.RedisPassword = "wrong-Passw0rd"
	_, err := server.New(cfg)
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "Passw0rd") {
		t.Fatalf("wrong password: error %v, want WRONGPASS without the password", err)
	}
}
