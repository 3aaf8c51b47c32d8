package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/room"
)

// Redis client settings of cluster mode, unless the URL sets them (for
// example ?dial_timeout=2s): short, so that while Redis is unreachable a
// request fails fast with unavailable rather than hanging until the
// request timeout.
const (
	redisDialTimeout  = time.Second
	redisReadTimeout  = time.Second
	redisWriteTimeout = time.Second
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
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return backend{}, fmt.Errorf("redis URL: %w", err)
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
	opt.ContextTimeoutEnabled = true // the request's deadline bounds every call
	rdb := redis.NewClient(opt)

	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	err = rdb.Ping(ctx).Err()
	cancel()
	if err != nil {
		rdb.Close()
		return backend{}, fmt.Errorf("redis at %s: %w", opt.Addr, err)
	}

	rtt := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "liveserver_redis_duration_seconds",
		Help:    "Redis round trips by operation (a script, publish, subscribe, presence report, ...).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	cfg.Registry.MustRegister(rtt)
	store := inventory.NewRedisStore(rdb, inventory.RedisConfig{Logger: cfg.Logger, Registerer: cfg.Registry, RoundTrips: rtt})
	broker := room.NewRedisBroker(rdb, room.RedisBrokerConfig{Logger: cfg.Logger, Registerer: cfg.Registry, RoundTrips: rtt})
	presence := room.NewRedisPresence(rdb, room.RedisPresenceConfig{Logger: cfg.Logger, RoundTrips: rtt})
	return backend{
		store:    store,
		broker:   broker,
		presence: presence,
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
