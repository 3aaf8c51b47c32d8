// Command liveserver runs one liveserver node. It only wires: flags and
// environment into a server.Config, the HTTP server, and signal handling.
package main

import (
	"context"
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

// options are the command's flags.
type options struct {
	addr, jwtSecret, allowedOrigins, redis, logFormat, logLevel string
	debugAddr                                                   string
	maxConns, maxRoomsPerConn, msgBurst, maxQueueBytes          int
	msgRate                                                     float64
	maxFrame                                                    int64
	drainTimeout, writeTimeout, volatileInterval                time.Duration
	seedDemo                                                    bool
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("liveserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", ":8080", "address to listen on")
	fs.StringVar(&o.jwtSecret, "jwt-secret", "", "HS256 secret for client tokens; empty runs in development mode (anonymous viewers, POST /dev/token)")
	fs.StringVar(&o.allowedOrigins, "allowed-origins", "", "comma-separated Origin host patterns allowed to open /ws (e.g. shop.example.com,*.example.com; * for any); empty: same host only")
	fs.StringVar(&o.redis, "redis", "", "Redis URL for cluster mode (redis://[user:pass@]host:port/db or rediss://...); empty keeps everything in memory on one node")
	fs.IntVar(&o.maxConns, "max-conns", 19000, "WebSocket connections this node accepts; more are answered 503 (keep below the process's open-file limit)")
	fs.IntVar(&o.maxRoomsPerConn, "max-rooms-per-conn", 16, "rooms one connection may join")
	fs.Float64Var(&o.msgRate, "msg-rate", 20, "client messages per second per connection; 0 means unlimited")
	fs.IntVar(&o.msgBurst, "msg-burst", 40, "client messages a connection may send in a burst above -msg-rate")
	fs.Int64Var(&o.maxFrame, "max-frame", 4096, "largest client message in bytes; larger closes the connection with 1009")
	fs.IntVar(&o.maxQueueBytes, "max-queue-bytes", 4<<20, "unsent bytes queued for one connection before it is closed as a slow consumer (4000)")
	fs.DurationVar(&o.writeTimeout, "write-timeout", 10*time.Second, "a write to a client stalled this long closes it as a slow consumer (4000)")
	fs.DurationVar(&o.volatileInterval, "volatile-interval", 50*time.Millisecond, "least time between two fan-outs of a room's stock and purchase-ticker messages (the latest of each goes); 1ms to 10s")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 10*time.Second, "on SIGINT/SIGTERM, time over which connections are closed with 1001 before exit")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.debugAddr, "debug-addr", "", "address for net/http/pprof (/debug/pprof/), e.g. 127.0.0.1:6060; empty: off. Never expose it publicly")
	fs.BoolVar(&o.seedDemo, "seed-demo", true, "create the room \"demo\" with sample products if it does not exist")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: liveserver [flags]\n\nEvery flag can also be set with an environment variable: LIVESERVER_ and the flag's\nname in capitals with dashes as underscores (-jwt-secret: LIVESERVER_JWT_SECRET).\nLIVESERVER_REDIS_URL is accepted for -redis too. Flags win over the environment.\n\nFlags:\n")
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
	if o.volatileInterval < time.Millisecond || o.volatileInterval > 10*time.Second {
		return o, fmt.Errorf("-volatile-interval %v: want 1ms to 10s", o.volatileInterval)
	}
	return o, nil
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
	cfg := server.Config{
		JWTSecret:        o.jwtSecret,
		RedisURL:         o.redis,
		MaxConns:         o.maxConns,
		MaxRoomsPerConn:  o.maxRoomsPerConn,
		MsgRate:          o.msgRate,
		MsgBurst:         o.msgBurst,
		MaxFrame:         o.maxFrame,
		MaxQueueBytes:    o.maxQueueBytes,
		WriteTimeout:     o.writeTimeout,
		VolatileInterval: o.volatileInterval,
		SeedDemo:         o.seedDemo,
		Logger:           log,
	}
	if o.msgRate == 0 {
		cfg.MsgRate = -1 // unlimited
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
		log.Warn("DEVELOPMENT MODE: no -jwt-secret, so anyone may connect anonymously and POST /dev/token issues creator and admin tokens. Never run this in production.")
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		srv.Close()
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second, // cleared by net/http when /ws hijacks
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	mode := "memory (one node)"
	if o.redis != "" {
		mode = "cluster (Redis)"
	}
	log.Info("liveserver listening", "addr", ln.Addr().String(), "mode", mode, "demo", "http://"+ln.Addr().String()+"/demo/")
	if ready != nil {
		ready(ln.Addr().String())
	}
	if o.debugAddr != "" {
		stopDebug, err := serveDebug(o.debugAddr, log)
		if err != nil {
			srv.Close()
			ln.Close()
			return err
		}
		defer stopDebug()
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

// serveDebug serves the pprof handlers on their own listener, apart from
// the public mux. The returned function stops it.
func serveDebug(addr string, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln)
	}()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { hs.Close(); <-done }, nil
}
