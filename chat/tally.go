package chat

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// ReactionAdder is what a Tally needs of a Store.
type ReactionAdder interface {
	AddReactions(ctx context.Context, room, flush string, counts Counts) (retry time.Duration, err error)
}

// TallyConfig configures a Tally.
type TallyConfig struct {
	Store ReactionAdder // required
	// Node names this node in flush ids; it must differ between the nodes
	// of a cluster (zero: a random id).
	Node string
	// Interval is how often pending counts are flushed; zero:
	// ReactionInterval.
	Interval time.Duration
	// Timeout bounds one flush; zero: 2s.
	Timeout time.Duration
	Logger  *slog.Logger // nil: discard
}

// Tally counts a node's reactions and flushes them to the Store at most
// once per Interval per room, so a storm of hearts costs one store call
// per room per interval, not one per reaction. A flush that failed is
// retried with the same flush id and counts, so a flush whose reply was
// lost is still counted once. It also applies the per-user limit
// (ReactionRate a second, per room and handle, on this node).
//
// Add may be called concurrently. The Tally owns one goroutine, which
// Close ends (after a last flush attempt).
type Tally struct {
	cfg    TallyConfig
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu     sync.Mutex
	rooms  map[string]*tallyRoom
	users  map[userKey]int64 // per (room, handle): GCRA tat, Unix ms
	flushN uint64
}

type tallyRoom struct {
	counts  Counts // counted since the flight below was cut
	flight  *flight
	pending bool // the store holds counts it could not publish yet
}

// flight is a flush not yet acknowledged: retried as it is.
type flight struct {
	id     string
	counts Counts
}

type userKey struct{ room, handle string }

// ReactionRate is how many reactions of one user a second are counted.
const ReactionRate = 10

// NewTally starts a Tally; the caller must call Close.
func NewTally(cfg TallyConfig) *Tally {
	if cfg.Node == "" {
		cfg.Node = newRequestKey()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = ReactionInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tally{cfg: cfg, done: make(chan struct{}), rooms: map[string]*tallyRoom{}, users: map[userKey]int64{}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	go t.loop()
	return t
}

// Add counts one reaction of kind (a KindIndex) by handle in room. It
// reports false, counting nothing, when the user is over ReactionRate.
func (t *Tally) Add(room, handle string, kind int) bool {
	if kind < 0 || kind >= len(Kinds) {
		return false
	}
	now := time.Now().UnixMilli()
	interval := int64(1000 / ReactionRate)
	t.mu.Lock()
	defer t.mu.Unlock()
	k := userKey{room, handle}
	tat := max(t.users[k], now)
	if tat-now > (ReactionRate-1)*interval {
		return false
	}
	t.users[k] = tat + interval
	r := t.rooms[room]
	if r == nil {
		r = &tallyRoom{}
		t.rooms[room] = r
	}
	r.counts[kind]++
	return true
}

// Close flushes once more and stops the Tally. It is idempotent.
func (t *Tally) Close() error {
	t.once.Do(func() {
		t.cancel()
		<-t.done
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Timeout)
		defer cancel()
		t.flush(ctx)
	})
	return nil
}

func (t *Tally) loop() {
	defer close(t.done)
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(t.ctx, t.cfg.Timeout)
			t.flush(ctx)
			cancel()
		}
	}
}

// flush sends every room's flight: the one that failed before, else the
// counts since, else an empty one for a room whose counts the store still
// holds.
func (t *Tally) flush(ctx context.Context) {
	type job struct {
		room string
		f    *flight
	}
	var jobs []job
	now := time.Now().UnixMilli()
	t.mu.Lock()
	for id, r := range t.rooms {
		if r.flight == nil && (!r.counts.IsZero() || r.pending) {
			t.flushN++
			r.flight = &flight{id: t.cfg.Node + ":" + strconv.FormatUint(t.flushN, 10), counts: r.counts}
			r.counts, r.pending = Counts{}, false
		}
		if r.flight == nil {
			delete(t.rooms, id)
			continue
		}
		jobs = append(jobs, job{id, r.flight})
	}
	for k, tat := range t.users {
		if tat <= now {
			delete(t.users, k)
		}
	}
	t.mu.Unlock()
	for _, j := range jobs {
		retry, err := t.cfg.Store.AddReactions(ctx, j.room, j.f.id, j.f.counts)
		t.mu.Lock()
		r := t.rooms[j.room]
		switch {
		case err != nil && ctx.Err() == nil && isNotFound(err):
			r.flight = nil // the room is gone: its counts with it
		case err != nil:
			t.cfg.Logger.Warn("flushing reactions failed", "room", j.room, "err", err)
		default:
			r.flight = nil
			r.pending = retry > 0
		}
		t.mu.Unlock()
	}
}

func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == protocol.CodeNotFound
}
