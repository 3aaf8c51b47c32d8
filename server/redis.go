package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/room"
)

// Redis client settings of cluster mode, unless the URL sets them (for
// example ?dial_timeout=2s): short timeouts, so that while Redis is
// unreachable a request fails fast with unavailable rather than hanging
// until the request timeout; a pool sized for bursts rather than CPUs, in
// which a call waits for a connection as long as its request may.
const (
	redisDialTimeout  = time.Second
	redisReadTimeout  = time.Second
	redisWriteTimeout = time.Second
	// redisPoolSize is the node's connections for commands (pub/sub has
	// its own; purchases travel in pipelines, see inventory/redis_batch.go,
	// which take connections from this pool too). A connection carries one
	// command or pipeline at a time, and on a node busy with a flash sale
	// (fanning out to thousands of viewers) a call holds it for
	// milliseconds, nearly all of it the node's own time (Redis runs a
	// purchase in ~25 us). go-redis's default, 10 per CPU, is 20 connections
	// on 2 CPUs: a burst of 5,000 buyers waited past the request timeout for
	// a connection and got unavailable from an idle Redis. Past about 200 a
	// busy node gained nothing more (50, 100, 200, 400 and 800 measured).
	// Nodes x pool size must stay below Redis's maxclients (10,000 by
	// default), and below a node's open-file limit together with its
	// viewers.
	redisPoolSize = 200
	// redisMaxRetries retries a command whose connection broke; every
	// script is idempotent, so a retry after a lost reply is safe.
	redisMaxRetries      = 2
	redisMaxRetryBackoff = 100 * time.Millisecond
	// redisStartTimeout bounds the PING that checks the URL at start.
	redisStartTimeout = 5 * time.Second
)

// newRedisBackend builds the cluster-mode backend on Redis: the inventory
// store, the broker and presence of the hub, and the readiness check, all
// on one client (whose pool serves the commands; the broker holds one more
// connection for pub/sub).
func newRedisBackend(cfg Config) (backend, error) {
	opt, err := redisOptions(cfg)
	if err != nil {
		return backend{}, err
	}
	rdb := redis.NewClient(opt)

	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	err = rdb.Ping(ctx).Err()
	cancel()
	if err != nil {
		rdb.Close()
		return backend{}, fmt.Errorf("redis at %s: %w", opt.Addr, err)
	}

	var devSecret []byte
	if cfg.JWTSecret == "" {
		if devSecret, err = sharedDevSecret(rdb); err != nil {
			rdb.Close()
			return backend{}, err
		}
	}

	rtt := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "liveserver_redis_duration_seconds",
		Help:    "Redis calls by operation (a script, publish, subscribe, presence report, ...), including any wait for a pool connection.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	cfg.Registry.MustRegister(rtt)
	registerPoolMetrics(cfg.Registry, rdb, opt.PoolSize)
	store := inventory.NewRedisStore(rdb, inventory.RedisConfig{Logger: cfg.Logger, Registerer: cfg.Registry, RoundTrips: rtt})
	broker := room.NewRedisBroker(rdb, room.RedisBrokerConfig{Logger: cfg.Logger, Registerer: cfg.Registry, RoundTrips: rtt})
	presence := room.NewRedisPresence(rdb, room.RedisPresenceConfig{Logger: cfg.Logger, RoundTrips: rtt})
	return backend{
		devSecret: devSecret,
		store:     store,
		broker:    broker,
		presence:  presence,
		ready: func(ctx context.Context) error {
			start := time.Now()
			err := rdb.Ping(ctx).Err()
			rtt.WithLabelValues("ping").Observe(time.Since(start).Seconds())
			return err
		},
		// The hub has stopped by now; the store's timers and the broker's
		// loop end before the client closes under them.
		close: func() error {
			return errors.Join(store.Close(), presence.Close(), broker.Close(), rdb.Close())
		},
	}, nil
}

// redisOptions parses cfg.RedisURL and fills in what the URL leaves unset.
// cfg has its defaults (RequestTimeout).
func redisOptions(cfg Config) (*redis.Options, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = redisDialTimeout
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = redisReadTimeout
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = redisWriteTimeout
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = redisMaxRetries
	}
	if opt.MaxRetryBackoff == 0 {
		opt.MaxRetryBackoff = redisMaxRetryBackoff
	}
	if opt.DialerRetries == 0 {
		opt.DialerRetries = 1 // a refused dial is not retried inside one attempt
	}
	if opt.PoolSize == 0 {
		opt.PoolSize = redisPoolSize
	}
	if opt.PoolTimeout == 0 {
		// A request waits for a connection as long as its own deadline
		// allows, and no longer: a busy pool is a queue, not a failure
		// (go-redis's default, ReadTimeout + 1s, only happens to match).
		opt.PoolTimeout = cfg.RequestTimeout
	}
	opt.ContextTimeoutEnabled = true // the request's deadline bounds every call
	return opt, nil
}

// registerPoolMetrics exports the command pool's statistics, so that a
// wait for a connection can be told from a slow Redis (the duration
// histogram includes both).
func registerPoolMetrics(reg prometheus.Registerer, rdb *redis.Client, size int) {
	stat := func(f func(*redis.PoolStats) float64) func() float64 {
		return func() float64 { return f(rdb.PoolStats()) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "liveserver_redis_pool_size",
			Help: "Connections the Redis command pool may hold (pub/sub has its own).",
		}, func() float64 { return float64(size) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "liveserver_redis_pool_connections",
			Help: "Connections open in the Redis command pool.",
		}, stat(func(s *redis.PoolStats) float64 { return float64(s.TotalConns) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "liveserver_redis_pool_idle_connections",
			Help: "Idle connections in the Redis command pool.",
		}, stat(func(s *redis.PoolStats) float64 { return float64(s.IdleConns) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "liveserver_redis_pool_pending",
			Help: "Calls waiting for a connection of the Redis command pool now.",
		}, stat(func(s *redis.PoolStats) float64 { return float64(s.PendingRequests) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "liveserver_redis_pool_waits_total",
			Help: "Calls that had to wait for a connection of the Redis command pool.",
		}, stat(func(s *redis.PoolStats) float64 { return float64(s.WaitCount) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "liveserver_redis_pool_wait_seconds_total",
			Help: "Time calls spent waiting for a connection of the Redis command pool (those that got one).",
		}, stat(func(s *redis.PoolStats) float64 { return float64(s.WaitDurationNs) / 1e9 })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "liveserver_redis_pool_timeouts_total",
			Help: "Waits for a connection that ended at the pool timeout (a wait cut by the request's deadline is not counted).",
		}, stat(func(s *redis.PoolStats) float64 { return float64(s.Timeouts) })),
	)
}

// sharedDevSecret returns the development-mode token secret of the
// cluster, creating it on first use, so that in development mode a token
// from any node's POST /dev/token works on every node (behind a load
// balancer the token request and the WebSocket may reach different nodes).
// It never applies with -jwt-secret.
func sharedDevSecret(rdb *redis.Client) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	key := inventory.DefaultKeyPrefix + "dev-token-secret"
	fresh := make([]byte, 32)
	rand.Read(fresh)
	if err := rdb.SetNX(ctx, key, hex.EncodeToString(fresh), 0).Err(); err != nil {
		return nil, fmt.Errorf("redis: development token secret: %w", err)
	}
	secret, err := rdb.Get(ctx, key).Bytes()
	if err != nil {
		return nil, fmt.Errorf("redis: development token secret: %w", err)
	}
	return secret, nil
}
