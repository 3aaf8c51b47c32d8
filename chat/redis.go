package chat

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/rscript"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// Every operation is one Lua script (lua/*.lua, each preceded by
// lua/common.lua) on the room's keys, so it is atomic across the cluster.
//
//go:embed lua/*.lua
var luaFS embed.FS

var (
	scriptPost      = chatScript("post.lua")
	scriptDelete    = chatScript("delete.lua")
	scriptModerate  = chatScript("moderate.lua")
	scriptSettings  = chatScript("settings.lua")
	scriptRead      = chatScript("read.lua")
	scriptBlockList = chatScript("blocklist.lua")
	scriptReactions = chatScript("reactions.lua")
)

func mustRead(name string) string {
	b, err := luaFS.ReadFile("lua/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func chatScript(name string) *rscript.Script {
	return rscript.New(strings.NewReplacer(
		"$HISTORY", strconv.Itoa(inventory.HistorySize),
		"$RECENT", strconv.Itoa(RecentSize),
		"$BANNED_MESSAGE", bannedMessage,
	).Replace(mustRead("common.lua") + "\n" + mustRead(name)))
}

// requestTTLms is how long an answer is kept so that a script go-redis
// retries after a lost reply answers the same. postTTLms is the same for a
// comment (never posted twice), shorter because there are many: go-redis
// retries within a few seconds.
var (
	requestTTLms = time.Minute.Milliseconds()
	postTTLms    = (10 * time.Second).Milliseconds()
)

// RedisConfig configures a RedisStore.
type RedisConfig struct {
	// KeyPrefix starts every key and channel (internal/rkeys), used as it
	// is. It must be the inventory.RedisStore's prefix: the chat shares its
	// rooms' seq, history and channel.
	KeyPrefix string
	Logger    *slog.Logger // nil: discard
}

// RedisStore keeps the chat of every room in Redis, beside the room's shop
// (see keys.go), so every node enforces the same state. It holds no
// goroutines; it does not close the Redis client. Errors from Redis are
// *protocol.DependencyError (unavailable, or overloaded when the request's
// time ran out).
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger

	mu     sync.Mutex
	blocks map[string]blockList // by room: this node's copy of the block list
}

type blockList struct {
	version string
	terms   []string
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store on rdb.
func NewRedisStore(rdb redis.UniversalClient, cfg RedisConfig) *RedisStore {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &RedisStore{rdb: rdb, prefix: cfg.KeyPrefix, log: cfg.Logger, blocks: map[string]blockList{}}
}

// LoadHandleKey returns the cluster's handle key, creating it at random if
// no node did yet (SET NX, so every node ends with the same key).
func LoadHandleKey(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]byte, error) {
	k := make([]byte, KeyLen)
	_, _ = rand.Read(k)
	name := handleKeyName(prefix)
	if err := rdb.SetNX(ctx, name, k, 0).Err(); err != nil {
		return nil, protocol.DependencyFailed(ctx, "chat handle key", err)
	}
	got, err := rdb.Get(ctx, name).Bytes()
	if err != nil {
		return nil, protocol.DependencyFailed(ctx, "chat handle key", err)
	}
	if len(got) != KeyLen {
		return nil, fmt.Errorf("chat: the handle key at %s is %d bytes, want %d", name, len(got), KeyLen)
	}
	return got, nil
}

func newRequestKey() string { return uuid.NewString() }

// run runs a chat script; it returns the values after "ok", or the refusal
// reason and its arguments.
func (s *RedisStore) run(ctx context.Context, op string, sc *rscript.Script, room, handle, req string, args ...any) (vals []any, reason string, err error) {
	argv := append([]any{room, eventsChannel(s.prefix, room)}, args...)
	v, err := sc.For(s.rdb).Run(ctx, s.rdb, chatKeys(s.prefix, room, handle, req), argv...).Slice()
	if err != nil {
		return nil, "", protocol.DependencyFailed(ctx, "chat "+op, err)
	}
	if len(v) < 1 {
		return nil, "", fmt.Errorf("chat: %s: malformed script reply %v", op, v)
	}
	if v[0] == "!" {
		if len(v) < 2 {
			return nil, "", fmt.Errorf("chat: %s: malformed refusal %v", op, v)
		}
		reason, _ = v[1].(string)
		if reason == "no_room" {
			return nil, reason, errNoRoom(room)
		}
		return v[2:], reason, nil
	}
	return v[1:], "", nil
}

func str(vals []any, i int) string {
	if i < len(vals) {
		s, _ := vals[i].(string)
		return s
	}
	return ""
}

func num(vals []any, i int) int64 {
	n, _ := strconv.ParseInt(str(vals, i), 10, 64)
	return n
}

func strs(vals []any, i int) []string {
	var raw []any
	if i < len(vals) {
		raw, _ = vals[i].([]any)
	}
	out := make([]string, len(raw))
	for j := range raw {
		out[j] = str(raw, j)
	}
	return out
}

// Post implements Store. The block list is matched here, against this
// node's copy; the script refuses a copy whose version is not the room's,
// and then the comment is checked again against the fresh list, so no
// comment passes an outdated list.
func (s *RedisStore) Post(ctx context.Context, p Post) (Comment, error) {
	text, err := CleanText(p.Text)
	if err != nil {
		return Comment{}, err
	}
	if !ValidHandle(p.Author.ID) {
		return Comment{}, badRequest("invalid author handle")
	}
	author, err := json.Marshal(p.Author)
	if err != nil {
		return Comment{}, err
	}
	textJSON, _ := json.Marshal(text) // a string always encodes
	for attempt := 0; ; attempt++ {
		bl, known := s.blockList(p.Room)
		version := bl.version
		if !known {
			version = "?" // never a version: the script answers the list
		}
		blocked := "0"
		if Blocked(text, bl.terms) {
			blocked = "1"
		}
		vals, reason, err := s.run(ctx, "post", scriptPost, p.Room, p.Author.ID, newRequestKey(),
			p.Author.ID, p.Author.Role, author, textJSON, version, blocked,
			postTTLms, userStateTTL.Milliseconds(), CommentInterval.Milliseconds(), (CommentBurst-1)*CommentInterval.Milliseconds())
		if err != nil {
			return Comment{}, err
		}
		switch reason {
		case "":
			var c Comment
			if err := json.Unmarshal([]byte(str(vals, 0)), &c); err != nil {
				return Comment{}, fmt.Errorf("chat: post: malformed comment: %w", err)
			}
			return c, nil
		case "stale_blocklist":
			s.setBlockList(p.Room, blockList{str(vals, 0), strs(vals, 1)})
			if attempt < 3 {
				continue
			}
			return Comment{}, fmt.Errorf("chat: post: the block list of room %s kept changing", p.Room)
		case "banned":
			return Comment{}, errBanned()
		case "muted":
			return Comment{}, errMuted(num(vals, 0))
		case "chat_closed":
			return Comment{}, errClosed()
		case "blocked":
			return Comment{}, errBlocked()
		case "slow_mode":
			return Comment{}, errSlowMode(num(vals, 0))
		case "rate_limited":
			return Comment{}, errRate(num(vals, 0))
		}
		return Comment{}, fmt.Errorf("chat: post: unknown refusal %q", reason)
	}
}

func (s *RedisStore) blockList(room string) (blockList, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bl, ok := s.blocks[room]
	return bl, ok
}

func (s *RedisStore) setBlockList(room string, bl blockList) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks[room] = bl
}

// moderate runs the moderation script; it answers its values or the error
// the refusal means.
func (s *RedisStore) moderate(ctx context.Context, room, action, handle string, args ...any) ([]any, error) {
	vals, reason, err := s.run(ctx, action, scriptModerate, room, "", newRequestKey(),
		append([]any{requestTTLms, action, handle}, args...)...)
	if err != nil {
		return nil, err
	}
	switch reason {
	case "":
		return vals, nil
	case "privileged":
		return nil, errPrivileged()
	}
	return nil, fmt.Errorf("chat: %s: unknown refusal %q", action, reason)
}

// Seen implements Store.
func (s *RedisStore) Seen(ctx context.Context, room string, a Author) error {
	if err := checkTarget(a.ID); err != nil {
		return err
	}
	_, err := s.moderate(ctx, room, "seen", a.ID, a.Role)
	return err
}

// read runs the read script.
func (s *RedisStore) read(ctx context.Context, room string, comments int, terms bool, handle string) ([]any, error) {
	t := "0"
	if terms {
		t = "1"
	}
	vals, _, err := s.run(ctx, "read", scriptRead, room, "", "", comments, t, handle)
	if err == nil && len(vals) != 5 {
		err = fmt.Errorf("chat: read: malformed reply")
	}
	return vals, err
}

func decodeComments(raw []string) ([]Comment, error) {
	out := make([]Comment, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			return nil, fmt.Errorf("chat: malformed held comment: %w", err)
		}
	}
	return out, nil
}

// Recent implements Store.
func (s *RedisStore) Recent(ctx context.Context, room string, limit int) ([]Comment, error) {
	if limit < 1 || limit > RecentSize {
		return nil, badRequest("limit must be from 1 to %d", RecentSize)
	}
	vals, err := s.read(ctx, room, limit, false, "")
	if err != nil {
		return nil, err
	}
	return decodeComments(strs(vals, 1))
}

// State implements Store.
func (s *RedisStore) State(ctx context.Context, room string) (State, error) {
	vals, err := s.read(ctx, room, SnapshotComments, false, "")
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal([]byte(str(vals, 0)), &st.Chat); err != nil {
		return State{}, fmt.Errorf("chat: malformed settings: %w", err)
	}
	st.Comments, err = decodeComments(strs(vals, 1))
	return st, err
}

// Delete implements Store.
func (s *RedisStore) Delete(ctx context.Context, room string, ids []string) error {
	if err := CheckCommentIDs(ids); err != nil {
		return err
	}
	args := []any{requestTTLms}
	for _, id := range ids {
		args = append(args, id)
	}
	_, reason, err := s.run(ctx, "delete", scriptDelete, room, "", newRequestKey(), args...)
	if err == nil && reason == "no_comment" {
		err = errNoComment()
	} else if err == nil && reason != "" {
		err = fmt.Errorf("chat: delete: unknown refusal %q", reason)
	}
	return err
}

// Mute implements Store.
func (s *RedisStore) Mute(ctx context.Context, room, handle string, d time.Duration, purge bool) (int64, error) {
	if err := checkTarget(handle); err != nil {
		return 0, err
	}
	if _, err := CheckMute(d.Milliseconds()); err != nil {
		return 0, err
	}
	p := "0"
	if purge {
		p = "1"
	}
	vals, err := s.moderate(ctx, room, "mute", handle, d.Milliseconds(), p)
	if err != nil {
		return 0, err
	}
	return num(vals, 0), nil
}

// Unmute implements Store.
func (s *RedisStore) Unmute(ctx context.Context, room, handle string) error {
	if err := checkTarget(handle); err != nil {
		return err
	}
	_, err := s.moderate(ctx, room, "unmute", handle)
	return err
}

// Ban implements Store.
func (s *RedisStore) Ban(ctx context.Context, room, handle string) error {
	if err := checkTarget(handle); err != nil {
		return err
	}
	_, err := s.moderate(ctx, room, "ban", handle)
	return err
}

// Unban implements Store.
func (s *RedisStore) Unban(ctx context.Context, room, handle string) error {
	if err := checkTarget(handle); err != nil {
		return err
	}
	_, err := s.moderate(ctx, room, "unban", handle)
	return err
}

// Banned implements Store.
func (s *RedisStore) Banned(ctx context.Context, room, handle string) (bool, error) {
	vals, err := s.read(ctx, room, 0, false, handle)
	if err != nil {
		return false, err
	}
	return str(vals, 4) == "1", nil
}

// UpdateSettings implements Store.
func (s *RedisStore) UpdateSettings(ctx context.Context, room string, p SettingsPatch) (Settings, error) {
	if err := p.Validate(); err != nil {
		return Settings{}, err
	}
	enabled, slow, annMode, ann := "", "", "", []byte("null")
	if p.Enabled != nil {
		enabled = "0"
		if *p.Enabled {
			enabled = "1"
		}
	}
	if p.SlowModeMS != nil {
		slow = strconv.FormatInt(*p.SlowModeMS, 10)
	}
	if p.Announcement != nil {
		annMode = "set"
		ann, _ = json.Marshal(*p.Announcement)
	} else if p.ClearAnnouncement {
		annMode = "clear"
	}
	vals, _, err := s.run(ctx, "settings", scriptSettings, room, "", newRequestKey(), requestTTLms, enabled, slow, annMode, ann)
	if err != nil {
		return Settings{}, err
	}
	var out Settings
	if err := json.Unmarshal([]byte(str(vals, 0)), &out); err != nil {
		return Settings{}, fmt.Errorf("chat: malformed settings: %w", err)
	}
	return out, nil
}

// BlockList implements Store.
func (s *RedisStore) BlockList(ctx context.Context, room string) ([]string, error) {
	vals, err := s.read(ctx, room, 0, true, "")
	if err != nil {
		return nil, err
	}
	terms := strs(vals, 3)
	s.setBlockList(room, blockList{str(vals, 2), terms})
	return append([]string{}, terms...), nil
}

// SetBlockList implements Store.
func (s *RedisStore) SetBlockList(ctx context.Context, room string, terms []string) error {
	terms, err := CleanBlockList(terms)
	if err != nil {
		return err
	}
	args := make([]any, len(terms))
	for i, t := range terms {
		args[i] = t
	}
	_, _, err = s.run(ctx, "blocklist", scriptBlockList, room, "", "", args...)
	return err
}

// AddReactions implements Store: flush names the request key that makes a
// retried script count once.
func (s *RedisStore) AddReactions(ctx context.Context, room, flush string, counts Counts) (time.Duration, error) {
	if flush == "" || len(flush) > 128 {
		return 0, errors.New("chat: a reactions flush needs an id of 1 to 128 bytes")
	}
	args := make([]any, 0, len(counts)+2)
	for _, n := range counts {
		if n < 0 {
			return 0, badRequest("negative reaction count")
		}
		args = append(args, n)
	}
	args = append(args, ReactionInterval.Milliseconds(), requestTTLms)
	vals, _, err := s.run(ctx, "reactions", scriptReactions, room, "", "reactions:"+flush, args...)
	if err != nil {
		return 0, err
	}
	return time.Duration(num(vals, 0)) * time.Millisecond, nil
}

// ForgetRoom deletes the chat state of a room that was deleted (comments,
// settings, block list, mutes, bans, roles, pending reactions), so that a
// room created again under its id starts afresh. The per-user and
// per-request keys expire on their own (within MaxSlowMode and a minute).
func (s *RedisStore) ForgetRoom(ctx context.Context, room string) error {
	keys := chatKeys(s.prefix, room, "", "")[2:10] // the chat's own fixed keys
	if err := s.rdb.Del(ctx, keys...).Err(); err != nil {
		return protocol.DependencyFailed(ctx, "chat forget", err)
	}
	s.mu.Lock()
	delete(s.blocks, room)
	s.mu.Unlock()
	return nil
}
