package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/liveserver/liveserver/protocol"
)

const (
	connectTimeout = 15 * time.Second // dial, join and snapshot
	requestTimeout = 30 * time.Second // a reply
	maxPending     = 1024             // events per connection waiting for their publish time
)

var (
	errConnLost = errors.New("connection lost")
	errTimeout  = errors.New("no answer in time")
	errClosing  = errors.New("group closing")
)

// replyError is a reply with ok false.
type replyError struct{ code string }

func (e *replyError) Error() string { return "reply: " + e.code }

// errKind names an error for the error counts.
func errKind(prefix string, err error) string {
	var de *dialError
	var re *replyError
	switch {
	case errors.As(err, &de):
		return prefix + "_" + de.kind()
	case errors.As(err, &re):
		return prefix + "_" + re.code
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded):
		return prefix + "_timeout"
	case errors.Is(err, errConnLost):
		return prefix + "_conn_lost"
	}
	return prefix + "_failed"
}

// vconn is one load connection (a viewer or a buyer) and its reconnects.
//
// Ownership: the fields under "reader state" belong to the connection's
// reader goroutine while a session runs, and to whoever waited for the
// session's done channel after it ended (connect, reconnect, finish).
type vconn struct {
	g     *localGroup
	idx   int // global connection index
	room  *roomState
	roomB []byte
	user  string
	token string

	mu      sync.Mutex
	ws      *websocket.Conn // current session; nil before the first
	done    chan struct{}   // closed when the current session's reader ended
	waiters map[string]chan []byte

	open       atomic.Bool // a session is running
	byUs       atomic.Bool // the tester closed the current session on purpose
	joinedOnce atomic.Bool // the first join succeeded

	// reader state
	rws           *websocket.Conn
	buf           bytes.Buffer
	seq           seqTracker
	joinN         int
	joinID        string
	joinSince     bool
	joinReplied   bool
	sessionSynced bool  // snapshot received, or a join with since answered
	liveSince     int64 // events published before this were replays
	snapCh        chan int64
	resyncN       int
	resyncID      string
	pending       []pendingLat
	recovering    bool
	caught        chan struct{} // closed when a recovery ends
	replyOK       bool
	target        uint64
	firstEvent    int64
	lastEvent     int64
}

type pendingLat struct {
	seq       uint64
	recv      int64
	liveSince int64
}

// firstJoin opens the connection and joins its room the first time (the
// token was fetched before).
func (v *vconn) firstJoin() {
	g := v.g
	t0 := time.Now()
	atomicMinNonZero(&g.c.firstDial, t0.UnixNano())
	snapAt, _, err := v.connect(nil)
	if err != nil {
		g.c.connectFailed.Add(1)
		if g.ctx.Err() == nil {
			g.c.err(errKind("join", err))
		}
		return
	}
	g.hJoin.record(v.idx, time.Duration(snapAt-t0.UnixNano()))
	atomicMax(&g.c.lastJoined, snapAt)
	if g.cfg.Scenario == scenarioFlashsale {
		v.measureOffset()
	}
	v.joinedOnce.Store(true)
	g.c.connected.Add(1)
}

func (v *vconn) fetchToken() error {
	role := "viewer"
	ctx, cancel := context.WithTimeout(v.g.ctx, connectTimeout)
	defer cancel()
	base := v.g.d.nodes[v.g.d.nodeOf(v.idx)].HTTP
	t, err := v.g.tok.get(ctx, base, v.user, role, nil)
	v.token = t
	return err
}

// connect opens a session and joins the room, with since when not nil.
// Without since it returns once the snapshot arrived, with the time it
// did; with since, once the join was answered (the reader then follows the
// replay). done is closed when the session's reader ends. On error the
// session is closed and its reader ended.
func (v *vconn) connect(since *uint64) (snapAt int64, done chan struct{}, err error) {
	g := v.g
	ctx, cancel := context.WithTimeout(g.ctx, connectTimeout)
	defer cancel()
	ws, err := g.d.dial(ctx, v.idx, v.token)
	if err != nil {
		return 0, nil, err
	}
	v.joinN++
	v.joinID = "j" + itoa(v.joinN)
	v.joinSince = since != nil
	v.joinReplied = false
	v.sessionSynced = false
	v.replyOK = false
	v.rws = ws
	v.seq.resyncing = false
	v.snapCh = make(chan int64, 1)
	done = make(chan struct{})
	v.mu.Lock()
	if g.closing.Load() {
		v.mu.Unlock()
		ws.CloseNow()
		return 0, nil, errClosing
	}
	v.ws, v.done = ws, done
	v.byUs.Store(false)
	v.open.Store(true)
	v.mu.Unlock()
	g.c.open.Add(1)
	g.wg.Add(1)
	go v.readLoop(ws, done)

	raw, err := v.request(v.joinID, joinMessage(v.room.name, v.joinID, since), connectTimeout)
	if err == nil {
		err = replyErr(raw)
	}
	if err == nil && since == nil {
		select {
		case snapAt = <-v.snapCh:
		case <-done:
			err = errConnLost
		case <-ctx.Done():
			err = errTimeout
		}
	}
	if err != nil {
		v.byUs.Store(true)
		ws.CloseNow()
		<-done
		return 0, nil, err
	}
	return snapAt, done, nil
}

func joinMessage(room, id string, since *uint64) []byte {
	m := map[string]any{"type": protocol.TypeJoin, "room": room, "id": id}
	if since != nil {
		m["since"] = *since
	}
	b, _ := json.Marshal(m)
	return b
}

// replyErr returns the error of a reply with ok false.
func replyErr(raw []byte) error {
	var r struct {
		OK    bool            `json:"ok"`
		Error *protocol.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return &replyError{code: "undecodable"}
	}
	if r.OK {
		return nil
	}
	if r.Error == nil || r.Error.Code == "" {
		return &replyError{code: "no_code"}
	}
	return &replyError{code: r.Error.Code}
}

// request sends a message with an id and waits for its reply (or pong).
func (v *vconn) request(id string, msg []byte, timeout time.Duration) ([]byte, error) {
	ch := make(chan []byte, 1)
	v.mu.Lock()
	ws, done := v.ws, v.done
	if v.waiters == nil {
		v.waiters = map[string]chan []byte{}
	}
	v.waiters[id] = ch
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		delete(v.waiters, id)
		v.mu.Unlock()
	}()
	if ws == nil {
		return nil, errConnLost
	}
	if err := ws.Write(v.g.ctx, websocket.MessageText, msg); err != nil {
		return nil, errConnLost
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case raw := <-ch:
		return raw, nil
	case <-done:
		// The reply may have come just before the end.
		select {
		case raw := <-ch:
			return raw, nil
		default:
		}
		return nil, errConnLost
	case <-t.C:
		return nil, errTimeout
	case <-v.g.ctx.Done():
		return nil, v.g.ctx.Err()
	}
}

// readLoop is a session's reader goroutine.
func (v *vconn) readLoop(ws *websocket.Conn, done chan struct{}) {
	g := v.g
	defer g.wg.Done()
	defer close(done)
	// Reads take no context: with a cancellable one coder/websocket arms
	// and disarms a timer per read (7% of the tester's CPU at 10,000
	// viewers). The run's end closes the connection instead, which ends
	// the read.
	stop := context.AfterFunc(g.ctx, func() { ws.CloseNow() })
	err := readFrames(context.Background(), ws, &v.buf, v.onFrame)
	stop()
	ws.CloseNow()
	v.open.Store(false)
	g.c.open.Add(-1)
	if v.buf.Cap() > 64<<10 {
		v.buf = bytes.Buffer{}
	}
	if !v.byUs.Load() && !g.closing.Load() && g.ctx.Err() == nil {
		g.c.disconnect(closeCode(err))
	}
}

// readFrames reads frames until the connection ends, reusing buf.
func readFrames(ctx context.Context, ws *websocket.Conn, buf *bytes.Buffer, onFrame func([]byte)) error {
	for {
		_, r, err := ws.Reader(ctx)
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		onFrame(buf.Bytes())
	}
}

// closeCode names how a connection ended: its close code, or 1006 when it
// ended without a close frame.
func closeCode(err error) string {
	if c := websocket.CloseStatus(err); c >= 0 {
		return strconv.Itoa(int(c))
	}
	return "1006"
}

func (v *vconn) onFrame(frame []byte) {
	now := time.Now().UnixNano()
	if len(v.pending) > 0 {
		v.resolvePending(false)
	}
	for {
		var m []byte
		m, frame = nextMessage(frame)
		if len(m) == 0 {
			return
		}
		v.onMessage(m, now)
	}
}

func (v *vconn) onMessage(m []byte, now int64) {
	g := v.g
	g.c.messages.add(v.idx, 1)
	f := scanFields(m)
	switch string(f.typ) {
	case protocol.TypePinned, protocol.TypeUnpinned, protocol.TypeSale, protocol.TypeCatalog:
		v.onEvent(f, now)
	case protocol.TypeSnapshot:
		v.onSnapshot(m, now)
	case protocol.TypeReply, protocol.TypePong:
		v.onReply(m, now)
	case protocol.TypeStock, protocol.TypeViewers, protocol.TypePurchase:
		switch {
		case !bytes.Equal(f.room, v.roomB):
			g.c.violation("volatile_for_other_room")
		case !v.sessionSynced:
			g.c.violation("volatile_before_snapshot")
		}
	case protocol.TypeError:
		var e protocol.Error
		_ = json.Unmarshal(m, &e)
		g.c.err("server_error_" + e.Code)
	case "":
		g.c.violation("message_without_type")
	default:
		g.c.violation("unknown_type")
	}
}

func (v *vconn) onEvent(f msgFields, now int64) {
	g := v.g
	switch {
	case !f.hasSeq:
		g.c.violation("event_without_seq")
		return
	case !bytes.Equal(f.room, v.roomB):
		g.c.violation("event_for_other_room")
		return
	case !v.sessionSynced:
		g.c.violation("event_before_snapshot")
		return
	}
	verdict, missed := v.seq.observe(f.seq)
	switch verdict {
	case seqNext:
		g.c.delivered.add(v.idx, 1)
		if v.firstEvent == 0 {
			v.firstEvent = now
			atomicMinNonZero(&g.c.firstEvent, now)
		}
		v.lastEvent = now
		if v.recovering {
			if v.replyOK && f.seq >= v.target {
				v.caughtUp(now, false)
			}
			return // a replayed event has no delivery latency
		}
		if pub, ok := v.room.pub.get(f.seq); ok {
			if pub >= v.liveSince {
				g.hEvent.record(v.idx, time.Duration(now-pub))
			}
		} else if len(v.pending) < maxPending {
			v.pending = append(v.pending, pendingLat{seq: f.seq, recv: now, liveSince: v.liveSince})
		} else {
			g.c.unmatched.Add(1)
		}
	case seqDup:
		g.c.dups.Add(1)
	case seqGap:
		g.c.gaps.Add(1)
		g.c.gapEvents.Add(int64(missed))
		v.resync()
	case seqStale:
	case seqUnsynced:
		g.c.violation("event_before_snapshot")
	}
}

// resolvePending records the latencies of events whose publish time was
// not known when they arrived. final: the run is over, so an unknown one
// stays unknown.
func (v *vconn) resolvePending(final bool) {
	kept := v.pending[:0]
	for _, p := range v.pending {
		if pub, ok := v.room.pub.get(p.seq); ok {
			if pub >= p.liveSince {
				v.g.hEvent.record(v.idx, time.Duration(p.recv-pub))
			}
		} else if final {
			v.g.c.unmatched.Add(1)
		} else {
			kept = append(kept, p)
		}
	}
	v.pending = kept
	if final {
		v.pending = nil
	}
	if v.lastEvent != 0 {
		atomicMax(&v.g.c.lastEvent, v.lastEvent)
	}
}

// resync asks for the events after the last one applied, after a gap.
func (v *vconn) resync() {
	g := v.g
	v.seq.resyncing = true
	v.resyncN++
	v.resyncID = "r" + itoa(v.resyncN)
	g.c.resyncs.Add(1)
	last := v.seq.last.Load()
	msg := joinMessage(v.room.name, v.resyncID, &last)
	ws := v.rws
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		ws.Write(g.ctx, websocket.MessageText, msg) // a failure ends the session anyway
	}()
}

func (v *vconn) onSnapshot(m []byte, now int64) {
	g := v.g
	var s protocol.Snapshot
	if err := json.Unmarshal(m, &s); err != nil {
		g.c.violation("undecodable_snapshot")
		return
	}
	if s.Room != v.room.name {
		g.c.violation("snapshot_for_other_room")
		return
	}
	if s.TS == 0 {
		g.c.violation("snapshot_without_ts")
	}
	if !v.joinReplied {
		g.c.violation("snapshot_before_join_reply")
	}
	if v.seq.synced && s.Seq < v.seq.last.Load() {
		g.c.violation("snapshot_seq_went_back")
	}
	v.seq.reset(s.Seq)
	v.sessionSynced = true
	if v.recovering {
		v.caughtUp(now, true)
	}
	select {
	case v.snapCh <- now:
	default:
	}
}

func (v *vconn) onReply(m []byte, now int64) {
	g := v.g
	var r struct {
		Type  string          `json:"type"`
		ID    string          `json:"id"`
		OK    bool            `json:"ok"`
		TS    int64           `json:"ts"`
		Error *protocol.Error `json:"error"`
	}
	if err := json.Unmarshal(m, &r); err != nil {
		g.c.violation("undecodable_reply")
		return
	}
	if r.TS == 0 {
		g.c.violation(r.Type + "_without_ts")
	}
	if r.Type == protocol.TypeReply {
		switch r.ID {
		case v.joinID:
			v.joinReplied = true
			if r.OK && v.joinSince {
				v.sessionSynced = true
				v.liveSince = now
				if v.recovering {
					v.replyOK = true
					v.target = v.room.latest.Load()
					if v.seq.last.Load() >= v.target {
						v.caughtUp(now, false)
					}
				}
			}
		case v.resyncID:
			v.seq.resyncing = false
			if !r.OK && r.Error != nil {
				g.c.err("resync_" + r.Error.Code)
			}
		}
	}
	v.mu.Lock()
	ch := v.waiters[r.ID]
	v.mu.Unlock()
	if ch != nil {
		select {
		case ch <- bytes.Clone(m):
		default:
		}
	}
}

// caughtUp ends a storm viewer's recovery.
func (v *vconn) caughtUp(now int64, viaSnapshot bool) {
	g := v.g
	v.recovering = false
	close(v.caught)
	g.hRecover.record(v.idx, time.Duration(now-g.dropNano.Load()))
	g.c.recovered.Add(1)
	if viaSnapshot {
		g.c.viaSnapshot.Add(1)
	} else {
		g.c.viaReplay.Add(1)
	}
	atomicMax(&g.c.lastRecovered, now)
	if g.toRecover.Add(-1) == 0 {
		g.recovered.done()
	}
}

// reconnect brings a dropped viewer back: jittered exponential backoff
// (full jitter), then join with since, until the viewer caught up; a
// session that ends before that is retried the same way.
func (v *vconn) reconnect(done chan struct{}) {
	g := v.g
	defer g.wg.Done()
	if done != nil {
		<-done // the session's reader ended: its state is ours
	}
	v.recovering = true
	v.caught = make(chan struct{})
	for attempt := 0; ; attempt++ {
		bound := g.cfg.BackoffBase << min(attempt, 20)
		if bound <= 0 || bound > g.cfg.BackoffMax {
			bound = g.cfg.BackoffMax
		}
		if !sleepCtx(g.ctx, rand.N(bound)) || g.closing.Load() {
			return
		}
		g.c.reconnects.Add(1)
		last := v.seq.last.Load()
		_, sess, err := v.connect(&last)
		if err == nil {
			select {
			case <-v.caught:
				return
			case <-sess:
				if !v.recovering {
					return
				}
				err = errConnLost
			case <-g.ctx.Done():
				return
			}
		}
		if g.ctx.Err() != nil || g.closing.Load() {
			return
		}
		g.c.reconnectFailures.Add(1)
		g.c.mu.Lock()
		g.c.reconnectErrors = addCounts(g.c.reconnectErrors, map[string]int64{errKind("reconnect", err): 1})
		g.c.mu.Unlock()
	}
}

// measureOffset estimates the server's clock offset with two pings: the
// pong's ts against the midpoint of the round trip. The sample with the
// smallest round trip bounds the error best, so the group keeps the best
// sample of each node for all its buyers (they share this process's clock).
func (v *vconn) measureOffset() {
	node := v.g.d.nodeOf(v.idx)
	for k := 1; k <= 2; k++ {
		id := "o" + itoa(k)
		t0 := time.Now()
		raw, err := v.request(id, []byte(`{"type":"ping","id":"`+id+`"}`), connectTimeout)
		t1 := time.Now()
		if err != nil {
			v.g.c.err(errKind("ping", err))
			return
		}
		tsRaw, ok := rawField(raw, []byte(`"ts"`))
		ts, ok2 := parseUint(tsRaw)
		if !ok || !ok2 || ts == 0 {
			v.g.c.violation("pong_without_ts")
			return
		}
		mid := float64(t0.UnixNano()+t1.UnixNano()) / 2 / 1e6
		v.g.clockSample(node, t1.Sub(t0), float64(ts)-mid)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// buy fires at startsAt (server clock) and retries the answers that ask
// for it: sale_not_live (the sale is not live yet by the server's clock:
// again with a new id, since that answer is remembered), rate_limited and
// unavailable (again with the same id, since they are not, after a
// backoff), overloaded (again with the same id, after retry_after_ms plus
// as much again of jitter, as the protocol asks).
func (v *vconn) buy(startsAt int64) {
	g := v.g
	defer g.wg.Done()
	defer func() { // even when the group ends first
		if g.pendingBuyers.Add(-1) == 0 {
			g.bought.done()
		}
	}()
	offset := v.g.clockOffset(v.g.d.nodeOf(v.idx))
	fire := time.UnixMilli(startsAt).Add(-time.Duration(offset * float64(time.Millisecond)))
	if !sleepUntil(g.ctx, fire) {
		return
	}
	g.c.buyers.Add(1)
	notLiveUntil := fire.Add(3 * time.Second)
	n, busy := 0, 0
	newID := func() string { n++; return "b" + itoa(n) }
	id := newID()
	outcome, orderID := "", ""
	for attempt := 0; attempt < 500; attempt++ {
		msg, _ := json.Marshal(map[string]any{"type": protocol.TypeBuy, "id": id, "room": v.room.name, "product": g.plan.Product, "qty": 1})
		t0 := time.Now()
		atomicMinNonZero(&g.c.firstBuy, t0.UnixNano())
		g.c.attempts.Add(1)
		raw, err := v.request(id, msg, requestTimeout)
		if err != nil {
			outcome = "no_answer"
			break
		}
		t1 := time.Now()
		g.hPurchase.record(v.idx, t1.Sub(t0))
		var r struct {
			OK    bool            `json:"ok"`
			Order string          `json:"order"`
			Error *protocol.Error `json:"error"`
		}
		if json.Unmarshal(raw, &r) != nil {
			outcome = "undecodable"
			break
		}
		if r.OK {
			outcome, orderID = "ok", r.Order
			if r.Order == "" {
				g.c.violation("buy_reply_without_order")
			}
			break
		}
		code := "no_code"
		if r.Error != nil && r.Error.Code != "" {
			code = r.Error.Code
		}
		outcome = code
		wait, fresh, again := buyRetry(r.Error, t1.Before(notLiveUntil), &busy)
		if !again || !sleepCtx(g.ctx, wait) {
			break
		}
		if fresh {
			id = newID()
		}
		g.c.mu.Lock()
		g.c.retried = addCounts(g.c.retried, map[string]int64{code: 1})
		g.c.mu.Unlock()
	}
	now := time.Now().UnixNano()
	g.c.answered.Add(1)
	atomicMax(&g.c.lastAnswer, now)
	g.c.mu.Lock()
	g.c.answers = addCounts(g.c.answers, map[string]int64{outcome: 1})
	if outcome == "ok" {
		g.c.orderIDs = append(g.c.orderIDs, orderID)
	}
	g.c.mu.Unlock()
	switch outcome {
	case "ok":
		atomicMax(&g.c.lastOK, now)
	case protocol.CodeSoldOut, protocol.CodeLimitExceeded, protocol.CodeSaleNotLive:
	default:
		g.c.err("buy_" + outcome)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// buyRetry decides whether a purchase answered e is sent again, after
// wait, and with a new id (fresh): sale_not_live while notLive allows,
// with a new id since that answer is remembered; rate_limited and
// unavailable with a growing backoff, overloaded after its retry_after_ms,
// both with the same id and at most 8 times (busy counts them).
func buyRetry(e *protocol.Error, notLive bool, busy *int) (wait time.Duration, fresh, again bool) {
	if e == nil {
		return 0, false, false
	}
	switch e.Code {
	case protocol.CodeSaleNotLive:
		return time.Duration(5+rand.N(10)) * time.Millisecond, true, notLive
	case protocol.CodeRateLimited, protocol.CodeUnavailable, protocol.CodeOverloaded:
		if *busy >= 8 {
			return 0, false, false
		}
		*busy++
		if e.Code == protocol.CodeOverloaded {
			return retryAfter(e.RetryAfterMS), false, true
		}
		return time.Duration(25<<*busy) * time.Millisecond, false, true
	}
	return 0, false, false
}

// retryAfter is how long to wait before retrying an overloaded answer:
// its retry_after_ms (1s when absent) plus up to as much again of random
// jitter, so a crowd's retries spread out instead of returning as one
// burst.
func retryAfter(ms int64) time.Duration {
	if ms <= 0 {
		ms = 1000
	}
	return time.Duration(ms+rand.Int64N(ms+1)) * time.Millisecond
}
