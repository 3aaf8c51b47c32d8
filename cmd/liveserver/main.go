// Command liveserver runs one liveserver node. It only wires: flags and
// environment into a server.Config, the HTTP server, and signal handling.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "liveserver:", err)
		os.Exit(1)
	}
}

// options are the command's flags, and what parse derives from them.
type options struct {
	addr, jwtSecret, allowedOrigins, redis, logFormat, logLevel string
	jwtSecretFile, jwtAudience, jwtIssuer                       string
	redisPasswordFile, debugAddr, metricsAddr                   string
	trustedProxies, redisPrefix                                 string
	redisCluster, redisSentinel, redisMaster, redisUsername     string
	redisTLS                                                    bool
	redisWaitReplicas                                           int
	redisTLSCA                                                  string         // -redis-tls-ca: a file
	redisTLSRootCAs                                             *x509.CertPool // read from redisTLSCA
	maxTCPConns, maxConnsPerIP, maxConnsPerUser, maxUnauth      int
	httpRatePerIP, httpRatePerUser                              float64
	maxConns, maxRoomsPerConn, msgBurst, maxQueueBytes          int
	msgRate                                                     float64
	maxFrame                                                    int64
	drainTimeout, writeTimeout, volatileInterval, bidInterval   time.Duration
	jwtMaxLifetime                                              time.Duration
	chatFanoutRate                                              int
	seedDemo, dev, debugAddrPublic                              bool
	maxNodeQueueBytes                                           int64
	orderRetention                                              time.Duration

	redisPassword         string   // from LIVESERVER_REDIS_PASSWORD or -redis-password-file
	redisSentinelPassword string   // from LIVESERVER_REDIS_SENTINEL_PASSWORD
	warnings              []string // to log once the logger exists
}

// Default listen addresses: development mode (no secret) keeps to loopback.
const (
	defaultAddr    = ":8080"
	defaultDevAddr = "127.0.0.1:8080"
)

// devWarnEvery is how often an explicit -dev node repeats its warning.
var devWarnEvery = time.Minute

const devWarning = "DEVELOPMENT MODE: no JWT secret, so anyone may connect anonymously and POST /dev/token issues creator and admin tokens. Never run this in production."

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("liveserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "", "address to listen on (default "+defaultAddr+"; "+defaultDevAddr+" in development mode)")
	fs.StringVar(&o.jwtSecret, "jwt-secret", "", "HS256 secret for client tokens, at least 32 bytes (prefer LIVESERVER_JWT_SECRET or -jwt-secret-file: the command line is readable by every local user); empty runs in development mode (anonymous viewers, POST /dev/token), on a loopback address only unless -dev")
	fs.StringVar(&o.jwtSecretFile, "jwt-secret-file", "", "file holding the JWT secret (surrounding white space ignored), instead of -jwt-secret")
	fs.StringVar(&o.jwtAudience, "jwt-audience", "", "when set, tokens must carry it in aud")
	fs.StringVar(&o.jwtIssuer, "jwt-issuer", "", "when set, tokens must carry it as iss")
	fs.DurationVar(&o.jwtMaxLifetime, "jwt-max-lifetime", 24*time.Hour, "longest token lifetime accepted: exp - iat (exp - now without iat)")
	fs.BoolVar(&o.dev, "dev", false, "allow development mode (no JWT secret) on a non-loopback address or with -redis; it logs a warning every minute")
	fs.StringVar(&o.allowedOrigins, "allowed-origins", "", "comma-separated Origin host patterns allowed to open /ws (e.g. shop.example.com,*.example.com; * for any); empty: same host only")
	fs.StringVar(&o.redis, "redis", "", "Redis URL for cluster mode (redis://[user:pass@]host:port/db or rediss://...); empty keeps everything in memory on one node. Give the password apart: LIVESERVER_REDIS_PASSWORD or -redis-password-file")
	fs.StringVar(&o.redisPasswordFile, "redis-password-file", "", "file holding the Redis password (surrounding white space ignored); it replaces the URL's")
	fs.StringVar(&o.redisCluster, "redis-cluster", "", "seed addresses of a Redis Cluster (Redis 7), host:port,host:port,...: each room lives on its slot's master and its events travel by sharded pub/sub. Exclusive with -redis and -redis-sentinel")
	fs.StringVar(&o.redisSentinel, "redis-sentinel", "", "addresses of Redis Sentinels, host:port,...: the nodes follow the master they name (-redis-master) through failovers. Sentinel password: LIVESERVER_REDIS_SENTINEL_PASSWORD. Exclusive with -redis and -redis-cluster")
	fs.StringVar(&o.redisMaster, "redis-master", "", "name of the master the Sentinels watch (with -redis-sentinel)")
	fs.StringVar(&o.redisUsername, "redis-username", "", "Redis ACL user (with -redis-cluster or -redis-sentinel; a -redis URL may carry it); its password: LIVESERVER_REDIS_PASSWORD or -redis-password-file")
	fs.BoolVar(&o.redisTLS, "redis-tls", false, "connect to Redis with TLS (with -redis-cluster or -redis-sentinel; a -redis URL says it with rediss://)")
	fs.StringVar(&o.redisTLSCA, "redis-tls-ca", "", "PEM file of the certificate authorities that Redis's TLS certificates must chain to (a private CA), instead of the system's; needs -redis-tls or a rediss:// URL")
	fs.IntVar(&o.redisWaitReplicas, "redis-wait-replicas", 0, "acknowledge a purchase or a bid only after this many replicas of its Redis master confirmed it (WAIT), so that a failover cannot lose it; when they do not within 500ms the buyer or bidder gets unavailable and a retry with the same id answers the real outcome. An auction's end counts as done only once confirmed too (else it is retried, without a second order). 0: no wait (replication is asynchronous)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "liveserver:", "prefix of every Redis key and channel; nodes with another prefix on the same Redis are another cluster")
	fs.IntVar(&o.maxConns, "max-conns", 0, "WebSocket connections this node accepts; more are answered 503. 0: 19000, or fewer to fit -max-tcp-conns")
	fs.IntVar(&o.maxTCPConns, "max-tcp-conns", 0, "TCP connections the listener holds open (WebSockets, HTTP requests and keep-alives); at the cap an idle keep-alive is closed, else 503. 0: the open-file limit less the Redis pool and 64")
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", 256, "WebSocket connections from one client address (an IPv6 /64); more are answered 429. 0 means unlimited")
	fs.IntVar(&o.maxConnsPerUser, "max-conns-per-user", 16, "WebSocket connections of one user (token sub); more are answered 429, or closed with 1013 after an auth message. 0 means unlimited")
	fs.IntVar(&o.maxUnauth, "max-unauthenticated", 1024, "connections that may wait for an auth message at once; more are answered 503. 0 means unlimited")
	fs.StringVar(&o.trustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For gives the client address; empty: the header is ignored")
	fs.Float64Var(&o.httpRatePerIP, "http-rate-per-ip", 50, "HTTP API requests per second from one client address, burst twice that; more are answered 429. 0 means unlimited")
	fs.Float64Var(&o.httpRatePerUser, "http-rate-per-user", 10, "HTTP API requests per second of one user, burst twice that; more are answered 429. 0 means unlimited")
	fs.IntVar(&o.maxRoomsPerConn, "max-rooms-per-conn", 16, "rooms one connection may join")
	fs.Float64Var(&o.msgRate, "msg-rate", 20, "client messages per second per connection; 0 means unlimited")
	fs.IntVar(&o.msgBurst, "msg-burst", 40, "client messages a connection may send in a burst above -msg-rate")
	fs.Int64Var(&o.maxFrame, "max-frame", 4096, "largest client message in bytes; larger closes the connection with 1009")
	fs.IntVar(&o.maxQueueBytes, "max-queue-bytes", 4<<20, "unsent bytes queued for one connection before it is closed as a slow consumer (4000)")
	fs.Int64Var(&o.maxNodeQueueBytes, "max-node-queue-bytes", 0, "bytes queued on the node for single connections (replies, errors; not room messages, which are shared) before those with the largest backlogs are closed as slow consumers (4000); 0: a quarter of GOMEMLIMIT if set, else 512 MiB")
	fs.DurationVar(&o.orderRetention, "order-retention", inventory.DefaultOrderRetention, "how long orders are kept (by their time), also those of deleted rooms; older ones are trimmed")
	fs.DurationVar(&o.writeTimeout, "write-timeout", 10*time.Second, "a write to a client stalled this long closes it as a slow consumer (4000)")
	fs.DurationVar(&o.volatileInterval, "volatile-interval", 50*time.Millisecond, "least time between two fan-outs of a room's stock and purchase-ticker messages (the latest of each goes); 1ms to 10s")
	fs.DurationVar(&o.bidInterval, "bid-interval", 200*time.Millisecond, "least time between two fan-outs of a room's auction bid messages (the latest goes; a bidder's own reply is never held back); 1ms to 10s")
	fs.IntVar(&o.chatFanoutRate, "chat-fanout-rate", 50, "comments a second of one room delivered to every viewer; above it viewers get a fair sample of about that rate (chat_mode), authors all of their own, creators and moderators all; 1 to 10000")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 10*time.Second, "on SIGINT/SIGTERM, time over which connections are closed with 1001 before exit")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.debugAddr, "debug-addr", "", "loopback address for net/http/pprof (/debug/pprof/), e.g. 127.0.0.1:6060; empty: off")
	fs.BoolVar(&o.debugAddrPublic, "debug-addr-public", false, "allow a non-loopback -debug-addr (profiles show memory contents: keep it private)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics on this address only (the public listener then answers 404 there); empty: on -addr")
	fs.BoolVar(&o.seedDemo, "seed-demo", true, "create the room \"demo\" with sample products if it does not exist")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: liveserver [flags]\n\nEvery flag can also be set with an environment variable: LIVESERVER_ and the flag's\nname in capitals with dashes as underscores (-jwt-secret: LIVESERVER_JWT_SECRET).\nLIVESERVER_REDIS_URL is accepted for -redis too, and LIVESERVER_REDIS_PASSWORD sets\nthe Redis password. Flags win over the environment.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parse reads the environment, then the flags.
func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := newFlagSet(&o, stderr)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "LIVESERVER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(name)
		if v == "" && f.Name == "redis" {
			name, v = "LIVESERVER_REDIS_URL", getenv("LIVESERVER_REDIS_URL")
		}
		if v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %v", name, v, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.maxNodeQueueBytes < 0 {
		return o, fmt.Errorf("-max-node-queue-bytes %d: want 0 (the default) or more", o.maxNodeQueueBytes)
	}
	if o.orderRetention <= 0 {
		return o, fmt.Errorf("-order-retention %v: want a positive duration such as 720h", o.orderRetention)
	}
	if o.volatileInterval < time.Millisecond || o.volatileInterval > 10*time.Second {
		return o, fmt.Errorf("-volatile-interval %v: want 1ms to 10s", o.volatileInterval)
	}
	if o.bidInterval < time.Millisecond || o.bidInterval > 10*time.Second {
		return o, fmt.Errorf("-bid-interval %v: want 1ms to 10s", o.bidInterval)
	}
	if o.chatFanoutRate < 1 || o.chatFanoutRate > 10000 {
		return o, fmt.Errorf("-chat-fanout-rate %d: want 1 to 10000", o.chatFanoutRate)
	}
	if o.jwtMaxLifetime <= 0 {
		return o, fmt.Errorf("-jwt-max-lifetime %v: want a positive duration", o.jwtMaxLifetime)
	}
	if err := o.checkRedis(); err != nil {
		return o, err
	}
	onCmdline := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCmdline[f.Name] = true })
	if err := o.secrets(getenv, onCmdline); err != nil {
		return o, err
	}
	return o, o.checkExposure()
}

// secrets reads the secrets given in files or the environment, and warns
// about those on the command line, which every local user can read in
// /proc/<pid>/cmdline.
func (o *options) secrets(getenv func(string) string, onCmdline map[string]bool) error {
	if o.jwtSecretFile != "" {
		if o.jwtSecret != "" {
			return errors.New("both a JWT secret (-jwt-secret or LIVESERVER_JWT_SECRET) and -jwt-secret-file are set: keep one")
		}
		s, err := o.readSecretFile("-jwt-secret-file", o.jwtSecretFile)
		if err != nil {
			return err
		}
		o.jwtSecret = s
	} else if onCmdline["jwt-secret"] {
		o.warnings = append(o.warnings, "the JWT secret is on the command line, which every local user can read (/proc/<pid>/cmdline): set LIVESERVER_JWT_SECRET or use -jwt-secret-file")
	}
	o.redisPassword = getenv("LIVESERVER_REDIS_PASSWORD")
	o.redisSentinelPassword = getenv("LIVESERVER_REDIS_SENTINEL_PASSWORD")
	if o.redisPasswordFile != "" {
		if o.redisPassword != "" {
			return errors.New("both LIVESERVER_REDIS_PASSWORD and -redis-password-file are set: keep one")
		}
		s, err := o.readSecretFile("-redis-password-file", o.redisPasswordFile)
		if err != nil {
			return err
		}
		o.redisPassword = s
	}
	if o.redisTLSCA != "" {
		pem, err := os.ReadFile(o.redisTLSCA)
		if err != nil {
			return fmt.Errorf("-redis-tls-ca: %w", err)
		}
		o.redisTLSRootCAs = x509.NewCertPool()
		if !o.redisTLSRootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-redis-tls-ca %s: no PEM certificate in it", o.redisTLSCA)
		}
	}
	if onCmdline["redis"] && server.RedactURL(o.redis) != o.redis {
		o.warnings = append(o.warnings, "the -redis URL on the command line holds a password, which every local user can read (/proc/<pid>/cmdline): use LIVESERVER_REDIS_PASSWORD or -redis-password-file")
	}
	return nil
}

// checkRedis checks the flags that choose the Redis topology: one of
// -redis, -redis-cluster and -redis-sentinel at most, and what each needs.
func (o *options) checkRedis() error {
	var given []string
	for _, f := range []struct{ name, v string }{{"-redis", o.redis}, {"-redis-cluster", o.redisCluster}, {"-redis-sentinel", o.redisSentinel}} {
		if f.v != "" {
			given = append(given, f.name)
		}
	}
	if len(given) > 1 {
		return fmt.Errorf("%s are given: -redis, -redis-cluster and -redis-sentinel are mutually exclusive (one Redis, a Redis Cluster, or a master watched by Sentinels): keep one", strings.Join(given, " and "))
	}
	if o.redisSentinel != "" && o.redisMaster == "" {
		return errors.New("-redis-sentinel needs -redis-master, the name of the master the Sentinels watch")
	}
	if o.redisMaster != "" && o.redisSentinel == "" {
		return errors.New("-redis-master names a master watched by Sentinels: give their addresses with -redis-sentinel")
	}
	if o.redisWaitReplicas < 0 {
		return fmt.Errorf("-redis-wait-replicas %d: want 0 (no wait) or more", o.redisWaitReplicas)
	}
	if o.redisWaitReplicas > 0 && !o.usesRedis() {
		return errors.New("-redis-wait-replicas needs Redis (-redis, -redis-cluster or -redis-sentinel)")
	}
	for _, list := range []struct{ name, v string }{{"-redis-cluster", o.redisCluster}, {"-redis-sentinel", o.redisSentinel}} {
		for _, a := range splitList(list.v) {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("%s: %q is not host:port", list.name, a)
			}
		}
	}
	return nil
}

// usesRedis tells whether the node runs in cluster mode, on some Redis.
func (o *options) usesRedis() bool {
	return o.redis != "" || o.redisCluster != "" || o.redisSentinel != ""
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (o *options) readSecretFile(flagName, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", flagName, path)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		o.warnings = append(o.warnings, fmt.Sprintf("%s: %s is readable by every user: chmod 600 it", flagName, path))
	}
	return s, nil
}

// checkExposure keeps development mode (no secret: anyone may mint admin
// tokens) to loopback addresses and away from Redis unless -dev says
// otherwise, fills in the default address, and keeps pprof private.
func (o *options) checkExposure() error {
	dev := o.jwtSecret == ""
	if !dev && o.dev {
		return errors.New("-dev asks for development mode, but a JWT secret is set: drop one of them")
	}
	if o.addr == "" {
		o.addr = defaultAddr
		if dev {
			o.addr = defaultDevAddr
		}
	}
	if dev && !o.dev {
		const how = "For production, set a JWT secret of at least 32 bytes with LIVESERVER_JWT_SECRET or -jwt-secret-file (make one with: openssl rand -base64 32)."
		if !server.LoopbackHost(o.addr) {
			return fmt.Errorf("no JWT secret, so this is development mode (anyone may connect anonymously and mint admin tokens at POST /dev/token), which listens only on a loopback address, and -addr is %q. %s To run development mode there anyway, pass -dev", o.addr, how)
		}
		if o.usesRedis() {
			return fmt.Errorf("no JWT secret, so this is development mode (anyone may connect anonymously and mint admin tokens at POST /dev/token), which does not join a Redis unless asked, so as never to reach production data. %s For a development cluster, pass -dev", how)
		}
	}
	if o.debugAddr != "" && !server.LoopbackHost(o.debugAddr) && !o.debugAddrPublic {
		return fmt.Errorf("-debug-addr %q is not a loopback address: pprof shows the process's memory, so keep it on 127.0.0.1 (or pass -debug-addr-public)", o.debugAddr)
	}
	return nil
}

func newLogger(o options, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %v", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("-log-format must be text or json, not %q", o.logFormat)
}

// run serves until ctx ends, then drains. ready, if not nil, is told the
// address once the node listens (tests listen on 127.0.0.1:0).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	o, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	for _, w := range o.warnings {
		log.Warn(w)
	}
	cfg := server.Config{
		JWTSecret:             o.jwtSecret,
		JWTAudience:           o.jwtAudience,
		JWTIssuer:             o.jwtIssuer,
		JWTMaxLifetime:        o.jwtMaxLifetime,
		RedisURL:              o.redis,
		RedisCluster:          splitList(o.redisCluster),
		RedisSentinel:         splitList(o.redisSentinel),
		RedisMaster:           o.redisMaster,
		RedisUsername:         o.redisUsername,
		RedisPassword:         o.redisPassword,
		RedisSentinelPassword: o.redisSentinelPassword,
		RedisTLS:              o.redisTLS,
		RedisTLSRootCAs:       o.redisTLSRootCAs,
		RedisWaitReplicas:     o.redisWaitReplicas,
		RedisKeyPrefix:        o.redisPrefix,
		PrivateMetrics:        o.metricsAddr != "",
		MaxConns:              o.maxConns,
		MaxTCPConns:           o.maxTCPConns,
		MaxRoomsPerConn:       o.maxRoomsPerConn,
		MsgRate:               o.msgRate,
		MsgBurst:              o.msgBurst,
		MaxFrame:              o.maxFrame,
		MaxQueueBytes:         o.maxQueueBytes,
		MaxNodeQueueBytes:     o.maxNodeQueueBytes,
		OrderRetention:        o.orderRetention,
		WriteTimeout:          o.writeTimeout,
		VolatileInterval:      o.volatileInterval,
		BidInterval:           o.bidInterval,
		ChatFanoutRate:        o.chatFanoutRate,
		SeedDemo:              o.seedDemo,
		Logger:                log,
	}
	if o.msgRate == 0 {
		cfg.MsgRate = -1 // unlimited
	}
	if err := limitFlags(o, &cfg); err != nil {
		return err
	}
	for _, p := range strings.Split(o.allowedOrigins, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, p)
		}
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	if srv.DevMode() {
		log.Warn(devWarning, "addr", o.addr)
	}
	tcpLn, err := net.Listen("tcp", o.addr)
	if err != nil {
		srv.Close()
		return err
	}
	ln := srv.LimitListener(tcpLn)
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second, // cleared by net/http when /ws hijacks
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       10 * time.Second, // a keep-alive holds a descriptor; LimitListener evicts idle ones at its cap
		MaxHeaderBytes:    16 << 10,
		ConnState:         ln.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	mode := "memory (one node)"
	switch {
	case o.redisCluster != "":
		mode = "cluster (Redis Cluster)"
	case o.redisSentinel != "":
		mode = "cluster (Redis with Sentinel)"
	case o.redis != "":
		mode = "cluster (Redis)"
	}
	authMode := "production (JWT secret)"
	if srv.DevMode() {
		authMode = "development (no JWT secret)"
	}
	maxTCP, maxWS := srv.ConnLimits()
	log.Info("liveserver listening", "addr", ln.Addr().String(), "mode", mode, "auth", authMode, "demo", "http://"+ln.Addr().String()+"/demo/", "max_tcp_conns", maxTCP, "max_conns", maxWS)
	for _, aux := range []struct {
		name, flag, addr string
		handler          func() http.Handler
	}{
		{"pprof", "-debug-addr", o.debugAddr, debugHandler},
		{"metrics", "-metrics-addr", o.metricsAddr, func() http.Handler { return metricsHandler(srv) }},
	} {
		if aux.addr == "" {
			continue
		}
		stopAux, err := serveAux(aux.name, aux.flag, aux.addr, aux.handler(), log)
		if err != nil {
			srv.Close()
			ln.Close()
			return err
		}
		defer stopAux()
	}
	if o.dev {
		stopWarning := repeatWarning(log, devWarnEvery, devWarning, "addr", o.addr)
		defer stopWarning()
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()

	select {
	case err := <-serveErr:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("draining", "timeout", o.drainTimeout, "connections", srv.Conns())
	dctx, cancel := context.WithTimeout(context.Background(), o.drainTimeout)
	defer cancel()
	srv.Drain()
	if err := srv.Shutdown(dctx); err != nil {
		log.Warn("drain incomplete: remaining connections dropped", "err", err)
	}
	sctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := httpSrv.Shutdown(sctx); err != nil {
		httpSrv.Close()
	}
	<-serveErr
	log.Info("stopped")
	return nil
}

// debugHandler serves net/http/pprof, without /debug/pprof/cmdline: the
// command line may hold secrets.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
	return mux
}

func metricsHandler(srv *server.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", srv.MetricsHandler())
	return mux
}

// serveAux serves h on its own listener at addr, apart from the public
// one. The returned function stops it.
func serveAux(name, flagName, addr string, h http.Handler, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln)
	}()
	log.Info(name+" listening", "addr", ln.Addr().String())
	return func() { hs.Close(); <-done }, nil
}

// repeatWarning logs msg every interval until the returned function is
// called (which waits for its goroutine to end).
func repeatWarning(log *slog.Logger, every time.Duration, msg string, args ...any) func() {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				log.Warn(msg, args...)
			}
		}
	}()
	return func() { close(quit); <-done }
}

// limitFlags moves the per-client limit flags into cfg: a flag's 0 means
// unlimited, which Config spells as negative (its 0 is the default).
func limitFlags(o options, cfg *server.Config) error {
	unlimited := func(v int) int {
		if v == 0 {
			return -1
		}
		return v
	}
	unlimitedRate := func(v float64) float64 {
		if v == 0 {
			return -1
		}
		return v
	}
	for name, v := range map[string]float64{"-max-conns-per-ip": float64(o.maxConnsPerIP), "-max-conns-per-user": float64(o.maxConnsPerUser),
		"-max-unauthenticated": float64(o.maxUnauth), "-http-rate-per-ip": o.httpRatePerIP, "-http-rate-per-user": o.httpRatePerUser,
		"-max-conns": float64(o.maxConns), "-max-tcp-conns": float64(o.maxTCPConns)} {
		if v < 0 {
			return fmt.Errorf("%s %v: want 0 or more", name, v)
		}
	}
	cfg.MaxConnsPerIP = unlimited(o.maxConnsPerIP)
	cfg.MaxConnsPerUser = unlimited(o.maxConnsPerUser)
	cfg.MaxUnauthenticated = unlimited(o.maxUnauth)
	cfg.HTTPRatePerIP = unlimitedRate(o.httpRatePerIP)
	cfg.HTTPRatePerUser = unlimitedRate(o.httpRatePerUser)
	proxies, err := server.ParseTrustedProxies(o.trustedProxies)
	if err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	cfg.TrustedProxies = proxies
	return nil
}
