package server

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
	"github.com/liveserver/liveserver/room"
)

// handleWS upgrades GET /ws. After the upgrade one goroutine, owned by the
// server and waited for in Shutdown, reads the connection until it ends;
// the handler itself returns, so an idle connection keeps no HTTP state.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		s.metrics.refused.WithLabelValues("draining").Inc()
		writeError(w, s.failLog, protocol.Errorf(protocol.CodeUnavailable, "this node is shutting down; connect to another"))
		return
	}
	handed := false
	defer func() {
		if !handed {
			s.handlers.Done()
		}
	}()
	if s.active.Add(1) > int64(s.cfg.MaxConns) {
		s.active.Add(-1)
		s.metrics.refused.WithLabelValues("max_conns").Inc()
		writeError(w, s.failLog, protocol.Errorf(protocol.CodeUnavailable, "this node is at its connection limit; try another or retry later"))
		return
	}
	defer func() {
		if !handed {
			s.active.Add(-1)
		}
	}()

	sess := &session{s: s}
	tok, ok := auth.TokenFromRequest(r)
	switch {
	case !ok:
		s.metrics.authFailures.Inc()
		writeError(w, s.failLog, protocol.Errorf(protocol.CodeUnauthorized, "malformed Authorization header; use Bearer <jwt>"))
		return
	case tok != "":
		who, err := s.verifier.Verify(tok)
		if err != nil {
			s.metrics.authFailures.Inc()
			s.metrics.refused.WithLabelValues("auth").Inc()
			writeError(w, s.failLog, err)
			return
		}
		sess.setIdentity(who)
	case s.verifier.DevMode():
		sess.setIdentity(s.verifier.Anonymous())
	}

	c, err := s.hub.Accept(w, r, room.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins, ReadLimit: s.cfg.MaxFrame})
	if err != nil {
		s.metrics.refused.WithLabelValues("upgrade").Inc()
		return // Accept has answered (403 for a forbidden origin, 400 otherwise)
	}
	sess.c = c
	if s.cfg.MsgRate > 0 {
		sess.limiter = rate.NewLimiter(rate.Limit(s.cfg.MsgRate), s.cfg.MsgBurst)
	}
	var stopAuthTimer func() bool
	if !sess.authed.Load() {
		stopAuthTimer = time.AfterFunc(s.cfg.AuthTimeout, func() {
			if !sess.authed.Load() {
				c.Close(protocol.ClosePolicy, "authentication timeout", protocol.ErrorMessage(now(), protocol.Errorf(protocol.CodeUnauthorized, "no valid auth message within %s", s.cfg.AuthTimeout)))
			}
		}).Stop
	}
	handed = true
	go func() {
		defer s.handlers.Done()
		defer s.active.Add(-1)
		if stopAuthTimer != nil {
			defer stopAuthTimer()
		}
		c.ReadLoop(sess.onMessage)
	}()
}

func now() int64 { return protocol.Millis(time.Now()) }

// session is one connection's protocol state. Only its read goroutine
// touches it, except authed, which the auth timer reads.
type session struct {
	s          *Server
	c          *room.Conn
	who        auth.Identity
	authed     atomic.Bool
	limiter    *rate.Limiter
	strikes    int // messages refused for rate since strikeFrom
	strikeFrom time.Time
}

func (ss *session) setIdentity(who auth.Identity) {
	ss.who = who
	ss.authed.Store(true)
}

// onMessage handles one client message on the connection's read goroutine.
func (ss *session) onMessage(typ websocket.MessageType, data []byte) {
	if typ != websocket.MessageText {
		ss.fail("", protocol.Errorf(protocol.CodeBadRequest, "binary frames are not supported; send JSON text frames"))
		return
	}
	ss.handle(context.Background(), data)
}

// fail answers a message with an error: a reply when it has an id, else an
// error message.
func (ss *session) fail(id string, err error) {
	pe := clientError(ss.s.failLog, err)
	if id != "" {
		ss.c.Send(protocol.ReplyError(id, now(), pe))
	} else {
		ss.c.Send(protocol.ErrorMessage(now(), pe))
	}
}

func (ss *session) reply(id string, fields map[string]any) {
	if id != "" {
		ss.c.Send(protocol.Reply(id, now(), fields))
	}
}

// flooding counts a message refused for rate and reports whether the
// client keeps flooding: a burst's worth of refusals within 10 seconds.
func (ss *session) flooding() bool {
	t := time.Now()
	if t.Sub(ss.strikeFrom) > 10*time.Second {
		ss.strikes, ss.strikeFrom = 0, t
	}
	ss.strikes++
	return ss.strikes > ss.s.cfg.MsgBurst
}

func (ss *session) handle(ctx context.Context, data []byte) {
	m, id, err := protocol.DecodeClient(data)
	if err != nil {
		ss.fail(id, err)
		return
	}
	if ss.limiter != nil && !ss.limiter.Allow() {
		if ss.flooding() {
			ss.c.Close(protocol.ClosePolicy, "message rate limit exceeded", protocol.ErrorMessage(now(), protocol.Errorf(protocol.CodeRateLimited, "too many messages; closing")))
			return
		}
		ss.fail(id, protocol.Errorf(protocol.CodeRateLimited, "too many messages; slow down"))
		return
	}
	if m.Type == protocol.TypePing {
		ss.c.Send(protocol.Pong(m.ID, now()))
		return
	}
	if m.Type == protocol.TypeAuth {
		ss.auth(m)
		return
	}
	if !ss.authed.Load() {
		ss.fail(id, protocol.Errorf(protocol.CodeUnauthorized, "authenticate first with an auth message"))
		return
	}
	s := ss.s
	switch m.Type {
	case protocol.TypeJoin:
		var reply []byte
		if m.ID != "" {
			reply = protocol.Reply(m.ID, now(), map[string]any{"room": m.Room})
		}
		if err := s.hub.Join(ctx, ss.c, m.Room, m.Since, reply); err != nil {
			ss.fail(id, err)
		}
	case protocol.TypeLeave:
		s.hub.Leave(ss.c, m.Room)
		ss.reply(id, map[string]any{"room": m.Room})
	case protocol.TypeBuy:
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		// The answer may come from another goroutine (see buyAsync): this
		// handler does not wait for it, so the connection's next message
		// may be answered first; replies carry the request's id.
		s.buyAsync(ctx, ss.who, m, func(rec inventory.Receipt, err error) {
			cancel()
			if err != nil {
				ss.fail(id, err)
				return
			}
			ss.reply(id, map[string]any{"order": rec.Order, "product": rec.Product, "qty": rec.Qty, "price": rec.Price, "remaining": rec.Remaining})
		})
	default:
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		fields, err := ss.creatorAction(ctx, m)
		cancel()
		if err != nil {
			ss.fail(id, err)
			return
		}
		ss.reply(id, fields)
	}
}

func (ss *session) creatorAction(ctx context.Context, m protocol.ClientMessage) (map[string]any, error) {
	p := ss.s.pins
	switch m.Type {
	case protocol.TypePin:
		return map[string]any{"room": m.Room, "product": m.Product}, p.Pin(ctx, ss.who, m.Room, m.Product)
	case protocol.TypeUnpin:
		return map[string]any{"room": m.Room}, p.Unpin(ctx, ss.who, m.Room)
	case protocol.TypeSaleStart:
		sale, err := p.StartSale(ctx, ss.who, m.Room, saleSpec(m.Product, protocol.SaleFields{
			Price: m.Price, Quantity: m.Quantity, PerUserLimit: m.PerUserLimit, DurationMS: m.DurationMS, StartsInMS: m.StartsInMS,
		}))
		return map[string]any{"sale": sale}, err
	case protocol.TypeSaleStop:
		sale, err := p.StopSale(ctx, ss.who, m.Room)
		return map[string]any{"sale": sale}, err
	}
	return nil, protocol.Errorf(protocol.CodeBadRequest, "unknown message type %q", m.Type)
}

// auth handles an auth message: a valid token sets who the connection is; a
// bad one is answered and the connection closed with 1008.
func (ss *session) auth(m protocol.ClientMessage) {
	who, err := ss.s.verifier.Verify(m.Token)
	if err != nil {
		ss.s.metrics.authFailures.Inc()
		pe := clientError(ss.s.failLog, err)
		var final []byte
		if m.ID != "" {
			final = protocol.ReplyError(m.ID, now(), pe)
		} else {
			final = protocol.ErrorMessage(now(), pe)
		}
		ss.c.Close(protocol.ClosePolicy, "authentication failed", final)
		return
	}
	ss.setIdentity(who)
	ss.reply(m.ID, map[string]any{"user": who.User, "role": who.Role})
}
