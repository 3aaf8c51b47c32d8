package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/protocol"
)

// Update is one message a Subscriber received for its room, after it was
// applied to the state.
type Update struct {
	Type string          // the message type: snapshot, pinned, stock, viewers, purchase, auction, ...
	Seq  uint64          // a room event's seq; 0 for a volatile message
	Msg  json.RawMessage // the message as the server sent it
}

// SubscriberStats counts what a Subscriber went through.
type SubscriberStats struct {
	Connects  int // connections that joined the room
	Snapshots int // snapshots applied
	Resumes   int // joins sent with since (after a reconnect or a gap)
	Gaps      int // room events that skipped a seq (each answered by a join with since)
	Events    int // room events applied
}

// Subscriber keeps one room's state up to date over a WebSocket, as the
// protocol's Ordering and resume section says: it joins, applies the
// snapshot and every room event in seq order, re-joins with since on the
// same connection when an event skips a seq, and after a lost connection
// reconnects with jittered exponential backoff and joins with since, so the
// server replays only what it missed (or sends a snapshot). Stock is
// applied by highest v, and after a resumed join the room's current stock
// is read over HTTP (stock is volatile and not replayed).
//
// Make one with Client.Subscriber, set its fields, then call Run.
type Subscriber struct {
	// URL is the WebSocket endpoint, ws(s)://host/ws.
	URL  string
	Room string
	// Token returns the token for each connection attempt; nil connects
	// without one (development mode).
	Token func(ctx context.Context) (string, error)
	// OnUpdate, when set, is called on Run's goroutine for every message
	// of the room, after the state has applied it. It must not block.
	OnUpdate func(Update, *RoomState)
	// HTTP reads the room's stock after a resumed join (stock is not
	// replayed), applied by v without an Update; nil skips that.
	HTTP *Client
	// Backoff between reconnects: from MinBackoff (zero: 250 ms), doubled
	// per attempt up to MaxBackoff (zero: 15 s), half of it random; reset
	// once a connection lived StableAfter (zero: 10 s).
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// PingInterval is how often a WebSocket ping checks that the node is
	// there (zero: 20 s); a ping unanswered in PingTimeout (zero: 10 s)
	// drops the connection.
	PingInterval, PingTimeout time.Duration
	// JoinTimeout bounds the wait for the reply to a join (zero: 10 s).
	JoinTimeout time.Duration

	mu    sync.Mutex
	state RoomState
	have  bool // state holds a snapshot
	stats SubscriberStats
	seqs  int // request ids
}

// Subscriber returns a Subscriber of room on c's node, with c's token.
func (c *Client) Subscriber(room string, onUpdate func(Update, *RoomState)) *Subscriber {
	s := &Subscriber{URL: wsURL(c.BaseURL), Room: room, OnUpdate: onUpdate, HTTP: c}
	if c.Token != "" {
		tok := c.Token
		s.Token = func(context.Context) (string, error) { return tok, nil }
	}
	return s
}

func wsURL(base string) string {
	switch {
	case strings.HasPrefix(base, "https://"):
		return "wss://" + strings.TrimPrefix(base, "https://") + "/ws"
	case strings.HasPrefix(base, "http://"):
		return "ws://" + strings.TrimPrefix(base, "http://") + "/ws"
	}
	return base + "/ws"
}

// State is a copy of the room's state, and false before the first snapshot.
func (s *Subscriber) State() (RoomState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.clone(), s.have
}

// Stats is a copy of the subscriber's counters.
func (s *Subscriber) Stats() SubscriberStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run connects and keeps the room's state until ctx ends (it then returns
// ctx's error), the server refuses the join for good (an *Error such as
// not_found, forbidden or unauthorized, or banned), or the room is deleted
// (ErrRoomClosed, after OnUpdate saw the room_closed).
func (s *Subscriber) Run(ctx context.Context) error {
	minB, maxB, stable := or(s.MinBackoff, 250*time.Millisecond), or(s.MaxBackoff, 15*time.Second), or(s.StableAfter, 10*time.Second)
	attempt := 0
	for {
		began := time.Now()
		err := s.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var e *Error
		if errors.Is(err, ErrRoomClosed) || errors.As(err, &e) && permanent(e.Code) {
			return err
		}
		if time.Since(began) >= stable {
			attempt = 0
		}
		limit := min(maxB, minB<<min(attempt, 16))
		wait := limit/2 + mrand.N(limit/2+1)
		attempt++
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ErrRoomClosed ends Run when the room was deleted (room_closed).
var ErrRoomClosed = errors.New("liveserver: the room was closed")

// permanent reports whether a join refused with code will be refused again.
func permanent(code string) bool {
	switch code {
	case "bad_request", "not_found", "forbidden", "unauthorized", "banned":
		return true
	}
	return false
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// session is one connection: dial, join (with since when there is state)
// and read until the connection fails.
func (s *Subscriber) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hdr := http.Header{}
	if s.Token != nil {
		tok, err := s.Token(ctx)
		if err != nil {
			return fmt.Errorf("liveserver: token: %w", err)
		}
		if tok != "" {
			hdr.Set("Authorization", "Bearer "+tok)
		}
	}
	dialCtx, dialCancel := context.WithTimeout(ctx, or(s.JoinTimeout, 10*time.Second))
	ws, resp, err := websocket.Dial(dialCtx, s.URL, &websocket.DialOptions{HTTPHeader: hdr})
	dialCancel()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return &Error{Status: resp.StatusCode, Code: "unauthorized", Message: "the node refused the token"}
		}
		return err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(64 << 20) // a snapshot with its catalog and comments

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: stops the pinger
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pinger(ctx, ws)
	}()

	// pendingJoin is the id of the join in flight and whether it has since.
	pendingJoin, resumed := "", false
	join := func() error {
		s.mu.Lock()
		s.seqs++
		id := "join-" + strconv.Itoa(s.seqs)
		msg := map[string]any{"type": "join", "room": s.Room, "id": id}
		if s.have {
			msg["since"] = s.state.Seq
			s.stats.Resumes++
		}
		s.mu.Unlock()
		_, resumed = msg["since"]
		pendingJoin = id
		b, _ := json.Marshal(msg)
		wctx, wcancel := context.WithTimeout(ctx, or(s.JoinTimeout, 10*time.Second))
		defer wcancel()
		return ws.Write(wctx, websocket.MessageText, b)
	}
	if err := join(); err != nil {
		return err
	}
	joinDeadline := time.AfterFunc(or(s.JoinTimeout, 10*time.Second), func() { ws.CloseNow() })
	defer joinDeadline.Stop()

	for {
		_, frame, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		for line := range bytes.SplitSeq(frame, []byte{'\n'}) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var h header
			if json.Unmarshal(line, &h) != nil {
				return fmt.Errorf("liveserver: the server sent a message that is not JSON: %.80q", line)
			}
			switch h.Type {
			case protocol.TypeReply:
				if h.ID != pendingJoin {
					continue
				}
				pendingJoin = ""
				joinDeadline.Stop()
				var r struct {
					OK    bool      `json:"ok"`
					Error wireError `json:"error"`
				}
				if err := json.Unmarshal(line, &r); err != nil {
					return err
				}
				if !r.OK {
					return r.Error.toError(0)
				}
				s.mu.Lock()
				s.stats.Connects++
				s.mu.Unlock()
				if resumed && s.HTTP != nil {
					// Not on this goroutine: the read loop must go on
					// (the pinger's pongs, the replay).
					wg.Add(1)
					go func() {
						defer wg.Done()
						s.refreshStock(ctx)
					}()
				}
			case protocol.TypeError:
				var e wireError
				_ = json.Unmarshal(line, &e)
				// A ban names its room; other errors come before a close.
				var room struct {
					Room string `json:"room"`
				}
				_ = json.Unmarshal(line, &room)
				if room.Room == "" || room.Room == s.Room {
					return e.toError(0)
				}
			case protocol.TypePong:
			case protocol.TypeRoomClosed:
				if h.Room != s.Room {
					continue
				}
				if _, err := s.apply(h, line); err != nil {
					return err
				}
				return ErrRoomClosed
			default:
				if h.Room != s.Room {
					continue
				}
				gap, err := s.apply(h, line)
				if err != nil {
					return err
				}
				if gap && pendingJoin == "" {
					if err := join(); err != nil {
						return err
					}
				}
			}
		}
	}
}

// apply applies one message of the room; it reports a seq gap.
func (s *Subscriber) apply(h header, line []byte) (gap bool, err error) {
	s.mu.Lock()
	u := Update{Type: h.Type, Msg: json.RawMessage(line)}
	switch {
	case h.Type == protocol.TypeSnapshot:
		var snap protocol.Snapshot
		if err := json.Unmarshal(line, &snap); err != nil {
			s.mu.Unlock()
			return false, err
		}
		s.state.applySnapshot(&snap)
		s.have = true
		s.stats.Snapshots++
		u.Seq = snap.Seq
	case h.Seq != nil: // a room event
		if !s.have || *h.Seq <= s.state.Seq {
			s.mu.Unlock()
			return false, nil // before the snapshot, or already applied (a replay's overlap)
		}
		if *h.Seq != s.state.Seq+1 {
			s.stats.Gaps++
			s.mu.Unlock()
			return true, nil
		}
		if err := s.state.applyEvent(h.Type, *h.Seq, line); err != nil {
			s.mu.Unlock()
			return false, err
		}
		s.stats.Events++
		u.Seq = *h.Seq
	default: // volatile: only after the snapshot or replay
		if !s.have {
			s.mu.Unlock()
			return false, nil
		}
		switch h.Type {
		case protocol.TypeStock:
			var m protocol.Stock
			if err := json.Unmarshal(line, &m); err != nil {
				s.mu.Unlock()
				return false, err
			}
			if !s.state.applyStock(m.Product, m.Remaining, m.V) {
				s.mu.Unlock()
				return false, nil // an older value than the one known
			}
		case protocol.TypeViewers:
			var m protocol.Viewers
			if err := json.Unmarshal(line, &m); err != nil {
				s.mu.Unlock()
				return false, err
			}
			s.state.Viewers = m.Count
		}
	}
	var st RoomState
	if s.OnUpdate != nil {
		st = s.state.clone()
	}
	s.mu.Unlock()
	if s.OnUpdate != nil {
		s.OnUpdate(u, &st)
	}
	return false, nil
}

// refreshStock merges the room's current stock, read over HTTP, by v.
func (s *Subscriber) refreshStock(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, or(s.JoinTimeout, 10*time.Second))
	defer cancel()
	snap, err := s.HTTP.Room(ctx, s.Room)
	if err != nil {
		return // best effort: the next stock message corrects it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range snap.Products {
		s.state.applyStock(p.ID, p.Remaining, p.V)
	}
}

// pinger drops the connection when a ping goes unanswered.
func (s *Subscriber) pinger(ctx context.Context, ws *websocket.Conn) {
	t := time.NewTicker(or(s.PingInterval, 20*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, or(s.PingTimeout, 10*time.Second))
		err := ws.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				ws.CloseNow()
			}
			return
		}
	}
}
