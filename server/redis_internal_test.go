package server

import (
	"testing"
	"time"
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
