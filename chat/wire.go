package chat

import (
	"github.com/liveserver/liveserver/protocol"
)

// Envelope keys of the chat's volatile messages: protocol's (the hub
// routes them; see the package doc).
const ReactionsKey = protocol.ReactionsKey

// CommentKey is the envelope key of a comment by handle.
func CommentKey(handle string) string { return protocol.CommentKey(handle) }

// BanKey is the envelope key of the ban of handle.
func BanKey(handle string) string { return protocol.BanKey(handle) }

// CommentAuthor returns the author handle of a comment envelope key.
func CommentAuthor(key string) (string, bool) { return protocol.CommentAuthor(key) }

// BannedHandle returns the handle of a ban envelope key.
func BannedHandle(key string) (string, bool) { return protocol.BannedHandle(key) }

// The messages, as protocol defines them.
type (
	CommentMsg   = protocol.CommentMsg
	ReactionsMsg = protocol.ReactionsMsg
	ModeMsg      = protocol.ChatModeMsg
	DeletedEvent = protocol.CommentDeletedEvent
	ChatEvent    = protocol.ChatEvent
	// BannedMsg is the error a banned user's connections get in the room.
	BannedMsg = protocol.RoomErrorMsg
)

const bannedMessage = "you are banned from this room"

func commentEnvelope(room string, ts int64, c Comment) []byte {
	return protocol.VolatileEnvelope(CommentKey(c.Author.ID), protocol.Marshal(CommentMsg{Type: TypeComment, Room: room, TS: ts, Comment: c}))
}

func reactionsEnvelope(room string, ts int64, c Counts) []byte {
	return protocol.VolatileEnvelope(ReactionsKey, protocol.Marshal(ReactionsMsg{Type: TypeReactions, Room: room, TS: ts, Counts: c.Map()}))
}

func banEnvelope(room, handle string, ts int64) []byte {
	return protocol.VolatileEnvelope(BanKey(handle), protocol.Marshal(BannedMsg{Type: protocol.TypeError, Room: room, TS: ts, Code: CodeBanned, Message: bannedMessage}))
}

func deletedEvent(room string, ids []string) func(seq uint64, ts int64) []byte {
	return func(seq uint64, ts int64) []byte {
		return protocol.Marshal(DeletedEvent{Type: TypeCommentDeleted, Room: room, Seq: seq, TS: ts, Comments: ids})
	}
}

func chatEvent(room string, s Settings) func(seq uint64, ts int64) []byte {
	return func(seq uint64, ts int64) []byte {
		return protocol.Marshal(ChatEvent{Type: TypeChat, Room: room, Seq: seq, TS: ts, Chat: s})
	}
}
