package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveserver/liveserver/protocol"
)

// Source gives the hub the room state it does not keep itself.
type Source interface {
	// Snapshot returns the room's state; a room that does not exist is a
	// *protocol.Error not_found. Viewers is filled in by the hub.
	Snapshot(ctx context.Context, room string) (protocol.Snapshot, error)
	// Since returns the events after seq, in order, each with its seq. ok is
	// false when they are no longer all held or seq is ahead of the room.
	Since(ctx context.Context, room string, seq uint64) (events []protocol.Envelope, ok bool, err error)
}

// Presence turns this node's viewer counts into counts across all nodes.
type Presence interface {
	// Report records the local count of every room (zero for a room this
	// node no longer serves) and returns the total of each room reported.
	Report(ctx context.Context, local map[string]int64) (map[string]int64, error)
}

// localPresence is the Presence of a single node.
type localPresence struct{}

func (localPresence) Report(_ context.Context, local map[string]int64) (map[string]int64, error) {
	return local, nil
}

// Config configures a Hub. Zero values mean the defaults given.
type Config struct {
	Source   Source   // required
	Broker   Broker   // nil: a MemoryBroker
	Presence Presence // nil: this node's counts are the totals

	MaxQueueBytes int // a connection's unsent backlog limit; zero: 4 MiB
	// MaxNodeQueueBytes is the node's budget of queued bytes that one
	// connection holds alone (see budget.go); zero: a quarter of
	// GOMEMLIMIT if set, else 512 MiB.
	MaxNodeQueueBytes int64
	// SnapshotShareWindow is how long joins of a room at the same seq share
	// one encoded snapshot (see snapshot.go); zero: 1s; negative: never.
	SnapshotShareWindow time.Duration
	WriteTimeout        time.Duration // a write stalled this long closes with 4000; zero: 10s
	PingInterval        time.Duration // a connection silent this long is pinged; zero: 25s
	PingTimeout         time.Duration // zero: 10s
	ViewersInterval     time.Duration // how often viewer counts are sent; zero: 1s
	MaxRoomsPerConn     int           // zero: 16
	FetchTimeout        time.Duration // snapshot and history reads; zero: 3s
	// VolatileInterval is the least time between two fan-outs of a room's
	// volatile messages (stock, purchase ticker); zero: 50ms.
	VolatileInterval time.Duration
	// BidInterval is the same for a room's auction bid messages, on a
	// clock of their own; zero: DefaultBidInterval.
	BidInterval time.Duration
	// ChatFanoutRate is how many comments a second of a room every viewer
	// gets; above it viewers get a sample (see chat.go). Zero:
	// DefaultChatFanoutRate.
	ChatFanoutRate int

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered

	maxPings int // tests: the bound of maintenance goroutines; zero: maxMaintenanceGoroutines
}

func (c Config) withDefaults() Config {
	if c.Presence == nil {
		c.Presence = localPresence{}
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = 4 << 20
	}
	if c.MaxNodeQueueBytes == 0 {
		c.MaxNodeQueueBytes = defaultNodeQueueBytes()
	}
	if c.SnapshotShareWindow == 0 {
		c.SnapshotShareWindow = time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 10 * time.Second
	}
	if c.ViewersInterval == 0 {
		c.ViewersInterval = time.Second
	}
	if c.MaxRoomsPerConn == 0 {
		c.MaxRoomsPerConn = 16
	}
	if c.VolatileInterval == 0 {
		c.VolatileInterval = 50 * time.Millisecond
	}
	if c.BidInterval == 0 {
		c.BidInterval = DefaultBidInterval
	}
	if c.ChatFanoutRate <= 0 {
		c.ChatFanoutRate = DefaultChatFanoutRate
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.maxPings == 0 {
		c.maxPings = maxMaintenanceGoroutines
	}
	return c
}

// ErrShuttingDown is returned by Accept once Shutdown or Close has begun.
var ErrShuttingDown = errors.New("room: hub is shutting down")

// Hub is the registry of connections and rooms of one node.
type Hub struct {
	cfg    Config
	src    Source
	broker Broker
	// ownBroker: the hub made its broker (none was configured) and closes it.
	ownBroker bool
	log       *slog.Logger
	metrics   *metrics
	writers   *writerPool
	budget    *queueBudget

	subMu      sync.Mutex      // serializes broker Subscribe/Unsubscribe
	brokerSubs map[string]bool // rooms subscribed at the broker; under subMu

	mu    sync.RWMutex
	rooms map[string]*hubRoom
	conns map[*Conn]struct{}

	// ctx is the hub's lifetime: Close cancels it. Work the hub does on its
	// own behalf (gap repair, resyncs, presence reports, broker
	// unsubscribes, pings) runs under it, so Close never waits out a
	// FetchTimeout or a PingTimeout.
	ctx    context.Context
	cancel context.CancelFunc
	// pings bounds the goroutines the maintenance loop starts (pings and
	// closes of stalled connections); see sweep.
	pings semaphore

	closing  atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // the maintenance loop, the writer pool, ping and close goroutines
	nextID   atomic.Uint64
}

// hubRoom is a room with subscribers on this node.
type hubRoom struct {
	id   string
	refs int // subscriptions, joined or joining; under Hub.mu

	mu        sync.Mutex
	subs      map[*Conn]*sub
	lastSeq   uint64 // last event delivered here; 0 before the first event or snapshot
	count     int64  // connections that completed a join
	reported  int64  // count at the last Presence report
	total     int64  // count across nodes at the last report
	totalSent int64  // count in the last viewers message, -1 before it

	stale bool // a resync failed; the maintenance loop retries it

	vol  throttle // stock, purchase ticker: Config.VolatileInterval
	bids throttle // auction bid messages: Config.BidInterval

	writers *writerPool
	fan     fanout // scratch of the fan-out in progress

	snap snapCache // the last encoded snapshot, shared by joins

	chat chatRoom // the chat's fan-out state (chat.go)
}

// sub is one connection's subscription to a room.
type sub struct {
	c       *Conn
	room    string
	pending bool                // joining: events are buffered, not sent
	buf     []protocol.Envelope // events that arrived while pending
	after   uint64              // events up to this seq are already covered
	counted bool
	closed  bool // the room was deleted while this join was pending

	member  Member            // who it is in the room's chat
	chatBuf []bufferedComment // comments that arrived while pending
}

const maxPendingEvents = 4096

// NewHub builds a hub; call Run to start it and Shutdown or Close to end it.
func NewHub(cfg Config) *Hub {
	cfg = cfg.withDefaults()
	ownBroker := cfg.Broker == nil
	if ownBroker {
		cfg.Broker = NewMemoryBroker()
	}
	budget := &queueBudget{max: cfg.MaxNodeQueueBytes}
	registerBudgetGauge(cfg.Registerer, budget)
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{
		budget:     budget,
		ctx:        ctx,
		cancel:     cancel,
		pings:      newSemaphore(cfg.maxPings),
		ownBroker:  ownBroker,
		cfg:        cfg,
		src:        cfg.Source,
		broker:     cfg.Broker,
		log:        cfg.Logger,
		metrics:    newMetrics(cfg.Registerer),
		writers:    newWriterPool(),
		brokerSubs: make(map[string]bool),
		rooms:      make(map[string]*hubRoom),
		conns:      make(map[*Conn]struct{}),
		stop:       make(chan struct{}),
	}
}

// Run connects the hub to its broker and starts its maintenance goroutine
// and its writer pool, which end in Shutdown or Close.
func (h *Hub) Run() error {
	if err := h.broker.Run(h); err != nil {
		return err
	}
	h.writers.start(&h.wg, h.stop)
	h.wg.Add(1)
	go h.maintain()
	return nil
}

// register adds a connection, unless the hub is shutting down.
func (h *Hub) register(c *Conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing.Load() {
		return ErrShuttingDown
	}
	h.conns[c] = struct{}{}
	h.metrics.conns.Inc()
	return nil
}

// unregister removes a connection and its subscriptions.
func (h *Hub) unregister(c *Conn) {
	c.mu.Lock()
	c.closing = true
	rooms := make([]string, 0, len(c.rooms))
	for _, s := range c.rooms {
		rooms = append(rooms, s.room)
	}
	c.mu.Unlock()
	for _, id := range rooms {
		h.Leave(c, id)
	}
	h.mu.Lock()
	if _, ok := h.conns[c]; ok {
		delete(h.conns, c)
		h.metrics.conns.Dec()
	}
	h.mu.Unlock()
}

// Conns is the number of registered connections.
func (h *Hub) Conns() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
}

// Join subscribes c to a room. It queues reply (if not nil) and then the
// room's snapshot, or the events after *since when they are still held, and
// from then on every later event of the room, in order, with no gap.
// Joining a room again re-synchronizes it. Errors are *protocol.Error.
func (h *Hub) Join(ctx context.Context, c *Conn, roomID string, since *uint64, reply []byte) error {
	return h.join0(ctx, c, roomID, since, reply, Member{})
}

func (h *Hub) join0(ctx context.Context, c *Conn, roomID string, since *uint64, reply []byte, m Member) error {
	s, rejoin, err := h.subscription(c, roomID)
	if err != nil {
		return err
	}
	r := h.acquireRoom(roomID, !rejoin)
	r.mu.Lock()
	r.setMemberLocked(s, m)
	r.mu.Unlock()
	err = h.join(ctx, r, s, since, reply)
	if err != nil {
		// A failed join, first or again, leaves the client out of the room.
		h.Leave(c, roomID)
	}
	if err == nil {
		h.metrics.joins.Inc()
	}
	return err
}

// subscription returns c's subscription to a room, adding one unless c
// already has it (rejoin) or may not join another room.
func (h *Hub) subscription(c *Conn, roomID string) (s *sub, rejoin bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s = c.subLocked(roomID); s != nil {
		return s, true, nil
	}
	if len(c.rooms) >= h.cfg.MaxRoomsPerConn {
		return nil, false, protocol.Errorf(protocol.CodeTooManyRooms, "a connection may join at most %d rooms", h.cfg.MaxRoomsPerConn)
	}
	if c.closing {
		return nil, false, protocol.Errorf(protocol.CodeUnavailable, "connection is closing")
	}
	s = &sub{c: c, room: roomID}
	c.rooms = append(c.rooms, s)
	return s, false, nil
}

// acquireRoom returns the room, creating it if this node serves no one
// there yet, and takes a reference to it for a new subscription (ref).
func (h *Hub) acquireRoom(roomID string, ref bool) *hubRoom {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[roomID]
	if r == nil {
		r = &hubRoom{id: roomID, subs: make(map[*Conn]*sub), totalSent: -1, writers: h.writers}
		h.rooms[roomID] = r
		h.metrics.rooms.Inc()
	}
	if ref {
		r.refs++
	}
	return r
}

// join brings s, already counted in r.refs, into the room: it subscribes
// the node to the room's events, then reads the room's state while the
// events that arrive meanwhile are buffered for s, and queues the state and
// the buffered events that follow it. If more events arrive during the read
// than a buffer holds, it reads again (at most three times).
func (h *Hub) join(ctx context.Context, r *hubRoom, s *sub, since *uint64, reply []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.FetchTimeout)
	defer cancel()
	defer context.AfterFunc(h.ctx, cancel)() // a hub that closes ends the join
	if err := h.ensureSubscribed(ctx, r.id); err != nil {
		h.log.Warn("broker subscribe failed", "room", r.id, "err", err)
		return protocol.Errorf(protocol.CodeUnavailable, "room events are unavailable right now")
	}
	for attempt := 0; ; attempt++ {
		if !r.beginJoin(s) {
			return errRoomClosed(r.id)
		}
		st, err := h.fetchJoinState(ctx, r.id, since)
		if err != nil {
			return err
		}
		r.mu.Lock()
		if s.closed {
			r.mu.Unlock()
			return errRoomClosed(r.id)
		}
		if len(s.buf) >= maxPendingEvents && attempt < 3 {
			r.mu.Unlock()
			continue // events outran the fetch: fetch again
		}
		h.completeJoinLocked(r, s, &st, reply)
		r.mu.Unlock()
		return nil
	}
}

// joinState is what a joining client is sent: the room's snapshot, or,
// when the history still holds every event after since, those events
// (replay) and the current stock taken from the snapshot read with them.
type joinState struct {
	since    *uint64
	snap     protocol.Snapshot
	replay   []protocol.Envelope
	replayed bool // replay is complete: send it, not snap
}

// upto is the seq of the last event the state covers.
func (st *joinState) upto() uint64 {
	switch {
	case !st.replayed:
		return st.snap.Seq
	case len(st.replay) > 0:
		return st.replay[len(st.replay)-1].Seq
	default:
		return *st.since
	}
}

// beginJoin marks s pending, with an empty buffer, and makes it one of r's
// subscribers: from now on the room's events are buffered for it. It
// returns false, doing nothing, when the room was closed under s.
func (r *hubRoom) beginJoin(s *sub) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.closed {
		return false
	}
	s.pending, s.buf = true, nil
	r.subs[s.c] = s
	return true
}

// fetchJoinState reads the events after *since (if since is set) and the
// room's snapshot from the Source. Errors are *protocol.Error.
func (h *Hub) fetchJoinState(ctx context.Context, room string, since *uint64) (joinState, error) {
	st := joinState{since: since}
	if since != nil {
		var err error
		st.replay, st.replayed, err = h.src.Since(ctx, room, *since)
		if err != nil {
			return st, h.fetchError(room, err)
		}
	}
	// A replay brings the events but not the volatile state: the snapshot
	// read with it supplies the current stock.
	snap, err := h.src.Snapshot(ctx, room)
	if err != nil {
		return st, h.fetchError(room, err)
	}
	st.snap = snap
	return st, nil
}

// completeJoinLocked counts s as a viewer and queues, in order, reply (if
// not nil), the join state, and the events buffered for s that the state
// does not cover; then s receives the room's events directly. r.mu is held.
func (h *Hub) completeJoinLocked(r *hubRoom, s *sub, st *joinState, reply []byte) {
	upto := st.upto()
	if r.lastSeq == 0 {
		r.lastSeq = upto
	}
	if !s.counted {
		s.counted = true
		r.count++
	}
	c := s.c
	c.mu.Lock()
	if reply != nil {
		c.sendOwnLocked(reply)
	}
	if st.replayed {
		r.sendReplayLocked(c, st)
	} else {
		h.sendSnapshotLocked(r, c, &st.snap)
	}
	for _, ev := range s.buf {
		if ev.Seq > upto {
			c.sendLocked(ev.Msg)
			upto = ev.Seq
		}
	}
	h.chatJoinedLocked(r, s, &st.snap)
	c.mu.Unlock()
	s.after, s.pending, s.buf = upto, false, nil
}

// sendReplayLocked queues the replayed events after since to c, then the
// current stock of every product and the auction's leading bid (as
// volatile messages, which the replay does not carry). r.mu and c.mu are
// held.
func (r *hubRoom) sendReplayLocked(c *Conn, st *joinState) {
	for _, ev := range st.replay {
		if ev.Seq > *st.since {
			c.sendLocked(ev.Msg)
		}
	}
	sn := &st.snap
	for _, p := range sn.Products {
		c.sendVolatileOwnLocked(r.id, protocol.StockKey(p.ID), protocol.Marshal(protocol.Stock{
			Type: protocol.TypeStock, Room: r.id, TS: sn.TS, Product: p.ID, Remaining: p.Remaining, V: p.V,
		}))
	}
	if b := protocol.BidState(r.id, sn.TS, sn.Auction); b != nil {
		c.sendVolatileOwnLocked(r.id, protocol.BidKey(b.Auction), protocol.Marshal(b))
	}
}

func (r *hubRoom) viewersLocked() int64 {
	v := r.total + r.count - r.reported
	if v < r.count {
		v = r.count
	}
	return v
}

// fetchError is a failed read of a room's state, as the caller's edge
// classifies and logs it (protocol.AsError): a refusal as it is, a
// dependency failure unavailable or overloaded.
func (h *Hub) fetchError(room string, err error) error {
	return fmt.Errorf("room %s: reading its state: %w", room, err)
}

// Leave unsubscribes c from a room; leaving a room not joined does nothing.
func (h *Hub) Leave(c *Conn, roomID string) {
	if h.leave(c, roomID) {
		h.maybeUnsubscribe(roomID)
	}
}

// leave is Leave but for the broker: it reports whether the room has no
// subscriber left here, whose broker subscription may end.
func (h *Hub) leave(c *Conn, roomID string) (gone bool) {
	c.mu.Lock()
	s := c.removeSubLocked(roomID)
	c.mu.Unlock()
	if s == nil {
		return false
	}
	h.mu.Lock()
	r := h.rooms[roomID]
	r.refs--
	gone = r.refs == 0
	r.mu.Lock()
	delete(r.subs, c)
	r.unindexLocked(s)
	if s.counted {
		r.count--
	}
	if gone {
		r.stopTimerLocked()
	}
	r.mu.Unlock()
	if gone {
		delete(h.rooms, roomID)
		h.metrics.rooms.Dec()
	}
	h.mu.Unlock()
	return gone
}

func (h *Hub) ensureSubscribed(ctx context.Context, room string) error {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	if h.brokerSubs[room] {
		return nil
	}
	if err := h.broker.Subscribe(ctx, room); err != nil {
		return err
	}
	h.brokerSubs[room] = true
	return nil
}

func (h *Hub) maybeUnsubscribe(room string) {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	h.mu.RLock()
	_, alive := h.rooms[room]
	h.mu.RUnlock()
	if alive || !h.brokerSubs[room] {
		return
	}
	delete(h.brokerSubs, room)
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.FetchTimeout)
	defer cancel()
	if err := h.broker.Unsubscribe(ctx, room); err != nil {
		h.log.Warn("broker unsubscribe failed", "room", room, "err", err)
	}
}

// HandleMessage implements BrokerHandler: it delivers one envelope to the
// room's subscribers on this node.
func (h *Hub) HandleMessage(roomID string, data []byte) {
	env, ok := protocol.ParseEnvelope(data)
	if !ok {
		h.log.Warn("dropping a malformed broker message", "room", roomID)
		return
	}
	h.mu.RLock()
	r := h.rooms[roomID]
	h.mu.RUnlock()
	if r == nil {
		return
	}
	if env.Seq == 0 {
		if env.Key == protocol.ClosedKey {
			h.closeRoom(roomID, env.Msg)
			return
		}
		if h.chatMessage(r, env.Key, env.Msg) {
			return
		}
		h.volatile(r, env.Key, env.Msg)
		return
	}
	r.mu.Lock()
	gap := r.deliverLocked(env)
	r.mu.Unlock()
	if gap {
		h.repair(r)
	}
}

// DefaultBidInterval is Config.BidInterval's default. A bid message goes
// to every viewer of the room: in a 10,000-viewer room each fan-out is
// 10,000 writes (about 70 ms of a core here), so the leading bid is shown
// at most five times a second; the bidder's own reply is not delayed.
const DefaultBidInterval = 200 * time.Millisecond

// throttle coalesces a room's volatile messages of one class, under
// hubRoom.mu.
type throttle struct {
	last    time.Time         // when its messages were last fanned out
	pending map[string][]byte // coalesced messages waiting for last+interval
	timer   *time.Timer       // flushes pending; stopped when the room goes or the hub closes
}

// volatile fans a volatile message out at most once per VolatileInterval
// per room (BidInterval for auction bids, on a throttle of their own): the
// first of a quiet room goes at once, later ones within the interval are
// coalesced per key and the latest of each goes when it ends. A flash
// sale's thousand purchases a second become a few stock fan-outs, not a
// thousand.
func (h *Hub) volatile(r *hubRoom, key string, msg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h.ctx.Err() != nil {
		return // closed: Close has stopped the timers and must not see a new one
	}
	t, interval := &r.vol, h.cfg.VolatileInterval
	if protocol.IsBidKey(key) {
		t, interval = &r.bids, h.cfg.BidInterval
	}
	if t.pending != nil {
		if _, ok := t.pending[key]; ok {
			h.metrics.conflated.Inc()
		}
		t.pending[key] = msg
		return
	}
	now := time.Now()
	if wait := interval - now.Sub(t.last); wait > 0 {
		t.pending = map[string][]byte{key: msg}
		t.timer = time.AfterFunc(wait, func() { h.flushVolatile(r, t) })
		return
	}
	t.last = now
	r.fanOutVolatileLocked(key, msg)
}

func (h *Hub) flushVolatile(r *hubRoom, t *throttle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t.timer = nil
	if t.pending == nil {
		return // the timer was stopped after it fired
	}
	t.last = time.Now()
	for key, msg := range t.pending {
		r.fanOutVolatileLocked(key, msg)
	}
	t.pending = nil
}

// stopTimerLocked stops the room's volatile flushes and drops what they
// would have sent: the room has no subscribers left, or the hub is closing.
func (r *hubRoom) stopTimerLocked() {
	r.vol.stop()
	r.bids.stop()
}

func (t *throttle) stop() {
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.pending = nil
}

func (r *hubRoom) fanOutVolatileLocked(key string, msg []byte) {
	f := &r.fan
	f.start(r.writers)
	for _, s := range r.subs {
		if !s.pending {
			s.c.mu.Lock()
			s.c.volatileLocked(r.id, key, msg, f.now, f)
			s.c.mu.Unlock()
		}
	}
	f.flush()
}

// deliverLocked hands an event to every subscriber. It returns true, having
// delivered nothing, when the event is not the next one (a gap).
func (r *hubRoom) deliverLocked(ev protocol.Envelope) (gap bool) {
	if r.lastSeq != 0 && ev.Seq <= r.lastSeq {
		return false // already delivered (a replay or a snapshot covered it)
	}
	if r.lastSeq != 0 && ev.Seq != r.lastSeq+1 {
		return true
	}
	r.lastSeq = ev.Seq
	f := &r.fan
	f.start(r.writers)
	for _, s := range r.subs {
		if s.pending {
			// Past the cap the join fetches again (or, at its last attempt,
			// leaves a gap the client repairs by joining with since).
			if len(s.buf) < maxPendingEvents {
				s.buf = append(s.buf, ev)
			}
		} else if ev.Seq > s.after {
			s.c.mu.Lock()
			s.c.queueLocked(ev.Msg, f.now, f)
			s.c.mu.Unlock()
		}
	}
	f.flush()
	return false
}

// repair fills a gap in a room's events from the Source's history, or, when
// the history no longer holds them, sends every subscriber a fresh snapshot.
func (h *Hub) repair(r *hubRoom) {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.FetchTimeout)
	defer cancel()
	r.mu.Lock()
	from := r.lastSeq
	r.mu.Unlock()
	evs, ok, err := h.src.Since(ctx, r.id, from)
	if err == nil && ok {
		r.mu.Lock()
		gap := false
		for _, ev := range evs {
			if gap = r.deliverLocked(ev); gap {
				break
			}
		}
		r.mu.Unlock()
		if !gap {
			h.metrics.gapsRepaired.WithLabelValues("history").Inc()
			return
		}
	}
	h.resync(ctx, r)
	h.metrics.gapsRepaired.WithLabelValues("snapshot").Inc()
}

// resync sends every joined subscriber of r a fresh snapshot.
//
// If the snapshot cannot be read (the broker is back but the store is not
// yet), the room is marked stale and the maintenance loop tries again every
// second, so viewers of a quiet room are not left behind.
func (h *Hub) resync(ctx context.Context, r *hubRoom) {
	snap, err := h.src.Snapshot(ctx, r.id)
	if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Code == protocol.CodeNotFound {
		// Deleted, and its room_closed was lost (the broker was down).
		h.closeRoom(r.id, roomClosedMsg(r.id))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		h.log.Warn("resync: reading snapshot failed; will retry", "room", r.id, "err", err)
		r.stale = true
		return
	}
	r.stale = false
	if snap.Seq < r.lastSeq {
		return // events newer than this snapshot were delivered meanwhile
	}
	snap.Viewers = r.viewersLocked()
	msg := protocol.Marshal(snap)
	if snap.Seq > r.lastSeq {
		r.lastSeq = snap.Seq
	}
	for _, s := range r.subs {
		if !s.pending {
			s.c.mu.Lock()
			s.c.sendLocked(msg) // one buffer for the room: not charged to the budget
			s.c.mu.Unlock()
			s.after = snap.Seq
		}
	}
}

// HandleReconnect implements BrokerHandler: messages may have been lost, so
// every room served here gets a fresh snapshot before delivery goes on.
func (h *Hub) HandleReconnect() {
	h.mu.RLock()
	rooms := make([]*hubRoom, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.RUnlock()
	h.log.Info("broker reconnected: resynchronizing rooms", "rooms", len(rooms))
	for _, r := range rooms {
		if h.ctx.Err() != nil {
			return // closed: the rooms are gone with the hub
		}
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.FetchTimeout)
		h.resync(ctx, r)
		cancel()
	}
	h.metrics.resyncs.Inc()
}

// Viewers is the room's viewer count as this node knows it (across nodes
// as of the last presence report), or 0 when no one here watches it.
func (h *Hub) Viewers(roomID string) int64 {
	h.mu.RLock()
	r := h.rooms[roomID]
	h.mu.RUnlock()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.viewersLocked()
}
