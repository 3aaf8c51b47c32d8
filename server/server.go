// Package server is the edge of liveserver: it serves the HTTP API and the
// WebSocket endpoint, authenticates callers, dispatches client messages to
// the room hub, the pinning and the inventory services, and maps their
// errors to the protocol's codes.
package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. Zero values mean the defaults given.
type Config struct {
	JWTSecret       string        // empty: development mode
	AllowedOrigins  []string      // Origin patterns allowed to open /ws; empty: same host only
	RedisURL        string        // empty: everything in memory (one node)
	MaxConns        int           // zero: 19000
	MaxRoomsPerConn int           // zero: 16
	MsgRate         float64       // client messages per second per connection; zero: 20; negative: unlimited
	MsgBurst        int           // zero: 40
	MaxFrame        int64         // largest client message in bytes; zero: 4096
	DrainTimeout    time.Duration // zero: 10s
	SeedDemo        bool          // create the room "demo" at start if it does not exist
	Logger          *slog.Logger  // nil: discard
	Registerer      prometheus.Registerer
}

// Server is one liveserver node.
type Server struct{}

// New builds a server; the caller must call Shutdown or Close.
func New(cfg Config) (*Server, error) { return &Server{}, nil }

// Handler serves every route of the node.
func (s *Server) Handler() http.Handler { return http.NotFoundHandler() }
