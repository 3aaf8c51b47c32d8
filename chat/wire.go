package chat

import (
	"strings"

	"github.com/liveserver/liveserver/protocol"
)

// Conflation keys of the chat's volatile envelopes (see the package doc).
const (
	commentKeyPrefix = "comment:"
	banKeyPrefix     = "ban:"
	// ReactionsKey is the key of the reactions message: a newer one may
	// not replace an older one (each holds the counts since the previous),
	// so the hub sends them all.
	ReactionsKey = "reactions"
)

// CommentKey is the envelope key of a comment by handle. The hub must not
// conflate these: every comment is delivered (or sampled) on its own.
func CommentKey(handle string) string { return commentKeyPrefix + handle }

// BanKey is the envelope key of the ban of handle: its message goes only to
// that handle's connections in the room, which then leave it.
func BanKey(handle string) string { return banKeyPrefix + handle }

// CommentAuthor returns the author handle of a comment envelope key.
func CommentAuthor(key string) (handle string, ok bool) {
	return strings.CutPrefix(key, commentKeyPrefix)
}

// BannedHandle returns the handle of a ban envelope key.
func BannedHandle(key string) (handle string, ok bool) {
	return strings.CutPrefix(key, banKeyPrefix)
}

// CommentMsg is the comment message.
type CommentMsg struct {
	Type    string  `json:"type"`
	Room    string  `json:"room"`
	TS      int64   `json:"ts"`
	Comment Comment `json:"comment"`
}

// ReactionsMsg is the reactions message.
type ReactionsMsg struct {
	Type   string           `json:"type"`
	Room   string           `json:"room"`
	TS     int64            `json:"ts"`
	Counts map[string]int64 `json:"counts"`
}

// ModeMsg is the chat_mode message (sent by the hub).
type ModeMsg struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	TS      int64  `json:"ts"`
	Sampled bool   `json:"sampled"`
	Rate    int    `json:"rate"`
}

// DeletedEvent is the comment_deleted room event.
type DeletedEvent struct {
	Type     string   `json:"type"`
	Room     string   `json:"room"`
	Seq      uint64   `json:"seq"`
	TS       int64    `json:"ts"`
	Comments []string `json:"comments"`
}

// ChatEvent is the chat room event.
type ChatEvent struct {
	Type string   `json:"type"`
	Room string   `json:"room"`
	Seq  uint64   `json:"seq"`
	TS   int64    `json:"ts"`
	Chat Settings `json:"chat"`
}

// BannedMsg is the error a banned user's connections get in the room.
type BannedMsg struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	TS      int64  `json:"ts"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

const bannedMessage = "you are banned from this room"

func commentEnvelope(room string, ts int64, c Comment) []byte {
	return protocol.VolatileEnvelope(CommentKey(c.Author.ID), protocol.Marshal(CommentMsg{TypeComment, room, ts, c}))
}

func reactionsEnvelope(room string, ts int64, c Counts) []byte {
	return protocol.VolatileEnvelope(ReactionsKey, protocol.Marshal(ReactionsMsg{TypeReactions, room, ts, c.Map()}))
}

func banEnvelope(room, handle string, ts int64) []byte {
	return protocol.VolatileEnvelope(BanKey(handle), protocol.Marshal(BannedMsg{protocol.TypeError, room, ts, CodeBanned, bannedMessage}))
}

func deletedEvent(room string, ids []string) func(seq uint64, ts int64) []byte {
	return func(seq uint64, ts int64) []byte {
		return protocol.Marshal(DeletedEvent{TypeCommentDeleted, room, seq, ts, ids})
	}
}

func chatEvent(room string, s Settings) func(seq uint64, ts int64) []byte {
	return func(seq uint64, ts int64) []byte {
		return protocol.Marshal(ChatEvent{TypeChat, room, seq, ts, s})
	}
}
