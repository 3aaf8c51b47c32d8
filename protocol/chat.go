package protocol

import (
	"encoding/json"
	"strconv"
	"strings"
)

// The chat's part of the wire format (docs/PROTOCOL.md, version 1.1:
// "People in public", "Chat", "Moderation"). Package chat owns the rules
// (text, kinds, handles, limits); this file owns the shapes.

// Client message types of the chat.
const (
	TypeComment       = "comment"
	TypeReact         = "react"
	TypeDeleteComment = "delete_comment"
	TypeMute          = "mute"
	TypeUnmute        = "unmute"
	TypeBan           = "ban"
	TypeUnban         = "unban"
	TypeChatSettings  = "chat_settings"
)

// Server message types of the chat. (comment is also a client type, with
// the same name.)
const (
	TypeReactions      = "reactions"
	TypeChatMode       = "chat_mode"
	TypeCommentDeleted = "comment_deleted"
	TypeChat           = "chat"
)

// Error codes of the chat.
const (
	CodeMuted      = "muted"
	CodeBanned     = "banned"
	CodeSlowMode   = "slow_mode"
	CodeBlocked    = "blocked"
	CodeChatClosed = "chat_closed"
)

// Limits of chat input checked while decoding (package chat checks the
// rest: text, kinds, handles).
const (
	MinMuteMS     = 1000
	MaxMuteMS     = 24 * 3600 * 1000
	MaxSlowModeMS = 600_000
)

// Author is a person as broadcasts show them: ID is an opaque per-room
// handle, never the user id.
type Author struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Comment is one comment. ID is a decimal integer, growing per room.
type Comment struct {
	ID     string `json:"id"`
	Author Author `json:"author"`
	Text   string `json:"text"`
	At     int64  `json:"at"`
}

// ChatSettings are a room's chat settings; Announcement nil is none.
type ChatSettings struct {
	Enabled      bool    `json:"enabled"`
	SlowModeMS   int64   `json:"slow_mode_ms"`
	Announcement *string `json:"announcement"`
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

// ChatModeMsg is the chat_mode message.
type ChatModeMsg struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	TS      int64  `json:"ts"`
	Sampled bool   `json:"sampled"`
	Rate    int    `json:"rate"`
}

// CommentDeletedEvent is the comment_deleted room event.
type CommentDeletedEvent struct {
	Type     string   `json:"type"`
	Room     string   `json:"room"`
	Seq      uint64   `json:"seq"`
	TS       int64    `json:"ts"`
	Comments []string `json:"comments"`
}

// ChatEvent is the chat room event.
type ChatEvent struct {
	Type string       `json:"type"`
	Room string       `json:"room"`
	Seq  uint64       `json:"seq"`
	TS   int64        `json:"ts"`
	Chat ChatSettings `json:"chat"`
}

// RoomErrorMsg is an error message about one room, not tied to a request:
// {"type":"error","room","ts","code","message"} (a banned user's
// connections get one as they leave the room).
type RoomErrorMsg struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	TS      int64  `json:"ts"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ChatFields are the fields of the chat's client messages. For chat_settings
// a nil field is left as it is; ClearAnnouncement is "announcement":null.
type ChatFields struct {
	Text    string // comment
	Kind    string // react
	Comment string // delete_comment
	User    string // mute, unmute, ban, unban: an author handle
	Purge   bool   // mute

	Enabled           *bool
	SlowModeMS        *int64
	Announcement      *string
	ClearAnnouncement bool
}

// rawChat are the raw chat fields of a client message (see
// rawClientMessage; the fast decoder does not know them, so chat messages
// take encoding/json's path).
type rawChat struct {
	Text         json.RawMessage `json:"text"`
	Kind         json.RawMessage `json:"kind"`
	Comment      json.RawMessage `json:"comment"`
	User         json.RawMessage `json:"user"`
	Purge        json.RawMessage `json:"purge"`
	Enabled      json.RawMessage `json:"enabled"`
	SlowModeMS   json.RawMessage `json:"slow_mode_ms"`
	Announcement json.RawMessage `json:"announcement"`
}

// validateChat checks the fields of a chat message of type m.Type (room
// and, but for react, id), given the raw fields; m.Room is set by the
// caller's check of room.
func (rc *rawChat) validateChat(m *ClientMessage, durationMS json.RawMessage) error {
	if m.Type != TypeReact && m.ID == "" {
		return Errorf(CodeBadRequest, "missing id")
	}
	var err error
	switch m.Type {
	case TypeComment:
		m.Text, err = requireString(rc.Text, "text")
	case TypeReact:
		m.Kind, err = requireString(rc.Kind, "kind")
	case TypeDeleteComment:
		m.Comment, err = requireString(rc.Comment, "comment")
	case TypeMute:
		if m.User, err = requireString(rc.User, "user"); err != nil {
			return err
		}
		if m.DurationMS, err = requireInt(durationMS, "duration_ms", MinMuteMS, MaxMuteMS); err != nil {
			return err
		}
		var purge *bool
		if purge, err = optionalBool(rc.Purge, "purge"); err == nil && purge != nil {
			m.Purge = *purge
		}
	case TypeUnmute, TypeBan, TypeUnban:
		m.User, err = requireString(rc.User, "user")
	case TypeChatSettings:
		err = rc.settings(m)
	}
	return err
}

func (rc *rawChat) settings(m *ClientMessage) error {
	var err error
	if m.Enabled, err = optionalBool(rc.Enabled, "enabled"); err != nil {
		return err
	}
	if len(rc.SlowModeMS) > 0 && !isNull(rc.SlowModeMS) {
		v, err := decodeInt(rc.SlowModeMS, "slow_mode_ms", 0, MaxSlowModeMS)
		if err != nil {
			return err
		}
		m.SlowModeMS = &v
	}
	switch {
	case len(rc.Announcement) == 0:
	case isNull(rc.Announcement):
		m.ClearAnnouncement = true
	default:
		a, err := requireString(rc.Announcement, "announcement")
		if err != nil {
			return Errorf(CodeBadRequest, "announcement must be a string or null")
		}
		m.Announcement = &a
	}
	return nil
}

// DecodeChatSettings validates a PATCH .../chat body, as chat_settings.
func DecodeChatSettings(body []byte) (ChatFields, error) {
	var rc rawChat
	if err := json.Unmarshal(body, &rc); err != nil {
		return ChatFields{}, Errorf(CodeBadRequest, "body is not the expected JSON object")
	}
	m := ClientMessage{Type: TypeChatSettings}
	err := rc.settings(&m)
	return m.ChatFields, err
}

// DecodeMute validates a PUT .../mutes/{user} body: duration_ms (1 s to
// 24 h) and optional purge.
func DecodeMute(body []byte) (durationMS int64, purge bool, err error) {
	var b struct {
		DurationMS json.RawMessage `json:"duration_ms"`
		Purge      json.RawMessage `json:"purge"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, false, Errorf(CodeBadRequest, "body is not the expected JSON object")
	}
	if durationMS, err = requireInt(b.DurationMS, "duration_ms", MinMuteMS, MaxMuteMS); err != nil {
		return 0, false, err
	}
	p, err := optionalBool(b.Purge, "purge")
	if err != nil {
		return 0, false, err
	}
	return durationMS, p != nil && *p, nil
}

// DecodeText validates a POST .../comments body: {"text"}.
func DecodeText(body []byte) (string, error) {
	var b struct {
		Text json.RawMessage `json:"text"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return "", Errorf(CodeBadRequest, "body is not the expected JSON object")
	}
	return requireString(b.Text, "text")
}

// DecodeTerms validates a PUT .../chat/blocklist body: {"terms":[...]}
// (package chat checks the terms).
func DecodeTerms(body []byte) ([]string, error) {
	var b struct {
		Terms *[]string `json:"terms"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, Errorf(CodeBadRequest, "body must be {\"terms\":[strings]}")
	}
	if b.Terms == nil {
		return nil, Errorf(CodeBadRequest, "missing terms")
	}
	return *b.Terms, nil
}

func requireString(raw json.RawMessage, name string) (string, error) {
	if len(raw) == 0 || isNull(raw) {
		return "", Errorf(CodeBadRequest, "missing %s", name)
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", Errorf(CodeBadRequest, "%s must be a string", name)
	}
	return s, nil
}

func optionalBool(raw json.RawMessage, name string) (*bool, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	b, err := strconv.ParseBool(string(raw))
	if err != nil || (string(raw) != "true" && string(raw) != "false") {
		return nil, Errorf(CodeBadRequest, "%s must be true or false", name)
	}
	return &b, nil
}

// Envelope keys of the chat's volatile messages (see VolatileEnvelope).
// The hub routes them before any conflation: a comment is never conflated
// (each is delivered or sampled on its own), reactions are never conflated
// (each holds the counts since the previous), and a ban's message goes only
// to the banned handle's connections, which then leave the room.
const (
	commentKeyPrefix = "comment:"
	banKeyPrefix     = "ban:"
	// ReactionsKey is the key of the reactions message.
	ReactionsKey = "reactions"
)

// CommentKey is the envelope key of a comment by the author handle.
func CommentKey(handle string) string { return commentKeyPrefix + handle }

// BanKey is the envelope key of the ban of a handle.
func BanKey(handle string) string { return banKeyPrefix + handle }

// CommentAuthor returns the author handle of a comment envelope key.
func CommentAuthor(key string) (handle string, ok bool) {
	return strings.CutPrefix(key, commentKeyPrefix)
}

// BannedHandle returns the handle of a ban envelope key.
func BannedHandle(key string) (handle string, ok bool) {
	return strings.CutPrefix(key, banKeyPrefix)
}
