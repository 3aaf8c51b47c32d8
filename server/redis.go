package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/internal/rkeys"
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
// on one client (whose pool serves the commands; the broker holds more
// connections for pub/sub: one, or one per master of a Redis Cluster).
func newRedisBackend(cfg Config) (backend, error) {
	rc, err := newRedisClient(cfg)
	if err != nil {
		return backend{}, err
	}
	routeRedisLog(cfg.Logger)
	rdb := rc.rdb

	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	err = rdb.Ping(ctx).Err()
	masters := 1
	if cc, ok := rdb.(*redis.ClusterClient); ok && err == nil {
		masters, err = clusterMasters(ctx, cc)
	}
	cancel()
	if err != nil {
		rdb.Close()
		return backend{}, fmt.Errorf("redis at %s: %w", rc.where, err)
	}

	names := rkeys.New(cfg.RedisKeyPrefix)
	dev := cfg.JWTSecret == ""
	ttl := cfg.devTTL
	if ttl == 0 {
		ttl = devKeysTTL
	}
	var devSecret []byte
	if err = claimMode(rdb, names, dev, ttl); err == nil && dev {
		devSecret, err = sharedDevSecret(rdb, names, ttl)
	}
	if err != nil {
		rdb.Close()
		return backend{}, err
	}
	// Every node of the cluster makes the same chat handles: the key is
	// created once in Redis (SET NX) and read by all.
	ctx, cancel = context.WithTimeout(context.Background(), redisStartTimeout)
	handleKey, err := chat.LoadHandleKey(ctx, rdb, names.Prefix())
	cancel()
	if err != nil {
		rdb.Close()
		return backend{}, fmt.Errorf("chat handle key: %w", err)
	}
	keeper := startModeKeeper(rdb, names, dev, devSecret, ttl, cfg.Logger)

	rtt := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "liveserver_redis_duration_seconds",
		Help:    "Redis calls by operation (a script, publish, subscribe, presence report, ...), including any wait for a pool connection.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	cfg.Registry.MustRegister(rtt)
	registerPoolMetrics(cfg.Registry, rdb, rc.poolSize*masters)
	store := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: names.Prefix(), Logger: cfg.Logger, Registerer: cfg.Registry, RoundTrips: rtt, OrderRetention: cfg.OrderRetention, WaitReplicas: cfg.RedisWaitReplicas})
	bcfg := room.RedisBrokerConfig{KeyPrefix: names.Prefix(), Logger: cfg.Logger, Registerer: cfg.Registry, RoundTrips: rtt}
	var broker interface {
		room.Broker
		Close() error
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		broker = room.NewShardedRedisBroker(cc, bcfg)
	} else {
		broker = room.NewRedisBroker(rdb, bcfg)
	}
	presence := room.NewRedisPresence(rdb, room.RedisPresenceConfig{KeyPrefix: names.Prefix(), Logger: cfg.Logger, RoundTrips: rtt})
	// The chat's keys share the rooms' hash tags, seq and channel with the
	// shop's: the same key prefix.
	chats := chat.NewRedisStore(rdb, chat.RedisConfig{KeyPrefix: names.Prefix(), Logger: cfg.Logger})
	return backend{
		devSecret: devSecret,
		// The pools, and pub/sub's connections (one per master). A
		// cluster that grows later may take more.
		fds:       (rc.poolSize + 1) * masters,
		store:     store,
		chats:     chats,
		handleKey: handleKey,
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
			keeper.stop()
			return errors.Join(store.Close(), presence.Close(), broker.Close(), rdb.Close())
		},
	}, nil
}

// redisClient is the node's client of Redis, whichever its topology.
type redisClient struct {
	rdb      redis.UniversalClient
	where    string // for messages: the URL (redacted), the seeds, or the master's name
	poolSize int    // command connections per Redis node
}

// newRedisClient builds the client of cfg's one Redis topology: a URL, a
// Redis Cluster, or a master watched by Sentinels. Giving more than one is
// an error.
func newRedisClient(cfg Config) (redisClient, error) {
	n := 0
	for _, set := range []bool{cfg.RedisURL != "", len(cfg.RedisCluster) > 0, len(cfg.RedisSentinel) > 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		return redisClient{}, errors.New("redis: a Redis URL, a Redis Cluster and Sentinels are mutually exclusive: give one (-redis, -redis-cluster or -redis-sentinel)")
	}
	if cfg.RedisTLSRootCAs != nil && !cfg.RedisTLS && !strings.HasPrefix(cfg.RedisURL, "rediss://") {
		return redisClient{}, errors.New("redis: a TLS certificate authority is given (-redis-tls-ca) but the connection is not TLS: add -redis-tls, or use a rediss:// URL")
	}
	switch {
	case len(cfg.RedisCluster) > 0:
		opt := &redis.ClusterOptions{
			Addrs: cfg.RedisCluster, Username: cfg.RedisUsername, Password: cfg.RedisPassword,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
			MaxRetries: redisMaxRetries, MaxRetryBackoff: redisMaxRetryBackoff, DialerRetries: 1,
			PoolSize: redisPoolSize, PoolTimeout: cfg.RequestTimeout, ContextTimeoutEnabled: true,
			// A command that meets MOVED or ASK (a slot moving, a replica
			// promoted) follows it; go-redis then reloads the slot map.
			MaxRedirects: 8,
		}
		opt.TLSConfig = redisTLSConfig(cfg)
		return redisClient{rdb: redis.NewClusterClient(opt), where: "cluster " + strings.Join(cfg.RedisCluster, ","), poolSize: opt.PoolSize}, nil
	case len(cfg.RedisSentinel) > 0:
		if cfg.RedisMaster == "" {
			return redisClient{}, errors.New("redis: Sentinels need the name of the master they watch (-redis-master)")
		}
		opt := &redis.FailoverOptions{
			MasterName: cfg.RedisMaster, SentinelAddrs: cfg.RedisSentinel, SentinelPassword: cfg.RedisSentinelPassword,
			Username: cfg.RedisUsername, Password: cfg.RedisPassword,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
			MaxRetries: redisMaxRetries, MaxRetryBackoff: redisMaxRetryBackoff, DialerRetries: 1,
			PoolSize: redisPoolSize, PoolTimeout: cfg.RequestTimeout, ContextTimeoutEnabled: true,
		}
		opt.TLSConfig = redisTLSConfig(cfg)
		return redisClient{rdb: redis.NewFailoverClient(opt), where: "master " + cfg.RedisMaster + " of sentinels " + strings.Join(cfg.RedisSentinel, ","), poolSize: opt.PoolSize}, nil
	}
	opt, err := redisOptions(cfg)
	if err != nil {
		return redisClient{}, err
	}
	return redisClient{rdb: redis.NewClient(opt), where: opt.Addr, poolSize: opt.PoolSize}, nil
}

// redisTLSConfig is the TLS configuration of cfg's Redis connections, nil
// without RedisTLS. The server name is each address's host (go-redis dials
// with tls.DialWithDialer, which fills it in), so a certificate must name
// the hosts (or IPs) the nodes connect to, including those a Redis Cluster
// announces.
func redisTLSConfig(cfg Config) *tls.Config {
	if !cfg.RedisTLS {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RedisTLSRootCAs}
}

// clusterMasters counts the masters of a Redis Cluster, and so loads its
// slot map.
func clusterMasters(ctx context.Context, cc *redis.ClusterClient) (int, error) {
	var n atomic.Int32
	err := cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error {
		n.Add(1)
		return nil
	})
	return int(n.Load()), err
}

// redisOptions parses cfg.RedisURL and fills in what the URL leaves unset.
// cfg has its defaults (RequestTimeout).
func redisOptions(cfg Config) (*redis.Options, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// The parser's message may quote the URL, password and all.
		return nil, fmt.Errorf("redis URL %s: %s", RedactURL(cfg.RedisURL), redactIn(err.Error(), cfg.RedisURL))
	}
	if cfg.RedisUsername != "" {
		opt.Username = cfg.RedisUsername
	}
	if cfg.RedisPassword != "" {
		opt.Password = cfg.RedisPassword
	}
	if cfg.RedisTLS && opt.TLSConfig == nil {
		opt.TLSConfig = redisTLSConfig(cfg)
	} else if opt.TLSConfig != nil && cfg.RedisTLSRootCAs != nil {
		opt.TLSConfig.RootCAs = cfg.RedisTLSRootCAs // rediss://: the URL's host stays the server name
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
func registerPoolMetrics(reg prometheus.Registerer, rdb redis.UniversalClient, size int) {
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

// The keys of the cluster's mode (internal/rkeys): NodeMode records
// whether the nodes on this Redis run in production (with a JWT secret) or
// development mode. A production marker never expires: a Redis once used
// by production stays closed to development nodes (delete the key by hand
// to change that). A development marker expires devKeysTTL after the last
// development node stopped refreshing it. DevSecret holds the
// development-mode token secret the nodes share; it expires like the
// development marker.

const (
	modeProduction  = "production"
	modeDevelopment = "development"
	// devKeysTTL is how long the development marker and secret outlive
	// the last node refreshing them (every third of it).
	devKeysTTL = 10 * time.Minute
)

// claimModeScript records the node's mode unless the other mode holds the
// key, and returns the mode the key holds. ARGV: mode, TTL in ms (0: none).
var claimModeScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return cur end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return ARGV[1]
`)

// claimMode records this node's mode in Redis, refusing to join a Redis
// whose nodes run in the other mode: a development node (anyone may mint
// any token) must never share rooms and orders with production nodes.
func claimMode(rdb redis.UniversalClient, names rkeys.Names, dev bool, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	held, err := claimModeOnce(ctx, rdb, names, dev, ttl)
	if err != nil {
		return fmt.Errorf("redis: recording the node's mode: %w", err)
	}
	if dev && held == modeProduction {
		return fmt.Errorf("this Redis is used by production nodes (key %s = %q), and this node has no JWT secret (development mode): refusing to join it. Set the cluster's JWT secret (LIVESERVER_JWT_SECRET or -jwt-secret-file), or use another Redis for development", names.NodeMode(), held)
	}
	if !dev && held == modeDevelopment {
		return fmt.Errorf("this Redis is used by development nodes (key %s = %q, whose secret lets anyone mint tokens): refusing to join it in production mode. Stop them and wait until the key expires (%s), or use another Redis", names.NodeMode(), held, ttl)
	}
	return nil
}

func claimModeOnce(ctx context.Context, rdb redis.UniversalClient, names rkeys.Names, dev bool, ttl time.Duration) (string, error) {
	mode, ms := modeProduction, int64(0)
	if dev {
		mode, ms = modeDevelopment, ttl.Milliseconds()
	}
	return claimModeScript.Run(ctx, rdb, []string{names.NodeMode()}, mode, ms).Text()
}

// sharedDevSecret returns the development-mode token secret of the
// cluster, creating it on first use, so that in development mode a token
// from any node's POST /dev/token works on every node (behind a load
// balancer the token request and the WebSocket may reach different nodes).
// It expires ttl after the last node stopped refreshing it, and never
// applies with a JWT secret.
func sharedDevSecret(rdb redis.UniversalClient, names rkeys.Names, ttl time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	fresh := make([]byte, 32)
	rand.Read(fresh)
	secret, err := devSecretScript.Run(ctx, rdb, []string{names.DevSecret()}, hex.EncodeToString(fresh), ttl.Milliseconds()).Text()
	if err != nil {
		return nil, fmt.Errorf("redis: development token secret: %w", err)
	}
	return []byte(secret), nil
}

// devSecretScript returns the shared development secret, setting it to
// ARGV[1] if there is none, and gives it ARGV[2] ms more to live.
var devSecretScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return cur
`)

// refreshDevSecretScript extends the shared development secret's life if
// it is still secret ARGV[1], or sets it again if it expired (a Redis
// outage longer than its TTL); another secret is left alone (0).
var refreshDevSecretScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// modeKeeper refreshes the node's mode marker (and in development mode the
// shared secret) every third of their TTL, until stop. Its goroutine is
// the backend's and ends in the backend's close.
type modeKeeper struct {
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func startModeKeeper(rdb redis.UniversalClient, names rkeys.Names, dev bool, secret []byte, ttl time.Duration, log *slog.Logger) *modeKeeper {
	k := &modeKeeper{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-k.quit:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
			held, err := claimModeOnce(ctx, rdb, names, dev, ttl)
			if err == nil && dev {
				var kept int64
				kept, err = refreshDevSecretScript.Run(ctx, rdb, []string{names.DevSecret()}, secret, ttl.Milliseconds()).Int64()
				if err == nil && kept == 0 {
					log.Error("the development token secret in Redis changed under this node (it expired during an outage and another node set a new one): tokens of other nodes are refused here; restart this node", "key", names.DevSecret())
				}
			}
			cancel()
			switch {
			case err != nil:
				// Redis is down: the failure log reports it already.
			case dev && held != modeDevelopment, !dev && held != modeProduction:
				log.Error("nodes of the other mode now use this Redis (the mode marker changed under this node): stop them", "key", names.NodeMode(), "mode", held)
			}
		}
	}()
	return k
}

func (k *modeKeeper) stop() {
	k.once.Do(func() { close(k.quit) })
	<-k.done
}

// RedactURL returns a Redis URL with its password replaced by "xxxxx",
// also when the URL does not parse, so it can be logged.
func RedactURL(raw string) string { return redactIn(raw, raw) }

// redactIn replaces in s every occurrence of the password of the URL raw
// (the userinfo after its first ':', up to the last '@' before the path).
// It does not need raw to parse.
func redactIn(s, raw string) string {
	rest := raw
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 && i > strings.LastIndex(rest, "@") {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	_, pass, found := strings.Cut(rest[:at], ":")
	if !found || pass == "" {
		return s
	}
	s = strings.ReplaceAll(s, pass, "xxxxx")
	if dec, err := url.PathUnescape(pass); err == nil && dec != "" {
		s = strings.ReplaceAll(s, dec, "xxxxx")
	}
	return s
}

// redisLog routes go-redis's own log lines (during an outage, a failed
// dial for nearly every request) into a failure log: at most a line a
// second. go-redis has one logger per process; the node started last gets
// its lines.
var redisLog struct {
	once sync.Once
	to   atomic.Pointer[failureLog]
}

type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l := redisLog.to.Load(); l != nil {
		l.failed(errors.New(fmt.Sprintf(format, v...)))
	}
}

func routeRedisLog(log *slog.Logger) {
	redisLog.to.Store(&failureLog{log: log, msg: "redis client"})
	redisLog.once.Do(func() { redis.SetLogger(redisLogger{}) })
}
