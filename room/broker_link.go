package room

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/rkeys"
)

// redisLink is what the two Redis brokers (RedisBroker, one connection;
// ShardedRedisBroker, one per Redis Cluster master) share: the channel
// names, the metrics, the lifetime, the wait for a subscription's
// confirmation and the watch on a pub/sub link's silence.
type redisLink struct {
	names      rkeys.Names
	ping       time.Duration
	log        *slog.Logger
	rtt        *prometheus.HistogramVec
	reconnects prometheus.Counter

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
}

func newRedisLink(cfg RedisBrokerConfig, reconnectsHelp string) redisLink {
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := redisLink{
		names: rkeys.New(cfg.KeyPrefix), ping: cfg.PingInterval, log: cfg.Logger, rtt: cfg.RoundTrips,
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_pubsub_reconnects_total", Help: reconnectsHelp}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(l.reconnects)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

func (l *redisLink) channel(room string) string { return l.names.Events(room) }

func (l *redisLink) observe(op string, start time.Time) {
	if l.rtt != nil {
		l.rtt.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

// confirmed waits until the receive loop closes wait (Redis confirmed the
// subscription), ctx ends or the broker closes.
func (l *redisLink) confirmed(ctx context.Context, wait chan struct{}, start time.Time) error {
	select {
	case <-wait:
		l.observe("subscribe", start)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.ctx.Done():
		return ErrBrokerClosed
	}
}

// deliver hands a message of a room's channel to the handler.
func (l *redisLink) deliver(h BrokerHandler, m *redis.Message) {
	if room, ok := l.names.RoomOfEvents(m.Channel); ok {
		h.HandleMessage(room, []byte(m.Payload))
	}
}

// silence watches a receive loop's link: a link silent for a ping interval
// is pinged (the answer, or the failure, comes to ReceiveTimeout), one
// silent for three is dead: a half-open link go-redis cannot see.
type silence struct {
	heard  time.Time
	pinged bool
}

// recvTimeout is how long a receive loop waits for a message at a time.
func (l *redisLink) recvTimeout() time.Duration { return min(l.ping, time.Second) }

// heardNow records a message or answer.
func (s *silence) heardNow() { s.heard, s.pinged = time.Now(), false }

// timedOut is called when a receive timed out; it reports whether the link
// is dead.
func (l *redisLink) timedOut(s *silence, ps *redis.PubSub) (dead bool) {
	quiet := time.Since(s.heard)
	switch {
	case quiet > 3*l.ping:
		return true
	case quiet > l.ping && !s.pinged:
		s.pinged = true
		ctx, cancel := context.WithTimeout(l.ctx, time.Second)
		_ = ps.Ping(ctx)
		cancel()
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
