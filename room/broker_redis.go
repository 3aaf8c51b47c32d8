package room

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/protocol"
)

// RedisBrokerConfig configures a RedisBroker. Zero values mean the defaults
// given.
type RedisBrokerConfig struct {
	// KeyPrefix must be the one of the inventory.RedisStore that publishes
	// the events (internal/rkeys names a room's channel), used as it is:
	// the server passes its configured prefix.
	KeyPrefix string
	// PingInterval is how long the pub/sub link may be silent before it is
	// pinged; silent for three intervals, it is replaced. Zero: 3s.
	PingInterval time.Duration
	Logger       *slog.Logger          // nil: discard
	Registerer   prometheus.Registerer // nil: metrics are not registered
	// RoundTrips observes Redis round trips by operation (label "op");
	// nil: not observed.
	RoundTrips *prometheus.HistogramVec
}

// RedisBroker is the Broker of a cluster: room events reach every node
// through Redis pub/sub, on one connection per node, subscribed to a room's
// channel while the node has viewers there (the Hub calls Subscribe and
// Unsubscribe). Redis pub/sub is at most once: when the link drops, go-redis
// reconnects and subscribes again, and the broker then calls
// HandleReconnect so the hub resynchronizes every room.
//
// One goroutine, started by Run and ended by Close, owns the receiving side
// of the connection and calls the handler. It does not close the Redis
// client.
type RedisBroker struct {
	redisLink
	rdb redis.UniversalClient

	// subMu serializes what changes subscriptions (Subscribe, Unsubscribe,
	// replacing the connection), so go-redis sees them in order.
	// Lock order: subMu, then mu.
	subMu   sync.Mutex
	mu      sync.Mutex
	ps      *redis.PubSub
	subs    map[string]bool          // channels subscribed or being subscribed
	pending map[string]chan struct{} // channels whose confirmation Subscribe awaits
	h       BrokerHandler
	done    chan struct{} // closed when the receive loop has ended; nil before Run
	closed  bool
}

var _ Broker = (*RedisBroker)(nil)

// NewRedisBroker returns a broker on rdb; call Run to start it and Close to
// stop it.
func NewRedisBroker(rdb redis.UniversalClient, cfg RedisBrokerConfig) *RedisBroker {
	return &RedisBroker{
		redisLink: newRedisLink(cfg, "Times the Redis pub/sub link was re-established after a loss (each resynchronizes every room)."),
		rdb:       rdb,
		subs:      make(map[string]bool),
		pending:   make(map[string]chan struct{}),
	}
}

// ErrBrokerClosed is returned by a broker (memory or Redis) used after Close.
var ErrBrokerClosed = errors.New("room: broker closed")

// Errors of Redis calls are *protocol.DependencyError (see
// protocol.DependencyFailed): the server answers them unavailable, or
// overloaded when the caller's own time ran out.

// Run implements Broker: it starts the receive loop, which ends in Close.
func (b *RedisBroker) Run(h BrokerHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	if b.done != nil {
		return errors.New("room: RedisBroker.Run called twice")
	}
	b.h = h
	b.ps = b.rdb.Subscribe(b.ctx) // connects lazily
	b.done = make(chan struct{})
	go b.loop(b.ps)
	return nil
}

// Publish implements Broker.
func (b *RedisBroker) Publish(ctx context.Context, room string, data []byte) error {
	start := time.Now()
	err := b.rdb.Publish(ctx, b.channel(room), data).Err()
	b.observe("publish", start)
	if err != nil {
		return protocol.DependencyFailed(ctx, "publish", err)
	}
	return nil
}

// Subscribe implements Broker: it returns once Redis confirmed the
// subscription, so every message published afterwards is delivered.
func (b *RedisBroker) Subscribe(ctx context.Context, room string) error {
	ch := b.channel(room)
	start := time.Now()
	b.subMu.Lock()
	b.mu.Lock()
	if b.closed || b.done == nil {
		b.mu.Unlock()
		b.subMu.Unlock()
		return ErrBrokerClosed
	}
	wait := make(chan struct{})
	b.pending[ch] = wait
	b.subs[ch] = true
	ps := b.ps
	b.mu.Unlock()
	err := ps.Subscribe(ctx, ch)
	b.subMu.Unlock()
	if err == nil {
		if err = b.confirmed(ctx, wait, start); err == nil {
			return nil
		}
	}
	// Forget the channel, or go-redis would subscribe it again on its next
	// connection, for a room the hub does not know it serves.
	b.drop(ch, wait)
	return protocol.DependencyFailed(ctx, "subscribe", err)
}

// drop forgets a channel whose subscription failed.
func (b *RedisBroker) drop(ch string, wait chan struct{}) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	if b.pending[ch] == wait {
		delete(b.pending, ch)
	}
	delete(b.subs, ch)
	ps := b.ps
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, time.Second)
	defer cancel()
	_ = ps.Unsubscribe(ctx, ch) // forgets ch even when it cannot tell Redis
}

// Unsubscribe implements Broker.
func (b *RedisBroker) Unsubscribe(ctx context.Context, room string) error {
	ch := b.channel(room)
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	delete(b.subs, ch)
	delete(b.pending, ch)
	ps := b.ps
	b.mu.Unlock()
	if ps == nil {
		return nil
	}
	start := time.Now()
	err := ps.Unsubscribe(ctx, ch) // go-redis forgets ch even on error
	b.observe("unsubscribe", start)
	if err != nil {
		return protocol.DependencyFailed(ctx, "unsubscribe", err)
	}
	return nil
}

// Close stops the receive loop and closes the pub/sub connection. It is
// idempotent.
func (b *RedisBroker) Close() error {
	b.cancel()
	b.mu.Lock()
	b.closed = true
	ps, done := b.ps, b.done
	b.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
	if done != nil {
		<-done
	}
	return nil
}

// loop owns receiving: it delivers messages, completes Subscribe calls,
// detects reconnects, and pings a silent link. It ends when Close cancels
// b.ctx.
//
// Reconnects: go-redis resubscribes every channel on a new connection and
// tells nothing but the confirmations. A "subscribe" confirmation no
// Subscribe call awaits therefore means a new connection, and messages may
// have been lost meanwhile: the hub resynchronizes every room, once per
// connection (a confirmation with count 1 is the first on a connection).
// This runs on this goroutine, before the next message is delivered, so no
// event overtakes the fresh snapshots.
func (b *RedisBroker) loop(ps *redis.PubSub) {
	defer close(b.done)
	quiet := silence{heard: time.Now()}
	resynced := false
	failures := 0
	for {
		msg, err := ps.ReceiveTimeout(b.ctx, b.recvTimeout())
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			if isTimeout(err) {
				if b.timedOut(&quiet, ps) {
					b.log.Warn("redis pub/sub link silent; replacing it", "silent", time.Since(quiet.heard).Round(time.Millisecond))
					ps = b.replace()
					quiet.heardNow()
				}
				continue
			}
			// The link is down; the next ReceiveTimeout reconnects (and
			// resubscribes). Back off meanwhile.
			if failures == 0 {
				b.log.Warn("redis pub/sub link lost; reconnecting", "err", err)
			}
			failures++
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(min(time.Duration(failures)*50*time.Millisecond, 500*time.Millisecond)):
			}
			continue
		}
		quiet.heardNow()
		failures = 0
		switch m := msg.(type) {
		case *redis.Message:
			b.deliver(b.h, m)
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if m.Count == 1 {
				resynced = false // the first subscription of a connection
			}
			b.mu.Lock()
			wait := b.pending[m.Channel]
			delete(b.pending, m.Channel)
			b.mu.Unlock()
			if wait != nil {
				close(wait)
				continue
			}
			if !resynced {
				resynced = true
				b.reconnects.Inc()
				b.log.Info("redis pub/sub link re-established; resynchronizing rooms")
				if !b.awaitCommands() {
					return // closed meanwhile
				}
				b.h.HandleReconnect()
			}
		}
	}
}

// replace closes a pub/sub connection that went silent (a half-open link
// go-redis cannot see) and subscribes every channel on a new one; the
// unawaited confirmations then trigger a resync.
func (b *RedisBroker) replace() *redis.PubSub {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	old := b.ps
	if b.closed {
		b.mu.Unlock()
		return old
	}
	b.ps = b.rdb.Subscribe(b.ctx)
	ps := b.ps
	chans := make([]string, 0, len(b.subs))
	for ch := range b.subs {
		chans = append(chans, ch)
	}
	b.mu.Unlock()
	_ = old.Close()
	if len(chans) > 0 {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		// On failure go-redis keeps the channels and subscribes them when
		// the loop's next receive connects.
		_ = ps.Subscribe(ctx, chans...)
		cancel()
	}
	return ps
}

// awaitCommands returns true once Redis answers a command on the client's
// pool, false if the broker closes first. The pub/sub connection may come
// back before the pool does (go-redis probes a pool that failed many dials
// once a second), and the resync that follows needs the pool: without this
// wait its snapshots would fail and viewers would stay stale until the next
// event.
func (b *RedisBroker) awaitCommands() bool {
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		err := b.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-b.ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}
