package room

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/protocol"
)

// presenceScript records one node's count of a room and returns the room's
// total. KEYS[1] is the room's hash of node -> "count|expiry ms" (Redis 7.0
// has no per-field TTL, so each field carries its own); ARGV: node, count
// (0 removes the node), ttl ms. Fields past their expiry (nodes that stopped
// reporting) are dropped and not counted. Redis's clock decides expiry.
var presenceScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if tonumber(ARGV[2]) > 0 then
	redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. string.format('%d', now + ttl))
else
	redis.call('HDEL', KEYS[1], ARGV[1])
end
local total = 0
local f = redis.call('HGETALL', KEYS[1])
for i = 1, #f, 2 do
	local n, exp = string.match(f[i + 1], '^(%d+)|(%d+)$')
	if n and tonumber(exp) > now then
		total = total + tonumber(n)
	else
		redis.call('HDEL', KEYS[1], f[i])
	end
end
if total > 0 then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return total
`)

// RedisPresenceConfig configures a RedisPresence. Zero values mean the
// defaults given.
type RedisPresenceConfig struct {
	// KeyPrefix is the cluster's key prefix (internal/rkeys names a room's
	// counts), used as it is: the server passes its configured prefix.
	KeyPrefix string
	// NodeID names this node's counts; zero: a random UUID.
	NodeID string
	// TTL is how long a node's count lasts without a new report, so a node
	// that dies stops counting after it. The hub reports every second.
	// Zero: 5s.
	TTL time.Duration
	// RoundTrips observes Redis round trips by operation (label "op");
	// nil: not observed.
	RoundTrips *prometheus.HistogramVec
	Logger     *slog.Logger // nil: discard
}

// RedisPresence is the Presence of a cluster: each node writes its local
// count of every room it serves into Redis with an expiry, and a room's
// count is the sum over the nodes whose counts have not expired.
type RedisPresence struct {
	rdb   redis.UniversalClient
	names rkeys.Names
	node  string
	ttl   time.Duration
	rtt   *prometheus.HistogramVec
	log   *slog.Logger

	mu    sync.Mutex
	rooms map[string]bool // rooms with a count of this node in Redis
}

var _ Presence = (*RedisPresence)(nil)

// NewRedisPresence returns a presence on rdb. Close removes this node's
// counts; it does not close rdb.
func NewRedisPresence(rdb redis.UniversalClient, cfg RedisPresenceConfig) *RedisPresence {
	if cfg.NodeID == "" {
		cfg.NodeID = uuid.NewString()
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &RedisPresence{
		rdb: rdb, names: rkeys.New(cfg.KeyPrefix), node: cfg.NodeID, ttl: cfg.TTL, rtt: cfg.RoundTrips, log: cfg.Logger,
		rooms: make(map[string]bool),
	}
}

func (p *RedisPresence) key(room string) string { return p.names.Viewers(room) }

// Report implements Presence: one pipelined round trip for every room (one
// script call per room, as each room's key may live in its own slot).
func (p *RedisPresence) Report(ctx context.Context, local map[string]int64) (map[string]int64, error) {
	if len(local) == 0 {
		return map[string]int64{}, nil
	}
	start := time.Now()
	defer func() {
		if p.rtt != nil {
			p.rtt.WithLabelValues("presence").Observe(time.Since(start).Seconds())
		}
	}()
	ttl := p.ttl.Milliseconds()
	rooms := make([]string, 0, len(local))
	for room := range local {
		rooms = append(rooms, room)
	}
	var cmds []*redis.Cmd
	exec := func(ctx context.Context) error {
		cmds = cmds[:0]
		_, err := p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, room := range rooms {
				cmds = append(cmds, presenceScript.EvalSha(ctx, pipe, []string{p.key(room)}, p.node, local[room], ttl))
			}
			return nil
		})
		return err
	}
	err := exec(ctx)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted (its script cache is empty): load and go again.
		if err = presenceScript.Load(ctx, p.rdb).Err(); err == nil {
			err = exec(ctx)
		}
	}
	if err != nil {
		return nil, protocol.DependencyFailed(ctx, "presence", err)
	}
	totals := make(map[string]int64, len(rooms))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, room := range rooms {
		totals[room], _ = cmds[i].Int64()
		if local[room] > 0 {
			p.rooms[room] = true
		} else {
			delete(p.rooms, room)
		}
	}
	return totals, nil
}

// Close removes this node's counts, so the cluster stops counting its
// viewers at once rather than after TTL. Best effort, within a second.
func (p *RedisPresence) Close() error {
	p.mu.Lock()
	rooms := maps.Clone(p.rooms)
	clear(p.rooms)
	p.mu.Unlock()
	if len(rooms) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for room := range rooms {
			pipe.HDel(ctx, p.key(room), p.node)
		}
		return nil
	})
	if err != nil {
		p.log.Debug("removing this node's viewer counts failed; they expire", "err", err)
	}
	return nil
}
