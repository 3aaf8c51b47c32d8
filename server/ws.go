package server

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/internal/clock"
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
		s.writeError(w, protocol.Errorf(protocol.CodeUnavailable, "this node is shutting down; connect to another"))
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
		s.writeError(w, protocol.Errorf(protocol.CodeUnavailable, "this node is at its connection limit; try another or retry later"))
		return
	}
	defer func() {
		if !handed {
			s.active.Add(-1)
		}
	}()

	slot, rf := s.conns.open(clientAddr(r, s.cfg.TrustedProxies))
	if rf != nil {
		s.noteUntrustedProxy(r)
		s.refuseConn(w, rf)
		return
	}
	defer func() {
		if !handed {
			slot.release()
		}
	}()

	sess := &session{s: s, slot: slot}
	tok, ok := auth.TokenFromRequest(r)
	switch {
	case !ok:
		s.metrics.authFailures.Inc()
		s.writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "malformed Authorization header; use Bearer <jwt>"))
		return
	case tok != "":
		who, err := s.verifier.Verify(tok)
		if err != nil {
			s.metrics.authFailures.Inc()
			s.metrics.refused.WithLabelValues("auth").Inc()
			s.writeError(w, err)
			return
		}
		sess.setIdentity(who)
	case s.verifier.DevMode():
		sess.setIdentity(s.verifier.Anonymous())
	}
	if sess.authed.Load() {
		rf = slot.authenticate(sess.who)
	} else {
		rf = slot.wait()
	}
	if rf != nil {
		s.refuseConn(w, rf)
		return
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
				// No close handshake: a client that never authenticated
				// gets its 1008 and its socket dropped at once, not after
				// waiting for its answer.
				c.CloseNow(protocol.ClosePolicy, "authentication timeout", protocol.ErrorMessage(now(), protocol.Errorf(protocol.CodeUnauthorized, "no valid auth message within %s", s.cfg.AuthTimeout)))
			}
		}).Stop
	}
	sess.watchExpiry()
	handed = true
	go func() {
		defer s.handlers.Done()
		defer s.active.Add(-1)
		defer slot.release()
		if stopAuthTimer != nil {
			defer stopAuthTimer()
		}
		c.ReadLoop(sess.onMessage)
		// ReadLoop has waited for the last handler, the only other user
		// of stopExpiry.
		if sess.stopExpiry != nil {
			sess.stopExpiry()
		}
	}()
}

func now() int64 { return protocol.Millis(time.Now()) }

// session is one connection's protocol state. Only its handler goroutine
// (one at a time) touches it, except authed and until, which the auth and
// expiry timers read, and s and c, which those timers and a purchase's
// callback use from other goroutines; see doc.go.
type session struct {
	s      *Server
	c      *room.Conn
	slot   *connSlot // the connection's share of the per-client limits
	who    auth.Identity
	authed atomic.Bool
	// until is when who stops being valid, in Unix nanoseconds of the
	// server's clock; 0 means never.
	until      atomic.Int64
	stopExpiry func() bool // cancels the expiry timer; nil when none runs
	closed     bool        // the session closed the connection: ignore the rest
	limiter    *rate.Limiter
	strikes    int // messages refused for rate since strikeFrom
	strikeFrom time.Time
}

func (ss *session) setIdentity(who auth.Identity) {
	ss.who = who
	var until int64
	if t := who.ValidUntil(); !t.IsZero() {
		until = t.UnixNano()
	}
	ss.until.Store(until)
	ss.authed.Store(true)
}

// watchExpiry (re)arms the timer that ends the connection when its identity
// expires. The timer is for a client that stays silent; each message checks
// expiry itself (see onMessage), so a message that arrives after exp never
// takes effect, however late the timer runs.
func (ss *session) watchExpiry() {
	if ss.stopExpiry != nil {
		ss.stopExpiry()
		ss.stopExpiry = nil
	}
	until := ss.until.Load()
	if until == 0 {
		return
	}
	clk := ss.s.clock()
	ss.stopExpiry = clk.AfterFunc(time.Duration(until-clk.Now().UnixNano()), func() {
		// A refresh may have moved until after this timer was armed.
		if ss.expired() {
			ss.expire()
		}
	})
}

// expired reports whether the connection's identity is past its token's
// exp (plus the leeway auth.Identity.ValidUntil allows).
func (ss *session) expired() bool {
	until := ss.until.Load()
	return until != 0 && ss.s.clock().Now().UnixNano() >= until
}

// expire ends a connection whose token expired. It may run on the expiry
// timer's goroutine: it touches nothing but the connection.
func (ss *session) expire() {
	ss.c.Close(protocol.ClosePolicy, "token expired", protocol.ErrorMessage(now(), protocol.Errorf(protocol.CodeTokenExpired,
		"the connection's token expired; refresh it before exp with an auth message, or reconnect with a fresh token")))
}

// close closes the connection after final and ignores whatever the client
// sent after the message that caused it.
func (ss *session) close(code websocket.StatusCode, reason string, final []byte) {
	ss.closed = true
	ss.c.Close(code, reason, final)
}

// onMessage handles one client frame on the connection's handler goroutine.
// The order of the checks matters: a frame that is not UTF-8 fails the
// connection (RFC 6455, 8.1); nothing is done for an identity past its exp;
// the rate limit counts every frame, before any decoding, so frames that
// fail to decode cost a flooding client its budget too.
func (ss *session) onMessage(typ websocket.MessageType, data []byte) {
	if ss.closed {
		return
	}
	if typ == websocket.MessageText && !utf8.Valid(data) {
		ss.close(protocol.CloseInvalidData, "invalid UTF-8", protocol.ErrorMessage(now(), protocol.Errorf(protocol.CodeBadRequest, "text frame is not valid UTF-8")))
		return
	}
	if ss.expired() {
		ss.closed = true
		ss.expire()
		return
	}
	if !ss.allow(typ, data) {
		return
	}
	if typ != websocket.MessageText {
		ss.fail("", protocol.Errorf(protocol.CodeBadRequest, "binary frames are not supported; send JSON text frames"))
		return
	}
	ss.handle(context.Background(), data)
}

// allow applies the message rate limit. A refused message is answered
// rate_limited (a reply when its id can be read); a client that keeps
// flooding is closed with 1008.
func (ss *session) allow(typ websocket.MessageType, data []byte) bool {
	if ss.limiter == nil || ss.limiter.Allow() {
		return true
	}
	if ss.flooding() {
		ss.close(protocol.ClosePolicy, "message rate limit exceeded", protocol.ErrorMessage(now(), protocol.Errorf(protocol.CodeRateLimited, "too many messages; closing")))
		return false
	}
	var id string
	if typ == websocket.MessageText {
		_, id, _ = protocol.DecodeClient(data)
	}
	ss.fail(id, protocol.Errorf(protocol.CodeRateLimited, "too many messages; slow down"))
	return false
}

// fail answers a message with an error: a reply when it has an id, else an
// error message.
func (ss *session) fail(id string, err error) {
	pe := ss.s.clientError(err)
	if id != "" {
		ss.c.Reply(protocol.ReplyError(id, now(), pe))
	} else {
		ss.c.Send(protocol.ErrorMessage(now(), pe))
	}
}

func (ss *session) reply(id string, fields map[string]any) {
	if id != "" {
		ss.c.Reply(protocol.Reply(id, now(), fields))
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
	if m.Type == protocol.TypePing {
		ss.c.Reply(protocol.Pong(m.ID, now()))
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
		ss.join(ctx, m)
	case protocol.TypeComment, protocol.TypeReact, protocol.TypeDeleteComment, protocol.TypeMute, protocol.TypeUnmute,
		protocol.TypeBan, protocol.TypeUnban, protocol.TypeChatSettings:
		ss.chat(ctx, m) // chat.go
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
	case protocol.TypeAuctionStart, protocol.TypeAuctionStop, protocol.TypeBid:
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		fields, err := ss.auctionAction(ctx, m)
		cancel()
		if err != nil {
			ss.fail(id, err)
			return
		}
		ss.reply(id, fields)
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

// auth handles an auth message. On a connection without an identity (or
// with an anonymous development-mode one) a valid token sets who the
// connection is, and a bad one is answered and the connection closed with
// 1008. On a connection that has a token's identity it is a refresh: a
// valid token of the same sub replaces the identity and so moves its
// expiry; anything else is refused and the old identity stays, until its
// own exp.
func (ss *session) auth(m protocol.ClientMessage) {
	refresh := ss.authed.Load() && !ss.who.Anonymous
	who, err := ss.s.verifier.Verify(m.Token)
	if err != nil {
		ss.s.metrics.authFailures.Inc()
		if refresh {
			ss.fail(m.ID, err)
			return
		}
		pe := ss.s.clientError(err)
		var final []byte
		if m.ID != "" {
			final = protocol.ReplyError(m.ID, now(), pe)
		} else {
			final = protocol.ErrorMessage(now(), pe)
		}
		ss.close(protocol.ClosePolicy, "authentication failed", final)
		return
	}
	if refresh && who.User != ss.who.User {
		ss.s.metrics.authFailures.Inc()
		ss.fail(m.ID, protocol.Errorf(protocol.CodeForbidden, "a refresh must carry the connection's sub; open a new connection to act as another user"))
		return
	}
	if rf := ss.slot.authenticate(who); rf != nil {
		// The user is at the per-user cap: 1013, try again later (once
		// another of their connections has closed).
		ss.s.metrics.refused.WithLabelValues(rf.reason).Inc()
		final := protocol.ErrorMessage(now(), rf.err)
		if m.ID != "" {
			final = protocol.ReplyError(m.ID, now(), rf.err)
		}
		ss.close(protocol.CloseTryAgain, "too many connections for this user", final)
		return
	}
	ss.setIdentity(who)
	ss.watchExpiry()
	// In the rooms already joined the connection is now this author: its
	// own comments and the moderator's view follow the new identity.
	ss.s.hub.SetMembers(ss.c, func(id string) room.Member { return member(ss.s.author(who, id)) })
	ss.reply(m.ID, map[string]any{"user": who.User, "role": who.Role})
}

// clock is the clock that decides when a connection's token has expired:
// Config.Clock, so tests can move it, else the real one.
func (s *Server) clock() clock.Clock {
	if s.cfg.Clock != nil {
		return s.cfg.Clock
	}
	return clock.Real{}
}
