package chat

import (
	"context"
	"fmt"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// Roles an author has in a room (the edge decides it from the token).
const (
	RoleViewer    = "viewer"
	RoleModerator = "moderator"
	RoleCreator   = "creator"
	RoleAdmin     = "admin"
)

// Privileged reports whether role is moderator+ (moderator, creator or
// admin of the room): exempt from chat_closed, slow mode and the block list,
// and never muted or banned.
func Privileged(role string) bool {
	return role == RoleModerator || role == RoleCreator || role == RoleAdmin
}

// Server message types added by the chat.
const (
	TypeComment        = protocol.TypeComment
	TypeReactions      = protocol.TypeReactions
	TypeChatMode       = protocol.TypeChatMode
	TypeCommentDeleted = protocol.TypeCommentDeleted
	TypeChat           = protocol.TypeChat
)

// Error codes added by the chat (docs/PROTOCOL.md, version 1.1). The others
// it uses (bad_request, forbidden, not_found, rate_limited) are protocol's.
const (
	CodeMuted      = protocol.CodeMuted
	CodeBanned     = protocol.CodeBanned
	CodeSlowMode   = protocol.CodeSlowMode
	CodeBlocked    = protocol.CodeBlocked
	CodeChatClosed = protocol.CodeChatClosed
)

// Limits of the protocol.
const (
	MaxTextLen         = 300 // characters of a comment after trimming
	MaxNameLen         = 32  // characters of a display name
	MaxAnnouncementLen = 200
	MaxSlowMode        = 600_000 // ms
	MinMute            = time.Second
	MaxMute            = 24 * time.Hour
	MaxBlockTerms      = 200
	MaxTermLen         = 50
	// SnapshotComments is how many comments a snapshot carries; RecentSize
	// how many the store keeps (GET .../comments?limit=100).
	SnapshotComments = 50
	RecentSize       = 100
	// A user posts at most 1 comment per CommentInterval, CommentBurst at
	// once.
	CommentInterval = time.Second
	CommentBurst    = 3
	// ReactionInterval is the least time between two reactions messages of
	// a room, across the cluster.
	ReactionInterval = 250 * time.Millisecond
	// userStateTTL is how long a user's rate and slow-mode state is kept
	// after its last comment: the longest slow mode.
	userStateTTL = MaxSlowMode * time.Millisecond
)

// Reaction kinds, in the order their counts are encoded (alphabetical, as
// encoding/json orders a map).
var Kinds = [...]string{"clap", "fire", "heart", "laugh", "wow"}

// KindIndex is the index of kind in Kinds, or -1 for an invalid kind.
func KindIndex(kind string) int {
	for i, k := range Kinds {
		if k == kind {
			return i
		}
	}
	return -1
}

// Counts are reaction counts by KindIndex.
type Counts [len(Kinds)]int64

// IsZero reports whether no kind has a count.
func (c Counts) IsZero() bool { return c == Counts{} }

// Map is c as the reactions message carries it: kinds with 0 left out.
func (c Counts) Map() map[string]int64 {
	m := make(map[string]int64, len(c))
	for i, n := range c {
		if n != 0 {
			m[Kinds[i]] = n
		}
	}
	return m
}

// The wire shapes are protocol's (the wire package); these names stay so
// the chat reads as before.
type (
	// Author is a person as broadcasts show it: ID is the per-room handle.
	Author = protocol.Author
	// Comment is one comment. ID is a decimal integer, growing per room.
	Comment = protocol.Comment
	// Settings are a room's chat settings; Announcement nil is none.
	Settings = protocol.ChatSettings
)

// DefaultSettings are a room's settings until a moderator changes them.
func DefaultSettings() Settings { return Settings{Enabled: true} }

// SettingsPatch is a chat_settings request: nil fields stay as they are.
// ClearAnnouncement (the JSON null) removes the announcement.
type SettingsPatch struct {
	Enabled           *bool
	SlowModeMS        *int64
	Announcement      *string
	ClearAnnouncement bool
}

// State is the chat part of a snapshot.
type State struct {
	Chat     Settings  `json:"chat"`
	Comments []Comment `json:"comments"` // the last SnapshotComments, oldest first
}

// Post is a comment to post. Text must have passed CleanText (the stores
// check again); Author.Role decides the exemptions.
type Post struct {
	Room   string
	Author Author
	Text   string
}

// Store is the chat state of every room. Errors a client should see are
// *Error (which unwraps to a *protocol.Error); anything else means the
// store failed (in Redis: unavailable). Every method answers not_found for
// a room that does not exist.
//
// Moderation takes the target's handle and does not authorize the caller:
// the edge checks the caller is moderator+ of the room.
type Store interface {
	// Post stores a comment and publishes it, or refuses it with banned,
	// muted (Until), chat_closed, blocked, slow_mode (RetryAfterMS) or
	// rate_limited (RetryAfterMS), checked in that order.
	Post(ctx context.Context, p Post) (Comment, error)
	// Seen records the role of an author who joined, so that a moderator+
	// who never posted still cannot be muted or banned.
	Seen(ctx context.Context, room string, a Author) error
	// Recent is the last limit (1 to RecentSize) visible comments, oldest
	// first.
	Recent(ctx context.Context, room string, limit int) ([]Comment, error)
	// State is the chat part of a snapshot. Read it after the shop's
	// snapshot: whatever changes it later comes with a larger seq.
	State(ctx context.Context, room string) (State, error)
	// Delete removes comments and emits one comment_deleted with the ids
	// that were ever issued (also those no longer held: a client may still
	// show them); not_found if none was.
	Delete(ctx context.Context, room string, ids []string) error
	// Mute refuses the handle's comments for d (MinMute to MaxMute) and
	// returns the end (Unix ms); purge also deletes its held comments.
	// forbidden for a handle known to be moderator+.
	Mute(ctx context.Context, room, handle string, d time.Duration, purge bool) (until int64, err error)
	Unmute(ctx context.Context, room, handle string) error
	// Ban bans the handle until Unban, deletes its held comments and
	// publishes BanKey(handle) for the hub to remove its connections on
	// every node. forbidden for a handle known to be moderator+.
	Ban(ctx context.Context, room, handle string) error
	Unban(ctx context.Context, room, handle string) error
	// Banned reports whether the handle is banned (for join, reactions,
	// purchases and bids).
	Banned(ctx context.Context, room, handle string) (bool, error)
	// UpdateSettings applies the patch and emits chat with the result.
	UpdateSettings(ctx context.Context, room string, p SettingsPatch) (Settings, error)
	BlockList(ctx context.Context, room string) ([]string, error)
	// SetBlockList replaces the block list (terms as CleanBlockList left
	// them).
	SetBlockList(ctx context.Context, room string, terms []string) error
	// AddReactions adds counts to the room's pending reactions, counted
	// exactly once per flush id (a retried call is not counted twice).
	// When the room's last reactions message is at least ReactionInterval
	// old, the pending counts of the whole cluster are published as one and
	// reset; otherwise they stay pending and retry says when to call again
	// (with zero counts and a new flush id) so they are not left behind.
	AddReactions(ctx context.Context, room, flush string, counts Counts) (retry time.Duration, err error)
}

// Error is a refusal a client should see, with the extra fields of its
// code. It unwraps to the *protocol.Error of its code and message, so an
// edge that knows only protocol errors still answers the right code.
type Error struct {
	Code    string
	Message string
	// Until is the end of a mute (Unix ms), with muted.
	Until int64
	// RetryAfterMS is how long to wait, with slow_mode and rate_limited.
	RetryAfterMS int64
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the protocol error of the same code, message and extra
// fields, which is what a client sees.
func (e *Error) Unwrap() error {
	return &protocol.Error{Code: e.Code, Message: e.Message, Until: e.Until, RetryAfterMS: e.RetryAfterMS}
}

// Fields are the extra fields of the error object on the wire (until,
// retry_after_ms), nil when there are none.
func (e *Error) Fields() map[string]any {
	switch {
	case e.Until != 0:
		return map[string]any{"until": e.Until}
	case e.RetryAfterMS != 0:
		return map[string]any{"retry_after_ms": e.RetryAfterMS}
	}
	return nil
}

func errorf(code, msg string) *Error { return &Error{Code: code, Message: msg} }

func errNoRoom(room string) error {
	return errorf(protocol.CodeNotFound, fmt.Sprintf("room %q does not exist", room))
}

// Refusals, shared by both stores so they answer alike.
func errBanned() error { return errorf(CodeBanned, bannedMessage) }
func errMuted(until int64) error {
	return &Error{Code: CodeMuted, Message: "you are muted in this room", Until: until}
}
func errClosed() error  { return errorf(CodeChatClosed, "chat is closed") }
func errBlocked() error { return errorf(CodeBlocked, "the comment contains a blocked term") }
func errSlowMode(wait int64) error {
	return &Error{Code: CodeSlowMode, Message: "slow mode: wait before commenting again", RetryAfterMS: max(wait, 1)}
}
func errRate(wait int64) error {
	return &Error{Code: protocol.CodeRateLimited, Message: "at most 1 comment per second (3 at once)", RetryAfterMS: max(wait, 1)}
}
func errPrivileged() error {
	return errorf(protocol.CodeForbidden, "a moderator, creator or admin cannot be muted or banned")
}
func errNoComment() error { return errorf(protocol.CodeNotFound, "no such comment") }
