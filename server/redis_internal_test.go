package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
)

// The node's Redis pool is sized for bursts, not for its CPUs, and a call
// waits for a connection as long as the request's own deadline allows; the
// URL still overrides both.
func TestRedisOptionsPoolForBursts(t *testing.T) {
	for _, tc := range []struct {
		url         string
		timeout     time.Duration
		size        int
		poolTimeout time.Duration
	}{
		{"redis://127.0.0.1:6379/0", 0, redisPoolSize, 2 * time.Second},
		{"redis://127.0.0.1:6379/0", 3 * time.Second, redisPoolSize, 3 * time.Second},
		{"redis://127.0.0.1:6379/0?pool_size=7&pool_timeout=500ms", 0, 7, 500 * time.Millisecond},
	} {
		cfg := Config{RedisURL: tc.url, RequestTimeout: tc.timeout}.withDefaults()
		opt, err := redisOptions(cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if opt.PoolSize != tc.size || opt.PoolTimeout != tc.poolTimeout {
			t.Errorf("%s, request timeout %v: pool size %d, pool timeout %v; want %d, %v",
				tc.url, cfg.RequestTimeout, opt.PoolSize, opt.PoolTimeout, tc.size, tc.poolTimeout)
		}
		// The outage settings stay short (fail fast when Redis is down).
		if opt.DialTimeout != redisDialTimeout || opt.ReadTimeout != redisReadTimeout || opt.MaxRetries != redisMaxRetries ||
			!opt.ContextTimeoutEnabled {
			t.Errorf("%s: dial %v, read %v, retries %d, context timeouts %v", tc.url, opt.DialTimeout, opt.ReadTimeout,
				opt.MaxRetries, opt.ContextTimeoutEnabled)
		}
	}
}

// The development keys in Redis (the mode marker and the shared token
// secret) expire: refreshed while a development node runs, gone a TTL
// after the last one stops. The production marker never expires.
func TestDevKeysExpire(t *testing.T) {
	rds := redistest.Start(t)
	rdb := redistest.NewClient(t, rds.Addr())
	ctx := context.Background()
	names := rkeys.New(rkeys.DefaultPrefix)
	modeKey, devSecretKey := names.NodeMode(), names.DevSecret()
	const ttl = 900 * time.Millisecond
	srv, err := New(Config{RedisURL: rds.URL(), devTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{modeKey, devSecretKey} {
		if d := rdb.PTTL(ctx, key).Val(); d <= 0 || d > ttl {
			t.Fatalf("%s: TTL %v, want (0, %v]", key, d, ttl)
		}
	}
	secret := rdb.Get(ctx, devSecretKey).Val()
	// Refreshed: alive after three TTLs.
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(ttl / 4) {
		if n := rdb.Exists(ctx, modeKey, devSecretKey).Val(); n != 2 {
			srv.Close()
			t.Fatalf("a development key expired while its node ran (%d of 2 left)", n)
		}
	}
	if got := rdb.Get(ctx, devSecretKey).Val(); got != secret {
		t.Fatal("the development secret changed while the node ran")
	}
	srv.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Exists(ctx, modeKey, devSecretKey).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("development keys still there 10 s after the last node stopped (TTL %v)", ttl)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Now a production node may use this Redis, and marks it for good.
	srv, err = New(Config{RedisURL: rds.URL(), JWTSecret: strings.Repeat("k", 32), devTTL: ttl})
	if err != nil {
		t.Fatalf("production node after the development keys expired: %v", err)
	}
	defer srv.Close()
	if d := rdb.PTTL(ctx, modeKey).Val(); d != -1 {
		t.Fatalf("production marker TTL %v, want none (-1)", d)
	}
	if v := rdb.Get(ctx, modeKey).Val(); v != modeProduction {
		t.Fatalf("mode marker %q", v)
	}
}
