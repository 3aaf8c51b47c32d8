package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/liveserver/liveserver/protocol"
)

// wconn is a connection of the chat and auction scenarios: it joins one
// room once and hands every message to its scenario's handler, on its
// reader goroutine. These scenarios run in-process (no workers, no
// reconnects): what they check is per connection, over one session.
//
// The handler owns the scenario's per-connection state; other goroutines
// of the connection (a poster, a bidder) use request and send, and share
// state with the handler through atomics or the connection's mutex.
type wconn struct {
	idx   int
	user  string
	token string
	room  string
	roomB []byte

	ws      *websocket.Conn
	done    chan struct{} // closed when the reader ended
	ctx     context.Context
	onMsg   func(m []byte, f msgFields, now int64)
	mu      sync.Mutex
	waiters map[string]chan []byte
	closing atomic.Bool
	lost    atomic.Bool // ended while the tester did not mean it to
	code    string      // close code when lost; under mu

	// reader state
	joinID  string
	replied bool
	synced  bool
	seq     seqTracker
	snapCh  chan []byte // the snapshot, once
	buf     bytes.Buffer
	errs    map[string]int64 // under mu
	viol    map[string]int64 // under mu
	n       atomic.Int64     // request ids
	joinAt  int64            // snapshot received (Unix ns)
	msgs    atomic.Int64     // messages the scenario's handler got
}

// dialJoin opens the connection, joins the room and waits for the reply
// and the snapshot, which it returns.
func (w *wconn) dialJoin(ctx context.Context, d *dialer) ([]byte, error) {
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	ws, err := d.dial(dctx, w.idx, w.token)
	if err != nil {
		return nil, err
	}
	w.ws, w.ctx = ws, ctx
	w.done = make(chan struct{})
	w.snapCh = make(chan []byte, 1)
	w.waiters = map[string]chan []byte{}
	w.roomB = []byte(w.room)
	w.joinID = "join"
	go w.readLoop()
	raw, err := w.request(dctx, w.joinID, joinMessage(w.room, w.joinID, nil))
	if err == nil {
		err = replyErr(raw)
	}
	var snap []byte
	if err == nil {
		select {
		case snap = <-w.snapCh:
		case <-w.done:
			err = errConnLost
		case <-dctx.Done():
			err = errTimeout
		}
	}
	if err != nil {
		w.close()
		return nil, err
	}
	return snap, nil
}

func (w *wconn) readLoop() {
	defer close(w.done)
	// Reads take no context (see vconn.readLoop): the run's end closes the
	// connection instead.
	stop := context.AfterFunc(w.ctx, func() { w.ws.CloseNow() })
	err := readFrames(context.Background(), w.ws, &w.buf, func(frame []byte) {
		now := time.Now().UnixNano()
		for {
			var m []byte
			m, frame = nextMessage(frame)
			if len(m) == 0 {
				return
			}
			w.onMessage(m, now)
		}
	})
	stop()
	w.ws.CloseNow()
	if !w.closing.Load() && w.ctx.Err() == nil {
		w.mu.Lock()
		w.code = closeCode(err)
		w.mu.Unlock()
		w.lost.Store(true)
	}
}

func (w *wconn) onMessage(m []byte, now int64) {
	f := scanFields(m)
	switch string(f.typ) {
	case protocol.TypeReply, protocol.TypePong:
		// Decoded: a reply's result fields may hold objects with an "id"
		// of their own (a comment), before the reply's id.
		var r struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m, &r) != nil {
			w.violation("undecodable_reply")
			return
		}
		if r.ID == w.joinID {
			w.replied = true
		}
		w.mu.Lock()
		ch := w.waiters[r.ID]
		w.mu.Unlock()
		if ch != nil {
			select {
			case ch <- bytes.Clone(m):
			default:
			}
		}
		return
	case protocol.TypeSnapshot:
		if !w.replied {
			w.violation("snapshot_before_join_reply")
		}
		w.seq.reset(f.seq)
		w.synced = true
		w.joinAt = now
		select {
		case w.snapCh <- bytes.Clone(m):
		default:
		}
		return
	case protocol.TypeError:
		var e protocol.Error
		_ = json.Unmarshal(m, &e)
		w.err("server_error_" + e.Code)
		return
	}
	if f.room != nil && !bytes.Equal(f.room, w.roomB) {
		w.violation("message_for_other_room")
		return
	}
	if !w.synced {
		w.violation("message_before_snapshot")
		return
	}
	if f.hasSeq {
		switch v, _ := w.seq.observe(f.seq); v {
		case seqGap:
			w.err("seq_gap")
			w.seq.reset(f.seq) // counted; these scenarios do not resync
		case seqDup:
			w.err("seq_duplicate")
		}
	}
	w.onMsg(m, f, now)
}

func (w *wconn) err(kind string) {
	w.mu.Lock()
	w.errs = addCounts(w.errs, map[string]int64{kind: 1})
	w.mu.Unlock()
}

func (w *wconn) violation(kind string) {
	w.mu.Lock()
	w.viol = addCounts(w.viol, map[string]int64{kind: 1})
	w.mu.Unlock()
}

// nextID is a fresh request id with a prefix.
func (w *wconn) nextID(prefix string) string {
	return prefix + strconv.FormatInt(w.n.Add(1), 10)
}

// request sends a message with an id and waits for its reply.
func (w *wconn) request(ctx context.Context, id string, msg []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	w.mu.Lock()
	w.waiters[id] = ch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.waiters, id)
		w.mu.Unlock()
	}()
	if err := w.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, errConnLost
	}
	select {
	case raw := <-ch:
		return raw, nil
	case <-w.done:
		select {
		case raw := <-ch:
			return raw, nil
		default:
		}
		return nil, errConnLost
	case <-ctx.Done():
		return nil, errTimeout
	}
}

// send writes a message that gets no reply.
func (w *wconn) send(ctx context.Context, msg []byte) error {
	return w.ws.Write(ctx, websocket.MessageText, msg)
}

// close closes the connection with a handshake (at most 3 s) and waits for
// the reader.
func (w *wconn) close() {
	if w.ws == nil {
		return
	}
	w.closing.Store(true)
	closed := make(chan struct{})
	go func() {
		w.ws.Close(websocket.StatusNormalClosure, "")
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		w.ws.CloseNow()
	}
	<-w.done
	<-closed
}

// figures adds the connection's errors and violations to the report.
func (w *wconn) figures(r *Report, prefix string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range w.errs {
		r.ErrorKinds[prefix+k] += v
		r.Errors += v
	}
	for k, v := range w.viol {
		r.Violations[prefix+k] += v
		r.ErrorKinds[prefix+"protocol_violation"] += v
		r.Errors += v
	}
	if w.lost.Load() {
		r.Disconnects[w.code]++
		r.ErrorKinds[prefix+"disconnect_"+w.code]++
		r.Errors++
	}
}

// connectAll opens and joins every connection, at most conc at a time and
// at rate per second (0: no pacing). It returns the ones that joined; the
// others are counted in the report.
func connectAll(ctx context.Context, d *dialer, conns []*wconn, conc int, rate float64, r *Report, h *recorder) []*wconn {
	sem := make(chan struct{}, conc)
	ok := make([]bool, len(conns))
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := time.Now()
	for k, w := range conns {
		if rate > 0 && !sleepUntil(ctx, start.Add(time.Duration(float64(k)/rate*float64(time.Second)))) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			if _, err := w.dialJoin(ctx, d); err != nil {
				mu.Lock()
				r.ErrorKinds[errKind("join", err)]++
				r.Errors++
				mu.Unlock()
				return
			}
			h.record(w.idx, time.Since(t0))
			ok[k] = true
		}()
	}
	wg.Wait()
	var out []*wconn
	for k, w := range conns {
		if ok[k] {
			out = append(out, w)
		}
	}
	r.Connections = int64(len(conns))
	r.Connected = int64(len(out))
	r.ConnectFailed = r.Connections - r.Connected
	return out
}

// closeAllW closes connections, 128 at a time.
func closeAllW(conns []*wconn) {
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	for _, w := range conns {
		if w == nil || w.ws == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w.close()
		}()
	}
	wg.Wait()
}

// fetchTokens gets every connection's token, 64 at a time.
func (c *coordinator) fetchTokens(ctx context.Context, conns []*wconn, role string, rooms []string) error {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, w := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t, err := c.tok.get(ctx, c.nodes[w.idx%len(c.nodes)].HTTP, w.user, role, rooms)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			w.token = t
		}()
	}
	wg.Wait()
	return first
}

// pacer calls f at rate per second (a fixed schedule: a late call is
// followed by the next on time, never by a burst) until ctx ends.
func pacer(ctx context.Context, rate float64, f func(k int)) {
	if rate <= 0 {
		return
	}
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for k := 0; ; k++ {
		f(k)
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		if !sleepUntil(ctx, next) {
			return
		}
	}
}

// offsetOf measures a node's clock offset (server - local, ms) with a few
// pings on w: the sample with the smallest round trip.
func (w *wconn) offsetOf(ctx context.Context) (float64, time.Duration, error) {
	best := time.Duration(-1)
	var off float64
	for k := 0; k < 3; k++ {
		id := w.nextID("o")
		t0 := time.Now()
		raw, err := w.request(ctx, id, []byte(`{"type":"ping","id":"`+id+`"}`))
		t1 := time.Now()
		if err != nil {
			return 0, 0, err
		}
		tsRaw, _ := rawField(raw, []byte(`"ts"`))
		ts, ok := parseUint(tsRaw)
		if !ok || ts == 0 {
			w.violation("pong_without_ts")
			continue
		}
		if rtt := t1.Sub(t0); best < 0 || rtt < best {
			best = rtt
			off = float64(ts) - float64(t0.UnixNano()+t1.UnixNano())/2/1e6
		}
	}
	return off, best, nil
}
