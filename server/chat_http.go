package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/protocol"
)

// chatRoutes mounts the HTTP API of the chat and its moderation
// (docs/PROTOCOL.md, "Moderation", HTTP).
func (s *Server) chatRoutes(mux *routeMux) {
	mux.HandleFunc("GET /api/rooms/{room}/comments", s.handleComments)
	mux.HandleFunc("POST /api/rooms/{room}/comments", s.handlePostComment)
	mux.HandleFunc("DELETE /api/rooms/{room}/comments/{comment}", s.moderation(protocol.TypeDeleteComment))
	mux.HandleFunc("PUT /api/rooms/{room}/mutes/{user}", s.moderation(protocol.TypeMute))
	mux.HandleFunc("DELETE /api/rooms/{room}/mutes/{user}", s.moderation(protocol.TypeUnmute))
	mux.HandleFunc("PUT /api/rooms/{room}/bans/{user}", s.moderation(protocol.TypeBan))
	mux.HandleFunc("DELETE /api/rooms/{room}/bans/{user}", s.moderation(protocol.TypeUnban))
	mux.HandleFunc("PATCH /api/rooms/{room}/chat", s.moderation(protocol.TypeChatSettings))
	mux.HandleFunc("PUT /api/rooms/{room}/chat/blocklist", s.handleBlockList)
	mux.HandleFunc("GET /api/rooms/{room}/chat/blocklist", s.handleBlockList)
}

// handleComments is GET .../comments: anyone, like the room's snapshot.
func (s *Server) handleComments(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomParam(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	limit := chat.SnapshotComments
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > chat.RecentSize {
			s.writeError(w, protocol.Errorf(protocol.CodeBadRequest, "limit must be an integer from 1 to %d", chat.RecentSize))
			return
		}
		limit = n
	}
	ctx, cancel := s.requestCtx(r)
	defer cancel()
	cs, err := s.chat.store.Recent(ctx, roomID, limit)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if cs == nil {
		cs = []chat.Comment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"comments": cs})
}

// handlePostComment is POST .../comments: a token is required, also in
// development mode, where an anonymous caller would be a new user (with a
// fresh rate limit) on every request.
func (s *Server) handlePostComment(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, roomID string) (int, any, error) {
		if who.Anonymous || who.User == "" {
			return 0, nil, protocol.Errorf(protocol.CodeUnauthorized, "posting a comment over HTTP takes a token (Authorization: Bearer <jwt>)")
		}
		body, err := readBody(r)
		if err != nil {
			return 0, nil, err
		}
		text, err := protocol.DecodeText(body)
		if err != nil {
			return 0, nil, err
		}
		c, err := s.post(ctx, roomID, s.author(who, roomID), text)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]any{"comment": c}, nil
	})
}

// moderation serves a moderation route as the WebSocket message typ: the
// path names the comment or user, the body carries the rest.
func (s *Server) moderation(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.api(w, r, func(ctx context.Context, who auth.Identity, roomID string) (int, any, error) {
			if !who.CanModerate(roomID) {
				// Before the body is read: a viewer learns nothing more.
				return 0, nil, protocol.Errorf(protocol.CodeForbidden, "only a moderator of the room, its creator or an admin may moderate it")
			}
			m := protocol.ClientMessage{Type: typ, Room: roomID}
			m.Comment, m.User = r.PathValue("comment"), r.PathValue("user")
			switch typ {
			case protocol.TypeMute:
				body, err := readBody(r)
				if err != nil {
					return 0, nil, err
				}
				if m.DurationMS, m.Purge, err = protocol.DecodeMute(body); err != nil {
					return 0, nil, err
				}
			case protocol.TypeChatSettings:
				body, err := readBody(r)
				if err != nil {
					return 0, nil, err
				}
				if m.ChatFields, err = protocol.DecodeChatSettings(body); err != nil {
					return 0, nil, err
				}
			}
			fields, err := s.moderate(ctx, who, m)
			if err != nil {
				return 0, nil, err
			}
			return http.StatusOK, fields, nil
		})
	}
}

// handleBlockList is GET and PUT .../chat/blocklist, moderator+.
func (s *Server) handleBlockList(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, roomID string) (int, any, error) {
		if !who.CanModerate(roomID) {
			return 0, nil, protocol.Errorf(protocol.CodeForbidden, "only a moderator of the room, its creator or an admin may see or change its block list")
		}
		if r.Method == http.MethodPut {
			body, err := readBody(r)
			if err != nil {
				return 0, nil, err
			}
			terms, err := protocol.DecodeTerms(body)
			if err != nil {
				return 0, nil, err
			}
			if terms, err = chat.CleanBlockList(terms); err != nil {
				return 0, nil, err
			}
			if err := s.chat.store.SetBlockList(ctx, roomID, terms); err != nil {
				return 0, nil, err
			}
			s.chat.metrics.moderation.WithLabelValues("blocklist").Inc()
		}
		terms, err := s.chat.store.BlockList(ctx, roomID)
		if err != nil {
			return 0, nil, err
		}
		if terms == nil {
			terms = []string{}
		}
		return http.StatusOK, map[string]any{"terms": terms}, nil
	})
}
