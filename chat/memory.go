package chat

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/protocol"
)

// EventLog numbers a room's events: inventory.MemoryStore implements it, so
// the chat's events share the room's seq, history and publication order
// with the shop's. Sequence runs f holding the room's lock; each emit
// appends one event that msg encodes for its seq and time (Unix ms). A room
// that does not exist is not_found and f does not run.
type EventLog interface {
	Sequence(ctx context.Context, room string, f func(emit func(msg func(seq uint64, ts int64) []byte)) error) error
}

// Publisher receives the volatile envelopes (comments, reactions, bans):
// the node's broker, the same one the EventLog publishes to.
type Publisher interface {
	Publish(ctx context.Context, room string, data []byte) error
}

// MemoryConfig configures a MemoryStore.
type MemoryConfig struct {
	Events    EventLog     // required
	Publisher Publisher    // required
	Clock     clock.Clock  // nil: the real clock
	Logger    *slog.Logger // nil: discard
}

// MemoryStore keeps the chat of every room of one node. Each operation runs
// inside the EventLog's Sequence for the room (which checks the room
// exists and holds the shop's room lock), then under the chat room's own
// lock: lock order is shop room, then chat room, so its events and
// messages are published in one order with the shop's.
type MemoryStore struct {
	events EventLog
	pub    Publisher
	clock  clock.Clock
	log    *slog.Logger

	mu    sync.Mutex
	rooms map[string]*memRoom
}

var _ Store = (*MemoryStore)(nil)

type memRoom struct {
	mu        sync.Mutex
	lastID    uint64
	recent    []held // oldest first, at most RecentSize
	settings  Settings
	blocks    []string
	mutes     map[string]int64 // handle -> until (Unix ms)
	bans      map[string]bool
	roles     map[string]string // handle -> role, moderator+ only
	users     map[string]*userState
	pruned    int // len(users) after the last prune
	reactions Counts
	reactedAt int64 // when the last reactions message went (Unix ms)
}

type held struct {
	c      Comment
	handle string
}

type userState struct {
	tat  int64 // the rate limiter's theoretical arrival time (GCRA), Unix ms
	last int64 // last comment, Unix ms
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &MemoryStore{events: cfg.Events, pub: cfg.Publisher, clock: cfg.Clock, log: cfg.Logger, rooms: map[string]*memRoom{}}
}

// Forget drops the chat state of a room that was deleted, so that a room
// created again under its id starts afresh.
func (s *MemoryStore) Forget(room string) {
	s.mu.Lock()
	delete(s.rooms, room)
	s.mu.Unlock()
}

// do runs f for the room inside its Sequence, under the chat room's lock.
func (s *MemoryStore) do(ctx context.Context, room string, f func(r *memRoom, now int64, emit func(msg func(seq uint64, ts int64) []byte)) error) error {
	return s.events.Sequence(ctx, room, func(emit func(msg func(seq uint64, ts int64) []byte)) error {
		s.mu.Lock()
		r := s.rooms[room]
		if r == nil {
			r = &memRoom{settings: DefaultSettings(), mutes: map[string]int64{}, bans: map[string]bool{},
				roles: map[string]string{}, users: map[string]*userState{}}
			s.rooms[room] = r
		}
		s.mu.Unlock()
		r.mu.Lock()
		defer r.mu.Unlock()
		return f(r, protocol.Millis(s.clock.Now()), emit)
	})
}

func (s *MemoryStore) publish(ctx context.Context, room string, data []byte) {
	if err := s.pub.Publish(ctx, room, data); err != nil {
		s.log.Warn("publish failed", "room", room, "err", err)
	}
}

// Post implements Store.
func (s *MemoryStore) Post(ctx context.Context, p Post) (Comment, error) {
	text, err := CleanText(p.Text)
	if err != nil {
		return Comment{}, err
	}
	if !ValidHandle(p.Author.ID) {
		return Comment{}, badRequest("invalid author handle")
	}
	var c Comment
	err = s.do(ctx, p.Room, func(r *memRoom, now int64, _ func(func(uint64, int64) []byte)) error {
		h := p.Author.ID
		priv := Privileged(p.Author.Role)
		u := r.users[h]
		if u == nil {
			u = &userState{}
		}
		if !priv {
			if r.bans[h] {
				return errBanned()
			}
			if until, ok := r.mutes[h]; ok {
				if until > now {
					return errMuted(until)
				}
				delete(r.mutes, h)
			}
			if !r.settings.Enabled {
				return errClosed()
			}
			if Blocked(text, r.blocks) {
				return errBlocked()
			}
			if sm := r.settings.SlowModeMS; sm > 0 && u.last > 0 && now-u.last < sm {
				return errSlowMode(u.last + sm - now)
			}
		}
		tat, wait := gcra(u.tat, now)
		if wait > 0 {
			return errRate(wait)
		}
		u.tat, u.last = tat, now
		r.users[h] = u
		r.pruneUsersLocked(now)
		r.recordRoleLocked(p.Author)
		r.lastID++
		c = Comment{ID: strconv.FormatUint(r.lastID, 10), Author: p.Author, Text: text, At: now}
		if len(r.recent) >= RecentSize {
			r.recent = append(r.recent[:0], r.recent[1:]...)
		}
		r.recent = append(r.recent, held{c, h})
		s.publish(ctx, p.Room, commentEnvelope(p.Room, now, c))
		return nil
	})
	return c, err
}

// gcra is the per-user comment rate (1 per CommentInterval, CommentBurst at
// once) as a generic cell rate algorithm: tat is when the user's bucket is
// full again. It returns the new tat, or how long to wait (ms) if the
// comment must be refused.
func gcra(tat, now int64) (newTAT, wait int64) {
	interval := CommentInterval.Milliseconds()
	tolerance := (CommentBurst - 1) * interval
	tat = max(tat, now)
	if d := tat - now - tolerance; d > 0 {
		return 0, d
	}
	return tat + interval, 0
}

// pruneUsersLocked drops the rate state of users idle longer than any limit
// looks back, once the map doubled since the last prune.
func (r *memRoom) pruneUsersLocked(now int64) {
	if len(r.users) < 2*max(r.pruned, 512) {
		return
	}
	for h, u := range r.users {
		if u.tat <= now && now-u.last > userStateTTL.Milliseconds() {
			delete(r.users, h)
		}
	}
	r.pruned = len(r.users)
}

func (r *memRoom) recordRoleLocked(a Author) {
	if Privileged(a.Role) {
		r.roles[a.ID] = a.Role
	} else {
		delete(r.roles, a.ID)
	}
}

// Seen implements Store.
func (s *MemoryStore) Seen(ctx context.Context, room string, a Author) error {
	if err := checkTarget(a.ID); err != nil {
		return err
	}
	return s.do(ctx, room, func(r *memRoom, _ int64, _ func(func(uint64, int64) []byte)) error {
		r.recordRoleLocked(a)
		return nil
	})
}

// Recent implements Store.
func (s *MemoryStore) Recent(ctx context.Context, room string, limit int) ([]Comment, error) {
	if limit < 1 || limit > RecentSize {
		return nil, badRequest("limit must be from 1 to %d", RecentSize)
	}
	var out []Comment
	err := s.do(ctx, room, func(r *memRoom, _ int64, _ func(func(uint64, int64) []byte)) error {
		out = r.lastLocked(limit)
		return nil
	})
	return out, err
}

func (r *memRoom) lastLocked(n int) []Comment {
	hs := r.recent[max(0, len(r.recent)-n):]
	out := make([]Comment, len(hs))
	for i, h := range hs {
		out[i] = h.c
	}
	return out
}

// State implements Store.
func (s *MemoryStore) State(ctx context.Context, room string) (State, error) {
	var st State
	err := s.do(ctx, room, func(r *memRoom, _ int64, _ func(func(uint64, int64) []byte)) error {
		st = State{Chat: r.settings, Comments: r.lastLocked(SnapshotComments)}
		return nil
	})
	return st, err
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, room string, ids []string) error {
	if err := CheckCommentIDs(ids); err != nil {
		return err
	}
	return s.do(ctx, room, func(r *memRoom, _ int64, emit func(func(uint64, int64) []byte)) error {
		var issued []string
		drop := map[string]bool{}
		for _, id := range ids {
			if n, _ := parseID(id); n <= r.lastID && !drop[id] {
				drop[id] = true
				issued = append(issued, id)
			}
		}
		if len(issued) == 0 {
			return errNoComment()
		}
		r.removeLocked(func(h held) bool { return drop[h.c.ID] })
		emit(deletedEvent(room, issued))
		return nil
	})
}

// removeLocked removes the held comments f picks and returns their ids.
func (r *memRoom) removeLocked(f func(held) bool) []string {
	var ids []string
	kept := r.recent[:0]
	for _, h := range r.recent {
		if f(h) {
			ids = append(ids, h.c.ID)
		} else {
			kept = append(kept, h)
		}
	}
	clear(r.recent[len(kept):])
	r.recent = kept
	return ids
}

// purgeLocked deletes the handle's held comments, emitting comment_deleted
// if there were any.
func (r *memRoom) purgeLocked(room, handle string, emit func(func(uint64, int64) []byte)) {
	if ids := r.removeLocked(func(h held) bool { return h.handle == handle }); len(ids) > 0 {
		emit(deletedEvent(room, ids))
	}
}

// Mute implements Store.
func (s *MemoryStore) Mute(ctx context.Context, room, handle string, d time.Duration, purge bool) (int64, error) {
	if err := checkTarget(handle); err != nil {
		return 0, err
	}
	if _, err := CheckMute(d.Milliseconds()); err != nil {
		return 0, err
	}
	var until int64
	err := s.do(ctx, room, func(r *memRoom, now int64, emit func(func(uint64, int64) []byte)) error {
		if _, ok := r.roles[handle]; ok {
			return errPrivileged()
		}
		for h, u := range r.mutes { // expired mutes go first, so the map stays small
			if u <= now {
				delete(r.mutes, h)
			}
		}
		until = now + d.Milliseconds()
		r.mutes[handle] = until
		if purge {
			r.purgeLocked(room, handle, emit)
		}
		return nil
	})
	return until, err
}

func checkTarget(handle string) error {
	if !ValidHandle(handle) {
		return badRequest("user must be a handle (an author id)")
	}
	return nil
}

// Unmute implements Store.
func (s *MemoryStore) Unmute(ctx context.Context, room, handle string) error {
	if err := checkTarget(handle); err != nil {
		return err
	}
	return s.do(ctx, room, func(r *memRoom, _ int64, _ func(func(uint64, int64) []byte)) error {
		delete(r.mutes, handle)
		return nil
	})
}

// Ban implements Store.
func (s *MemoryStore) Ban(ctx context.Context, room, handle string) error {
	if err := checkTarget(handle); err != nil {
		return err
	}
	return s.do(ctx, room, func(r *memRoom, now int64, emit func(func(uint64, int64) []byte)) error {
		if _, ok := r.roles[handle]; ok {
			return errPrivileged()
		}
		r.bans[handle] = true
		r.purgeLocked(room, handle, emit)
		s.publish(ctx, room, banEnvelope(room, handle, now))
		return nil
	})
}

// Unban implements Store.
func (s *MemoryStore) Unban(ctx context.Context, room, handle string) error {
	if err := checkTarget(handle); err != nil {
		return err
	}
	return s.do(ctx, room, func(r *memRoom, _ int64, _ func(func(uint64, int64) []byte)) error {
		delete(r.bans, handle)
		return nil
	})
}

// Banned implements Store.
func (s *MemoryStore) Banned(ctx context.Context, room, handle string) (bool, error) {
	var b bool
	err := s.do(ctx, room, func(r *memRoom, _ int64, _ func(func(uint64, int64) []byte)) error {
		b = r.bans[handle]
		return nil
	})
	return b, err
}

// IsBanned is Banned without the room's Sequence: it takes only the chat
// room's lock, so inventory may call it while it holds the shop room's lock
// (a purchase refusing a banned buyer; the lock order is shop room, then
// chat room). It does not check that the room exists.
func (s *MemoryStore) IsBanned(room, handle string) bool {
	s.mu.Lock()
	r := s.rooms[room]
	s.mu.Unlock()
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bans[handle]
}

// UpdateSettings implements Store.
func (s *MemoryStore) UpdateSettings(ctx context.Context, room string, p SettingsPatch) (Settings, error) {
	if err := p.Validate(); err != nil {
		return Settings{}, err
	}
	var out Settings
	err := s.do(ctx, room, func(r *memRoom, _ int64, emit func(func(uint64, int64) []byte)) error {
		r.settings = p.Apply(r.settings)
		out = r.settings
		emit(chatEvent(room, out))
		return nil
	})
	return out, err
}

// BlockList implements Store.
func (s *MemoryStore) BlockList(ctx context.Context, room string) ([]string, error) {
	var out []string
	err := s.do(ctx, room, func(r *memRoom, _ int64, _ func(func(uint64, int64) []byte)) error {
		out = append([]string{}, r.blocks...)
		return nil
	})
	return out, err
}

// SetBlockList implements Store.
func (s *MemoryStore) SetBlockList(ctx context.Context, room string, terms []string) error {
	terms, err := CleanBlockList(terms)
	if err != nil {
		return err
	}
	return s.do(ctx, room, func(r *memRoom, _ int64, _ func(func(uint64, int64) []byte)) error {
		r.blocks = terms
		return nil
	})
}

// AddReactions implements Store. One node has no retries to guard against,
// so the flush id is not needed.
func (s *MemoryStore) AddReactions(ctx context.Context, room, _ string, counts Counts) (time.Duration, error) {
	for _, n := range counts {
		if n < 0 {
			return 0, badRequest("negative reaction count")
		}
	}
	var retry time.Duration
	err := s.do(ctx, room, func(r *memRoom, now int64, _ func(func(uint64, int64) []byte)) error {
		for i, n := range counts {
			r.reactions[i] += n
		}
		if r.reactions.IsZero() {
			return nil
		}
		if wait := r.reactedAt + ReactionInterval.Milliseconds() - now; wait > 0 {
			retry = time.Duration(wait) * time.Millisecond
			return nil
		}
		s.publish(ctx, room, reactionsEnvelope(room, now, r.reactions))
		r.reactions, r.reactedAt = Counts{}, now
		return nil
	})
	return retry, err
}

// ForgetRoom is Forget with the signature of RedisStore.ForgetRoom.
func (s *MemoryStore) ForgetRoom(_ context.Context, room string) error {
	s.Forget(room)
	return nil
}
