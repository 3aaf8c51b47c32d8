package main

import (
	"io"
	"strings"
	"testing"
)

// -redis, -redis-cluster and -redis-sentinel choose one Redis topology:
// two at once, or what one needs missing, is a clear error naming them.
func TestRedisTopologyFlags(t *testing.T) {
	env := map[string]string{"LIVESERVER_JWT_SECRET": testSecret}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-redis", "redis://127.0.0.1:1/0", "-redis-cluster", "127.0.0.1:7000"}, "-redis and -redis-cluster are given: -redis, -redis-cluster and -redis-sentinel are mutually exclusive"},
		{[]string{"-redis-cluster", "127.0.0.1:7000", "-redis-sentinel", "127.0.0.1:26379", "-redis-master", "m"}, "-redis-cluster and -redis-sentinel are given"},
		{[]string{"-redis", "redis://127.0.0.1:1/0", "-redis-sentinel", "127.0.0.1:26379", "-redis-master", "m"}, "-redis and -redis-sentinel are given"},
		{[]string{"-redis-sentinel", "127.0.0.1:26379"}, "-redis-sentinel needs -redis-master"},
		{[]string{"-redis-master", "m"}, "give their addresses with -redis-sentinel"},
		{[]string{"-redis-cluster", "127.0.0.1"}, `-redis-cluster: "127.0.0.1" is not host:port`},
		{[]string{"-redis-wait-replicas", "1"}, "-redis-wait-replicas needs Redis"},
		{[]string{"-redis", "redis://127.0.0.1:1/0", "-redis-wait-replicas", "-1"}, "-redis-wait-replicas -1"},
		{[]string{"-redis", "rediss://127.0.0.1:1/0", "-redis-tls-ca", "/nonexistent/ca.pem"}, "-redis-tls-ca: open /nonexistent/ca.pem"},
		{[]string{"-redis", "rediss://127.0.0.1:1/0", "-redis-tls-ca", "redis_flags_test.go"}, "-redis-tls-ca redis_flags_test.go: no PEM certificate in it"},
	} {
		_, err := parse(c.args, getenv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.args, err, c.want)
		}
	}

	env["LIVESERVER_REDIS_CLUSTER"] = "127.0.0.1:7000, 127.0.0.1:7001"
	env["LIVESERVER_REDIS_USERNAME"] = "app"
	env["LIVESERVER_REDIS_PASSWORD"] = "pw"
	o, err := parse([]string{"-redis-tls", "-redis-wait-replicas", "1"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := splitList(o.redisCluster); len(got) != 2 || got[1] != "127.0.0.1:7001" || o.redisUsername != "app" || o.redisPassword != "pw" || !o.redisTLS || o.redisWaitReplicas != 1 {
		t.Fatalf("options %+v", o)
	}
	delete(env, "LIVESERVER_REDIS_CLUSTER")
	env["LIVESERVER_REDIS_SENTINEL"] = "127.0.0.1:26379"
	env["LIVESERVER_REDIS_MASTER"] = "shop"
	env["LIVESERVER_REDIS_SENTINEL_PASSWORD"] = "spw"
	o, err = parse(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.redisSentinel != "127.0.0.1:26379" || o.redisMaster != "shop" || o.redisSentinelPassword != "spw" {
		t.Fatalf("options %+v", o)
	}
	// Development mode stays away from a cluster or Sentinels unless -dev.
	delete(env, "LIVESERVER_JWT_SECRET")
	if _, err := parse([]string{"-addr", "127.0.0.1:0"}, getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "does not join a Redis unless asked") {
		t.Fatalf("development mode with -redis-sentinel: %v", err)
	}
}
