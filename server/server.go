package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/pinning"
	"github.com/liveserver/liveserver/protocol"
	"github.com/liveserver/liveserver/room"
)

// Config configures a Server. Zero values mean the defaults given.
type Config struct {
	// JWTSecret is the HS256 secret of client tokens, at least 32 bytes
	// (auth.CheckSecret). Empty: development mode, which the caller must
	// keep to loopback addresses; on Redis a development node refuses to
	// join a Redis used by production nodes and the other way round.
	JWTSecret      string
	JWTAudience    string        // when set, a token's aud must include it
	JWTIssuer      string        // when set, a token's iss must be it
	JWTMaxLifetime time.Duration // longest exp - iat of a token; zero: 24h; negative: no limit
	AllowedOrigins []string      // Origin patterns allowed to open /ws ("*" for any); empty: same host only
	RedisURL       string        // empty: everything in memory (one node), unless RedisCluster or RedisSentinel
	// RedisCluster are seed addresses (host:port) of a Redis Cluster (Redis
	// 7: rooms' channels are shard channels): the nodes use go-redis's
	// cluster client, and each room lives on the master of its slot.
	RedisCluster []string
	// RedisSentinel are the addresses of the Sentinels that watch the
	// master named RedisMaster: the nodes use go-redis's failover client
	// and follow the master the Sentinels name.
	RedisSentinel []string
	RedisMaster   string
	// RedisSentinelPassword authenticates to the Sentinels (which may have
	// their own password); empty: none.
	RedisSentinelPassword string
	// RedisUsername and RedisPassword authenticate to Redis (the data
	// nodes). With RedisURL, when set, they replace the URL's, so that the
	// URL can be given without them.
	RedisUsername string
	RedisPassword string
	// RedisTLS connects with TLS to a cluster or to Sentinels and their
	// master (a URL says it with rediss://).
	RedisTLS bool
	// RedisTLSRootCAs are the certificate authorities a Redis server's
	// TLS certificate must chain to (a private CA); nil: the system's.
	// Setting it without TLS (RedisTLS or rediss://) is an error.
	RedisTLSRootCAs *x509.CertPool
	// RedisWaitReplicas, when above zero, acknowledges a purchase only
	// after WAIT confirmed that this many replicas have it, so that a
	// failover does not lose it (see docs/CLUSTER.md); zero: no wait.
	RedisWaitReplicas int
	// RedisKeyPrefix starts every Redis key and channel (internal/rkeys);
	// another prefix on the same Redis is another cluster. Zero:
	// "liveserver:".
	RedisKeyPrefix string
	MaxConns       int // WebSocket connections; zero: 19000, or less to fit MaxTCPConns
	// MaxTCPConns caps the TCP connections the node's listener holds open
	// (LimitListener); zero: the open-file limit less the Redis pool and a
	// reserve. Above that limit, New fails.
	MaxTCPConns     int
	MaxRoomsPerConn int     // zero: 16
	MsgRate         float64 // client messages per second per connection; zero: 20; negative: unlimited
	MsgBurst        int     // zero: 40
	MaxFrame        int64   // largest client message in bytes; zero: 4096
	MaxQueueBytes   int     // a connection's unsent backlog limit; zero: 4 MiB
	// MaxNodeQueueBytes is the node's budget of queued bytes held by one
	// connection alone (see room/budget.go); zero: a quarter of GOMEMLIMIT
	// if set, else 512 MiB.
	MaxNodeQueueBytes int64
	// OrderRetention is how long orders are kept; zero: 30 days.
	OrderRetention  time.Duration
	WriteTimeout    time.Duration // a write stalled this long closes with 4000; zero: 10s
	AuthTimeout     time.Duration // time to send auth when required; zero: 10s
	RequestTimeout  time.Duration // store calls (purchases, creator actions); zero: 2s
	ViewersInterval time.Duration // zero: 1s
	// VolatileInterval is the least time between two fan-outs of a room's
	// volatile messages (stock, purchase ticker); zero: 50ms.
	VolatileInterval time.Duration
	// BidInterval is the same for auction bid messages; zero:
	// room.DefaultBidInterval.
	BidInterval time.Duration
	// ChatFanoutRate is how many comments a second of a room every viewer
	// gets; above it viewers get a fair sample (chat_mode). Zero: 50.
	ChatFanoutRate int
	SeedDemo       bool // create the room "demo" at start if it does not exist
	// Per-client limits (see limits.go). For the counts, zero means the
	// default given and negative means no limit.
	MaxConnsPerIP      int // WebSocket connections from one address (an IPv6 /64); zero: 256
	MaxConnsPerUser    int // WebSocket connections of one user (token sub); zero: 16
	MaxUnauthenticated int // connections waiting for an auth message; zero: 1024
	// TrustedProxies are the peers whose X-Forwarded-For names the
	// client's address; empty: the header is ignored.
	TrustedProxies  []netip.Prefix
	HTTPRatePerIP   float64      // HTTP API requests per second per address (burst twice that); zero: 50
	HTTPRatePerUser float64      // HTTP API requests per second per user (burst twice that); zero: 10
	Clock           clock.Clock  // nil: the real clock; drives sales and auctions (memory mode only) and token expiry on open connections
	Logger          *slog.Logger // nil: discard
	// Registry receives the node's metrics and serves /metrics; nil: a new
	// registry with the Go and process collectors.
	Registry *prometheus.Registry
	// PrivateMetrics keeps /metrics off Handler (it answers 404 there);
	// serve MetricsHandler on another listener instead.
	PrivateMetrics bool

	devTTL time.Duration // life of the development keys in Redis; zero: devKeysTTL (tests shorten it)
}

// usesRedis tells whether the node runs in cluster mode, on some Redis.
func (c Config) usesRedis() bool {
	return c.RedisURL != "" || len(c.RedisCluster) > 0 || len(c.RedisSentinel) > 0
}

func (c Config) withDefaults() Config {
	if c.RedisKeyPrefix == "" {
		c.RedisKeyPrefix = rkeys.DefaultPrefix
	}
	if c.MsgRate == 0 {
		c.MsgRate = 20
	}
	if c.MsgBurst == 0 {
		c.MsgBurst = 40
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = 4096
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
		c.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return c
}

// storeCloser is a store the server owns and closes.
type storeCloser interface {
	inventory.Store
	Close() error
}

// backend is what the node runs on: memory, or Redis in cluster mode.
type backend struct {
	// devSecret, in development mode, signs tokens on every node alike.
	devSecret []byte
	fds       int // file descriptors the backend may hold (the Redis pool)
	store     storeCloser
	broker    room.Broker
	presence  room.Presence // nil: local counts
	chats     chat.Store    // beside store: shares its rooms' seq, history and channel
	handleKey []byte        // the cluster's key of chat handles
	ready     func(ctx context.Context) error
	close     func() error
}

// Server is one liveserver node.
type Server struct {
	cfg      Config
	log      *slog.Logger
	failLog  *failureLog // clientError's, rate-limited
	verifier *auth.Verifier
	be       backend
	store    inventory.Store
	// asyncBuyer is store, when it can answer purchases without holding
	// the caller's goroutine (Redis); else nil.
	asyncBuyer inventory.AsyncBuyer
	hub        *room.Hub
	pins       *pinning.Service
	chat       *chatParts
	metrics    *metrics
	// auctionMetrics are the auction's (auction.go).
	auctionMetrics *auctionMetrics
	mux            *http.ServeMux
	patterns       []string     // every pattern mounted on mux, in order (Routes)
	handler        http.Handler // mux behind the HTTP API's rate limit

	maxTCP       int // the listener's cap (LimitListener)
	conns        *connLimits
	httpLimits   *httpLimits
	limitMetrics limitMetrics
	proxyWarned  atomic.Int64 // unix nanos of the last noteUntrustedProxy warning

	drainMu   sync.Mutex // orders handlers.Add against Drain
	draining  atomic.Bool
	active    atomic.Int64   // WebSocket handlers running
	handlers  sync.WaitGroup // WebSocket handlers, waited for in Shutdown
	closeOnce sync.Once
}

// New builds and starts a node; the caller must call Shutdown or Close.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.JWTSecret != "" {
		if err := auth.CheckSecret(cfg.JWTSecret); err != nil {
			return nil, err
		}
	}
	rules := auth.Rules{Audience: cfg.JWTAudience, Issuer: cfg.JWTIssuer, MaxLifetime: cfg.JWTMaxLifetime}
	s := &Server{cfg: cfg, log: cfg.Logger, failLog: newFailureLog(cfg.Logger), verifier: auth.NewVerifierRules(cfg.JWTSecret, rules)}
	var err error
	if cfg.usesRedis() {
		s.be, err = newRedisBackend(cfg)
	} else {
		s.be = newMemoryBackend(cfg)
	}
	if err != nil {
		return nil, err
	}
	if err := s.budgetConns(); err != nil {
		s.be.close()
		return nil, err
	}
	if cfg.JWTSecret == "" && s.be.devSecret != nil {
		s.verifier = auth.NewDevVerifier(s.be.devSecret, rules)
	}
	s.store = s.be.store
	if s.chat, err = newChatParts(cfg, s.be); err != nil {
		s.be.close()
		return nil, err
	}
	s.asyncBuyer, _ = s.store.(inventory.AsyncBuyer) // nil in memory mode
	s.metrics = newMetrics(cfg.Registry)
	s.conns, s.httpLimits = newConnLimits(cfg), newHTTPLimits(cfg)
	s.registerLimitMetrics(cfg.Registry)
	s.auctionMetrics = newAuctionMetrics(cfg.Registry)
	s.pins = pinning.New(s.store, cfg.Registry)
	s.hub = room.NewHub(room.Config{
		Source:            roomSource{s.store, s.chat.store},
		Broker:            s.be.broker,
		Presence:          s.be.presence,
		MaxQueueBytes:     cfg.MaxQueueBytes,
		MaxNodeQueueBytes: cfg.MaxNodeQueueBytes,
		WriteTimeout:      cfg.WriteTimeout,
		ViewersInterval:   cfg.ViewersInterval,
		VolatileInterval:  cfg.VolatileInterval,
		BidInterval:       cfg.BidInterval,
		MaxRoomsPerConn:   cfg.MaxRoomsPerConn,
		ChatFanoutRate:    cfg.ChatFanoutRate,
		Logger:            cfg.Logger,
		Registerer:        cfg.Registry,
	})
	if err := s.hub.Run(); err != nil {
		s.chat.tally.Close()
		s.be.close()
		return nil, err
	}
	if cfg.SeedDemo {
		if err := s.seedDemo(); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.routes()
	cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "liveserver_ready",
		Help: "1 while the node would answer /readyz with 200 (not draining, its dependencies answer), else 0; checked at each scrape.",
	}, s.readyGauge))
	cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "liveserver_chat_sampled_rooms",
		Help: "Rooms whose comments this node delivers to viewers as a sample (over -chat-fanout-rate).",
	}, func() float64 { return float64(s.hub.SampledRooms()) }))
	return s, nil
}

// readyGauge runs /readyz's check for the liveserver_ready gauge, bounded so
// that a hung dependency cannot stall a scrape.
func (s *Server) readyGauge() float64 {
	if s.draining.Load() {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.be.ready(ctx) != nil {
		return 0
	}
	return 1
}

func newMemoryBackend(cfg Config) backend {
	broker := room.NewMemoryBroker()
	store := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: broker, Clock: cfg.Clock, Logger: cfg.Logger, Registerer: cfg.Registry, OrderRetention: cfg.OrderRetention})
	// The chat emits through the shop's sequencer and publishes to the same
	// broker, so comments and events keep one order.
	chats := chat.NewMemoryStore(chat.MemoryConfig{Events: store, Publisher: broker, Clock: cfg.Clock, Logger: cfg.Logger})
	store.SetBans(chats) // a banned buyer is refused under the shop room's lock
	return backend{
		store:     store,
		broker:    broker,
		chats:     chats,
		handleKey: chat.RandomKey(), // all chat state dies with the process anyway
		ready:     func(context.Context) error { return nil },
		close: func() error {
			store.Close()
			return broker.Close()
		},
	}
}

// DevMode reports whether the node runs without a JWT secret.
func (s *Server) DevMode() bool { return s.verifier.DevMode() }

// Handler serves every route of the node (but /metrics with
// PrivateMetrics).
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves the node's Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})
}

// Drain makes /readyz answer 503 and refuses new WebSocket connections.
func (s *Server) Drain() {
	s.drainMu.Lock()
	s.draining.Store(true)
	s.drainMu.Unlock()
}

// enter registers a WebSocket handler unless the node is draining.
func (s *Server) enter() bool {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.handlers.Add(1)
	return true
}

// Shutdown drains the node: /readyz turns 503, new upgrades are refused,
// every connection is closed with 1001 spread over the time ctx leaves, then
// the node's resources are released. The caller shuts the http.Server down
// itself (http.Server.Shutdown does not wait for WebSocket connections).
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	err := s.hub.Shutdown(ctx)
	s.waitHandlers(ctx)
	s.Close()
	return err
}

func (s *Server) waitHandlers(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Close releases the node at once, dropping connections. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.Drain()
		s.hub.Close()
		s.chat.tally.Close() // its last flush still needs the store
		err = s.be.close()
	})
	return err
}

// Routes returns the pattern of every route the node mounts on Handler
// ("GET /healthz", "PUT /api/rooms/{room}", ...), in the order they were
// mounted. docs/openapi.yaml describes each one; the docs package's test
// checks that both agree.
func (s *Server) Routes() []string { return append([]string(nil), s.patterns...) }

// routeMux mounts routes on an http.ServeMux and records their patterns,
// so that Routes cannot miss one. It does not expose the ServeMux: a
// function that mounts routes takes a *routeMux, and cannot mount one
// unrecorded.
type routeMux struct {
	mux      *http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.mux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

func (s *Server) routes() {
	mux := &routeMux{mux: http.NewServeMux()}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	if !s.cfg.PrivateMetrics {
		mux.Handle("GET /metrics", s.MetricsHandler())
	}
	mux.HandleFunc("GET /ws", s.handleWS)
	mux.HandleFunc("POST /dev/token", s.handleDevToken)
	mux.HandleFunc("PUT /api/rooms/{room}", s.handlePutRoom)
	mux.HandleFunc("GET /api/rooms/{room}", s.handleGetRoom)
	mux.HandleFunc("DELETE /api/rooms/{room}", s.handleDeleteRoom)
	mux.HandleFunc("POST /api/rooms/{room}/pin", s.handlePin)
	mux.HandleFunc("DELETE /api/rooms/{room}/pin", s.handleUnpin)
	mux.HandleFunc("POST /api/rooms/{room}/sales", s.handleStartSale)
	mux.HandleFunc("DELETE /api/rooms/{room}/sales/current", s.handleStopSale)
	mux.HandleFunc("POST /api/rooms/{room}/purchases", s.handleBuy)
	mux.HandleFunc("GET /api/rooms/{room}/orders", s.handleOrders)
	s.chatRoutes(mux) // chat_http.go
	mux.HandleFunc("POST /api/rooms/{room}/auctions", s.handleStartAuction)
	mux.HandleFunc("DELETE /api/rooms/{room}/auctions/current", s.handleStopAuction)
	mux.HandleFunc("POST /api/rooms/{room}/auctions/{auction}/bids", s.handleBid)
	mux.HandleFunc("GET /api/rooms/{room}/auctions/{auction}", s.handleGetAuction)
	mountDemo(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/demo/", http.StatusFound)
			return
		}
		s.writeError(w, errNotFoundRoute)
	})
	s.mux, s.patterns = mux.mux, mux.patterns
	s.handler = s.rateLimitedAPI(mux.mux)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.be.ready(ctx); err != nil {
		// The cause (an internal address, say) is for the log, not for
		// whoever asks.
		s.failLog.failed(fmt.Errorf("readiness check: %w", err))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "a dependency is unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// seedDemo creates the room "demo" unless it exists (in cluster mode another
// node may have created and changed it).
func (s *Server) seedDemo() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.store.Snapshot(ctx, "demo"); err == nil {
		return nil
	} else if protocol.ErrorCode(err) != protocol.CodeNotFound {
		return err
	}
	_, err := s.store.PutRoom(ctx, "demo", DemoRoom)
	return err
}

// DemoRoom is the catalog of the seeded room "demo".
var DemoRoom = inventory.RoomSpec{
	Title: "Spring drop — live",
	Products: []inventory.ProductSpec{
		{ID: "p1", Name: "Canvas Tote", Price: 1999, Currency: "USD", Image: "/demo/img/tote.svg", Stock: 50},
		{ID: "p2", Name: "Runner Sneakers", Price: 8999, Currency: "USD", Image: "/demo/img/sneakers.svg", Stock: 20},
		{ID: "p3", Name: "Studio Headphones", Price: 12900, Currency: "USD", Image: "/demo/img/headphones.svg", Stock: 15},
		{ID: "p4", Name: "Sunglasses", Price: 4500, Currency: "USD", Image: "/demo/img/sunglasses.svg", Stock: 30},
		{ID: "p5", Name: "Field Watch", Price: 19900, Currency: "USD", Image: "/demo/img/watch.svg", Stock: 10},
	},
}

// Conns is the number of open WebSocket connections.
func (s *Server) Conns() int { return s.hub.Conns() }
