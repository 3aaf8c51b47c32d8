package server

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
	"github.com/liveserver/liveserver/room"
)

// The chat at the edge (docs/PROTOCOL.md, "People in public", "Chat",
// "Moderation"): authorization, the per-room author of a connection, and
// the calls into package chat. The hub fans out (room/chat.go).

// chatParts is a node's chat: the store (memory or Redis, beside the
// shop's), the handles (one key per cluster) and the reaction tally.
type chatParts struct {
	store   chat.Store
	handles *chat.Handles
	tally   *chat.Tally
	metrics *chatMetrics
}

// newChatParts starts the chat of a node on its backend; close it with
// closeTally after the hub (its last flush still needs the store).
func newChatParts(cfg Config, be backend) (*chatParts, error) {
	h, err := chat.NewHandles(be.handleKey)
	if err != nil {
		return nil, err
	}
	return &chatParts{
		store:   be.chats,
		handles: h,
		tally:   chat.NewTally(chat.TallyConfig{Store: be.chats, Logger: cfg.Logger}),
		metrics: newChatMetrics(cfg.Registry),
	}, nil
}

// roomSource is the hub's Source: the shop's snapshot, then the chat's
// state. The order matters: whatever changes the chat after the shop's
// snapshot was read has a larger seq, so the joiner gets it as an event; read
// the other way round a deletion could fall between the two and be lost.
type roomSource struct {
	store inventory.Store
	chats chat.Store
}

func (rs roomSource) Snapshot(ctx context.Context, id string) (protocol.Snapshot, error) {
	snap, err := rs.store.Snapshot(ctx, id)
	if err != nil {
		return snap, err
	}
	st, err := rs.chats.State(ctx, id)
	if err != nil {
		return protocol.Snapshot{}, err
	}
	snap.Chat = &st.Chat
	snap.Comments = st.Comments
	if snap.Comments == nil {
		snap.Comments = []protocol.Comment{}
	}
	return snap, nil
}

func (rs roomSource) Since(ctx context.Context, id string, seq uint64) ([]protocol.Envelope, bool, error) {
	return rs.store.Since(ctx, id, seq)
}

type chatMetrics struct {
	comments   *prometheus.CounterVec
	moderation *prometheus.CounterVec
	reactions  prometheus.Counter
}

func newChatMetrics(reg prometheus.Registerer) *chatMetrics {
	m := &chatMetrics{
		comments:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveserver_chat_comments_total", Help: "Comments posted here (WebSocket and HTTP), by outcome: ok or the refusal's code."}, []string{"outcome"}),
		moderation: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveserver_chat_moderation_total", Help: "Moderation actions done here, by action (delete_comment, mute, unmute, ban, unban, chat_settings, blocklist)."}, []string{"action"}),
		reactions:  prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_chat_reactions_total", Help: "Reactions counted here (a user's beyond 10/s are not)."}),
	}
	reg.MustRegister(m.comments, m.moderation, m.reactions)
	for _, outcome := range []string{"ok", protocol.CodeRateLimited, protocol.CodeMuted, protocol.CodeBanned, protocol.CodeSlowMode, protocol.CodeBlocked, protocol.CodeChatClosed} {
		m.comments.WithLabelValues(outcome)
	}
	for _, action := range []string{protocol.TypeDeleteComment, protocol.TypeMute, protocol.TypeUnmute, protocol.TypeBan, protocol.TypeUnban, protocol.TypeChatSettings, "blocklist"} {
		m.moderation.WithLabelValues(action)
	}
	return m
}

// errBanned is the answer to a banned user's join, comment, reaction or
// purchase in the room.
func errBanned() error {
	return protocol.Errorf(protocol.CodeBanned, "you are banned from this room")
}

// author is who identity who is in room's chat.
func (s *Server) author(who auth.Identity, roomID string) chat.Author {
	return s.chat.handles.Author(roomID, who.User, who.Name, who.ChatRole(roomID))
}

// member is what the hub needs to know of an author.
func member(a chat.Author) room.Member {
	return room.Member{Handle: a.ID, All: chat.Privileged(a.Role)}
}

// post posts a comment from either transport and counts it.
func (s *Server) post(ctx context.Context, roomID string, a chat.Author, text string) (chat.Comment, error) {
	c, err := s.chat.store.Post(ctx, chat.Post{Room: roomID, Author: a, Text: text})
	outcome := "ok"
	if err != nil {
		outcome = s.clientError(err).Code
	}
	s.chat.metrics.comments.WithLabelValues(outcome).Inc()
	return c, err
}

// notJoined is the answer to a comment or reaction on a connection that
// has not joined the room: banned for a banned user (a ban took the
// connection out of the room), else forbidden.
func (s *Server) notJoined(ctx context.Context, roomID string, a chat.Author) error {
	if !chat.Privileged(a.Role) {
		if b, err := s.chat.store.Banned(ctx, roomID, a.ID); err != nil {
			return err
		} else if b {
			return errBanned()
		}
	}
	return protocol.Errorf(protocol.CodeForbidden, "join the room on this connection first")
}

// moderate runs one moderation action for who in room and returns the
// reply's fields.
func (s *Server) moderate(ctx context.Context, who auth.Identity, m protocol.ClientMessage) (map[string]any, error) {
	if !who.CanModerate(m.Room) {
		return nil, protocol.Errorf(protocol.CodeForbidden, "only a moderator of the room, its creator or an admin may moderate it")
	}
	st := s.chat.store
	var fields map[string]any
	var err error
	switch m.Type {
	case protocol.TypeDeleteComment:
		err = st.Delete(ctx, m.Room, []string{m.Comment})
		fields = map[string]any{"room": m.Room, "comment": m.Comment}
	case protocol.TypeMute:
		var until int64
		until, err = st.Mute(ctx, m.Room, m.User, time.Duration(m.DurationMS)*time.Millisecond, m.Purge)
		fields = map[string]any{"room": m.Room, "user": m.User, "until": until}
	case protocol.TypeUnmute:
		err = st.Unmute(ctx, m.Room, m.User)
		fields = map[string]any{"room": m.Room, "user": m.User}
	case protocol.TypeBan:
		err = st.Ban(ctx, m.Room, m.User)
		fields = map[string]any{"room": m.Room, "user": m.User}
	case protocol.TypeUnban:
		err = st.Unban(ctx, m.Room, m.User)
		fields = map[string]any{"room": m.Room, "user": m.User}
	case protocol.TypeChatSettings:
		var set chat.Settings
		set, err = st.UpdateSettings(ctx, m.Room, chat.SettingsPatch{
			Enabled: m.Enabled, SlowModeMS: m.SlowModeMS, Announcement: m.Announcement, ClearAnnouncement: m.ClearAnnouncement,
		})
		fields = map[string]any{"room": m.Room, "chat": set}
	default:
		return nil, protocol.Errorf(protocol.CodeBadRequest, "unknown message type %q", m.Type)
	}
	if err != nil {
		return nil, err
	}
	s.chat.metrics.moderation.WithLabelValues(m.Type).Inc()
	return fields, nil
}

// join handles a join message: a banned user is refused; moderator+ is
// recorded as such (so they cannot be muted or banned even if they never
// comment); then the hub joins the connection as the room's chat member.
func (ss *session) join(ctx context.Context, m protocol.ClientMessage) {
	s := ss.s
	a := s.author(ss.who, m.Room)
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	var err error
	if chat.Privileged(a.Role) {
		err = s.chat.store.Seen(cctx, m.Room, a)
	} else {
		var banned bool
		if banned, err = s.chat.store.Banned(cctx, m.Room, a.ID); err == nil && banned {
			err = errBanned()
		}
	}
	cancel()
	if err != nil {
		ss.fail(m.ID, err)
		return
	}
	var reply []byte
	if m.ID != "" {
		reply = protocol.Reply(m.ID, now(), map[string]any{"room": m.Room})
	}
	if err := s.hub.JoinMember(ctx, ss.c, m.Room, m.Since, reply, member(a)); err != nil {
		ss.fail(m.ID, err)
	}
}

// chat handles comment, react and the moderation messages.
func (ss *session) chat(ctx context.Context, m protocol.ClientMessage) {
	s := ss.s
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	switch m.Type {
	case protocol.TypeComment:
		a := s.author(ss.who, m.Room)
		if !s.hub.Joined(ss.c, m.Room) {
			ss.fail(m.ID, s.notJoined(ctx, m.Room, a))
			return
		}
		c, err := s.post(ctx, m.Room, a, m.Text)
		if err != nil {
			ss.fail(m.ID, err)
			return
		}
		ss.reply(m.ID, map[string]any{"comment": c})
	case protocol.TypeReact:
		kind, err := chat.CheckKind(m.Kind)
		if err != nil {
			ss.fail(m.ID, err)
			return
		}
		a := s.author(ss.who, m.Room)
		if !s.hub.Joined(ss.c, m.Room) {
			ss.fail(m.ID, s.notJoined(ctx, m.Room, a))
			return
		}
		if !s.chat.tally.Add(m.Room, a.ID, kind) {
			if m.ID != "" {
				ss.fail(m.ID, &protocol.Error{Code: protocol.CodeRateLimited,
					Message:      "at most 10 reactions a second are counted",
					RetryAfterMS: int64(time.Second / chat.ReactionRate / time.Millisecond)})
			}
			return
		}
		s.chat.metrics.reactions.Inc()
		ss.reply(m.ID, map[string]any{"room": m.Room})
	default:
		fields, err := s.moderate(ctx, ss.who, m)
		if err != nil {
			ss.fail(m.ID, err)
			return
		}
		ss.reply(m.ID, fields)
	}
}

// forgetChat drops the chat state of a deleted room (comments, settings,
// mutes, bans), so a room created again under its id starts afresh. The
// room is gone already (no comment can be posted to it), so a failure
// only leaves state behind, which is logged.
func (s *Server) forgetChat(ctx context.Context, roomID string) {
	f, ok := s.chat.store.(interface {
		ForgetRoom(ctx context.Context, room string) error
	})
	if !ok {
		return
	}
	if err := f.ForgetRoom(ctx, roomID); err != nil {
		s.failLog.failed(fmt.Errorf("forgetting the chat of deleted room %s: %w", roomID, err))
	}
}
