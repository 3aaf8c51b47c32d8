package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/coder/websocket"
)

// Phases a group reaches; the coordinator waits for them.
const (
	phaseReady     = "ready"     // every connection tried its first join
	phaseBought    = "bought"    // flashsale: every buyer has its final answer
	phaseRecovered = "recovered" // storm: every dropped viewer is back and caught up
)

// group is a share of a run's load connections: in this process
// (localGroup) or in a worker process (remoteGroup). The coordinator drives
// it; methods may be called from any goroutine.
type group interface {
	// wait blocks until the group reached the phase or ctx ends.
	wait(ctx context.Context, phase string) error
	// published tells the group that the tester published seq of room
	// (an index into the plan's rooms) at nano (Unix nanoseconds).
	published(room int, seq uint64, nano int64)
	// final tells the last seq of a room once publishing stopped.
	final(room int, seq uint64)
	// startSale makes every buyer buy at startsAt (server clock, Unix ms).
	startSale(startsAt int64)
	// drop closes every connection at once and reconnects them, measuring
	// the recovery from dropNano.
	drop(dropNano int64)
	// progress is a snapshot of the live figures.
	progress() progress
	// finish waits up to the drain time for the connections to receive
	// the final events, closes every connection, stops every goroutine of
	// the group and returns its figures.
	finish(ctx context.Context) (*Stats, error)
}

// progress is a live snapshot of a group's figures.
type progress struct {
	Target    int64 `json:"target"`
	Open      int64 `json:"open"`
	Delivered int64 `json:"delivered"`
	Errors    int64 `json:"errors"`
	Gaps      int64 `json:"gaps"`
	P99US     int64 `json:"p99_us"`
	Recovered int64 `json:"recovered"`
	Answered  int64 `json:"answered"`
}

// phase is a one-way signal.
type phase struct {
	once sync.Once
	ch   chan struct{}
}

func newPhase() *phase { return &phase{ch: make(chan struct{})} }
func (p *phase) done() { p.once.Do(func() { close(p.ch) }) }

// counters are a group's live figures.
type counters struct {
	open          atomic.Int64
	connected     atomic.Int64
	connectFailed atomic.Int64
	messages      counter
	delivered     counter
	gaps          atomic.Int64
	gapEvents     atomic.Int64
	dups          atomic.Int64
	unmatched     atomic.Int64
	resyncs       atomic.Int64
	errors        atomic.Int64
	firstEvent    atomic.Int64
	lastEvent     atomic.Int64

	buyers     atomic.Int64
	attempts   atomic.Int64
	answered   atomic.Int64
	firstBuy   atomic.Int64
	lastAnswer atomic.Int64
	lastOK     atomic.Int64

	dropped           atomic.Int64
	recovered         atomic.Int64
	reconnects        atomic.Int64
	reconnectFailures atomic.Int64
	viaSnapshot       atomic.Int64
	viaReplay         atomic.Int64
	lastRecovered     atomic.Int64
	firstDial         atomic.Int64
	lastJoined        atomic.Int64

	mu              sync.Mutex
	errorKinds      map[string]int64
	disconnects     map[string]int64
	violations      map[string]int64
	answers         map[string]int64
	reconnectErrors map[string]int64
	retried         map[string]int64
	orderIDs        []string
}

// clockSample offers a measurement of a node's clock offset (server -
// local, ms) taken with a ping of round trip rtt.
func (g *localGroup) clockSample(node int, rtt time.Duration, offsetMS float64) {
	g.clockMu.Lock()
	defer g.clockMu.Unlock()
	if g.bestRTT == nil {
		g.bestRTT, g.bestOffset = map[int]time.Duration{}, map[int]float64{}
	}
	if best, ok := g.bestRTT[node]; !ok || rtt < best {
		g.bestRTT[node], g.bestOffset[node] = rtt, offsetMS
	}
}

// offsetMax is the largest clock offset (absolute, ms) over the nodes.
func (g *localGroup) offsetMax() float64 {
	g.clockMu.Lock()
	defer g.clockMu.Unlock()
	var m float64
	for _, o := range g.bestOffset {
		m = max(m, abs(o))
	}
	return m
}

// clockOffset is the best estimate of a node's clock offset (ms).
func (g *localGroup) clockOffset(node int) float64 {
	g.clockMu.Lock()
	defer g.clockMu.Unlock()
	return g.bestOffset[node]
}

// err counts an error of a kind.
func (c *counters) err(kind string) {
	c.errors.Add(1)
	c.mu.Lock()
	c.errorKinds = addCounts(c.errorKinds, map[string]int64{kind: 1})
	c.mu.Unlock()
}

// violation counts a deviation from docs/PROTOCOL.md; it is an error too.
func (c *counters) violation(kind string) {
	c.mu.Lock()
	c.violations = addCounts(c.violations, map[string]int64{kind: 1})
	c.mu.Unlock()
	c.err("protocol_violation")
}

// disconnect counts an unexpected close by its close code; an error too.
func (c *counters) disconnect(code string) {
	c.mu.Lock()
	c.disconnects = addCounts(c.disconnects, map[string]int64{code: 1})
	c.mu.Unlock()
	c.err("disconnect_" + code)
}

// localGroup runs its share of the connections in this process.
type localGroup struct {
	plan   *Plan
	cfg    *Config
	ctx    context.Context // ends when the group finished
	cancel context.CancelFunc
	api    *api
	tok    *tokens
	d      *dialer
	rooms  []*roomState
	conns  []*vconn
	wg     sync.WaitGroup // every goroutine of the group
	c      counters

	hJoin, hEvent, hPurchase, hRecover *recorder

	ready, bought, recovered *phase
	closing                  atomic.Bool
	spawnMu                  sync.Mutex // orders spawn against the closing in finish
	pendingBuyers            atomic.Int64
	toRecover                atomic.Int64
	dropNano                 atomic.Int64
	saleOnce, dropOnce       sync.Once
	finishOnce               sync.Once
	result                   *Stats

	clockMu    sync.Mutex
	bestRTT    map[int]time.Duration // by node: the smallest ping round trip
	bestOffset map[int]float64       // by node: the offset measured with it
}

var _ group = (*localGroup)(nil)

// newLocalGroup starts connecting the plan's share of connections: indices
// plan.Group, plan.Group+plan.Groups, ... The caller must call finish.
func newLocalGroup(parent context.Context, plan *Plan) *localGroup {
	ctx, cancel := context.WithCancel(parent)
	cfg := &plan.Config
	nodes, _ := parseNodes(cfg.URLs) // validated by parseConfig
	a := newAPI()
	g := &localGroup{
		plan: plan, cfg: cfg, ctx: ctx, cancel: cancel,
		api:   a,
		tok:   &tokens{secret: []byte(cfg.Secret), api: a, ttl: cfg.deadline() + time.Hour},
		d:     newDialer(nodes, cfg.connections()),
		hJoin: newRecorder(), hEvent: newRecorder(), hPurchase: newRecorder(), hRecover: newRecorder(),
		ready: newPhase(), bought: newPhase(), recovered: newPhase(),
	}
	size := pubTableSize(cfg)
	for _, name := range plan.Rooms {
		g.rooms = append(g.rooms, &roomState{name: name, pub: newPubTable(size)})
	}
	total := cfg.connections()
	var assign []int
	if cfg.Scenario != scenarioFlashsale {
		assign = assignRooms(total, len(g.rooms), cfg.Spread, cfg.Skew)
	}
	for i := plan.Group; i < total; i += plan.Groups {
		r := 0
		if assign != nil {
			r = assign[i]
		}
		v := &vconn{g: g, idx: i, room: g.rooms[r], roomB: []byte(g.rooms[r].name)}
		if cfg.Scenario == scenarioFlashsale {
			v.user = "buyer-" + plan.RunID + "-" + itoa(i)
		} else {
			v.user = "viewer-" + plan.RunID + "-" + itoa(i)
		}
		g.conns = append(g.conns, v)
	}
	g.wg.Add(1)
	go g.connectAll()
	return g
}

// connectAll fetches every viewer's token, then opens the connections at
// the join rate, at most DialConcurrency at a time, then signals
// phaseReady. Tokens come first, as an app has its token before it
// connects: so the join phase measures joins, not token requests.
func (g *localGroup) connectAll() {
	defer g.wg.Done()
	defer g.ready.done()
	sem := make(chan struct{}, g.cfg.DialConcurrency)
	tokenOK := make([]bool, len(g.conns))
	var tg sync.WaitGroup
	for k, v := range g.conns {
		select {
		case sem <- struct{}{}:
		case <-g.ctx.Done():
			tg.Wait()
			g.c.connectFailed.Add(int64(len(g.conns)))
			return
		}
		tg.Add(1)
		go func() {
			defer tg.Done()
			defer func() { <-sem }()
			if err := v.fetchToken(); err != nil {
				g.c.err("token")
				return
			}
			tokenOK[k] = true
		}()
	}
	tg.Wait()
	rate := g.cfg.JoinRate / float64(g.plan.Groups)
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	for k, v := range g.conns {
		if !tokenOK[k] {
			g.c.connectFailed.Add(1)
			continue
		}
		if rate > 0 && !sleepUntil(g.ctx, start.Add(time.Duration(float64(k)/rate*float64(time.Second)))) {
			g.c.connectFailed.Add(int64(len(g.conns) - k))
			return
		}
		select {
		case sem <- struct{}{}:
		case <-g.ctx.Done():
			g.c.connectFailed.Add(int64(len(g.conns) - k))
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v.firstJoin()
		}()
	}
}

func (g *localGroup) wait(ctx context.Context, name string) error {
	var p *phase
	switch name {
	case phaseReady:
		p = g.ready
	case phaseBought:
		p = g.bought
	case phaseRecovered:
		p = g.recovered
	default:
		panic("unknown phase " + name)
	}
	select {
	case <-p.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *localGroup) published(room int, seq uint64, nano int64) {
	if room >= 0 && room < len(g.rooms) {
		g.rooms[room].published(seq, nano)
	}
}

func (g *localGroup) final(room int, seq uint64) {
	if room >= 0 && room < len(g.rooms) {
		g.rooms[room].setFinal(seq)
	}
}

// spawn runs f in a goroutine of the group unless the group is closing;
// for callers that are not goroutines of the group themselves.
func (g *localGroup) spawn(f func()) bool {
	g.spawnMu.Lock()
	defer g.spawnMu.Unlock()
	if g.closing.Load() {
		return false
	}
	g.wg.Add(1)
	go f()
	return true
}

// afterReady waits for phaseReady, so that what connectAll wrote is
// visible; false when the group ends first.
func (g *localGroup) afterReady() bool {
	select {
	case <-g.ready.ch:
		return true
	case <-g.ctx.Done():
		return false
	}
}

func (g *localGroup) startSale(startsAt int64) {
	g.saleOnce.Do(func() {
		if !g.afterReady() {
			return
		}
		var buyers []*vconn
		for _, v := range g.conns {
			if v.joinedOnce.Load() && v.open.Load() {
				buyers = append(buyers, v)
			}
		}
		g.pendingBuyers.Store(int64(len(buyers)))
		if len(buyers) == 0 {
			g.bought.done()
		}
		for _, v := range buyers {
			if !g.spawn(func() { v.buy(startsAt) }) {
				g.pendingBuyers.Add(-1)
			}
		}
	})
}

func (g *localGroup) drop(dropNano int64) {
	g.dropOnce.Do(func() {
		if !g.afterReady() {
			return
		}
		g.dropNano.Store(dropNano)
		var list []*vconn
		for _, v := range g.conns {
			if v.joinedOnce.Load() {
				list = append(list, v)
			}
		}
		g.c.dropped.Store(int64(len(list)))
		g.toRecover.Store(int64(len(list)))
		if len(list) == 0 {
			g.recovered.done()
		}
		// Close them all first, so that the drop is "at once": in
		// parallel, as one CloseNow takes tens of microseconds and 10,000
		// of them in a row took most of a second.
		dones := make([]chan struct{}, len(list))
		var wg sync.WaitGroup
		const closers = 32
		for w := range closers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := w; k < len(list); k += closers {
					v := list[k]
					v.mu.Lock()
					ws, done := v.ws, v.done
					v.byUs.Store(true)
					v.mu.Unlock()
					if ws != nil {
						ws.CloseNow()
					}
					dones[k] = done
				}
			}()
		}
		wg.Wait()
		for k, v := range list {
			g.spawn(func() { v.reconnect(dones[k]) })
		}
	})
}

func (g *localGroup) primary() *recorder {
	switch g.cfg.Scenario {
	case scenarioFlashsale:
		return g.hPurchase
	case scenarioStorm:
		if g.dropNano.Load() != 0 {
			return g.hRecover
		}
	}
	return g.hEvent
}

func (g *localGroup) progress() progress {
	return progress{
		Target:    int64(len(g.conns)),
		Open:      g.c.open.Load(),
		Delivered: g.c.delivered.load(),
		Errors:    g.c.errors.Load(),
		Gaps:      g.c.gaps.Load(),
		P99US:     g.primary().merged().ValueAtQuantile(99),
		Recovered: g.c.recovered.Load(),
		Answered:  g.c.answered.Load(),
	}
}

// caughtUp reports whether every open, joined connection received its
// room's final event.
func (g *localGroup) caughtUp() bool {
	for _, v := range g.conns {
		if !v.open.Load() || !v.joinedOnce.Load() || !v.room.ended.Load() {
			continue
		}
		if v.seq.last.Load() < v.room.final.Load() {
			return false
		}
	}
	return true
}

func (g *localGroup) finish(ctx context.Context) (*Stats, error) {
	g.finishOnce.Do(func() { g.result = g.doFinish(ctx) })
	return g.result, nil
}

func (g *localGroup) doFinish(ctx context.Context) *Stats {
	if g.cfg.Scenario != scenarioFlashsale {
		until := time.Now().Add(g.cfg.Drain)
		for !g.caughtUp() && time.Now().Before(until) {
			if !sleepCtx(ctx, 20*time.Millisecond) || g.ctx.Err() != nil {
				break
			}
		}
	}
	g.spawnMu.Lock()
	g.closing.Store(true)
	g.spawnMu.Unlock()
	var behind, missing int64
	for _, v := range g.conns {
		if !v.open.Load() || !v.joinedOnce.Load() || !v.room.ended.Load() {
			continue
		}
		if last, fin := v.seq.last.Load(), v.room.final.Load(); last < fin {
			behind++
			missing += int64(fin - last)
		}
	}
	g.closeAll()
	g.wg.Wait()
	g.d.close()
	g.api.close()
	for _, v := range g.conns {
		v.resolvePending(true)
	}
	st := g.stats()
	st.Behind, st.Missing = behind, missing
	st.Gaps += behind
	return st
}

// closeAll closes every connection with a close handshake, a few at a
// time; after 3 seconds it stops waiting and ends the group's context,
// which ends every goroutine still blocked on a connection.
func (g *localGroup) closeAll() {
	stop := time.AfterFunc(3*time.Second, g.cancel)
	defer stop.Stop()
	defer g.cancel()
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	for _, v := range g.conns {
		v.mu.Lock()
		ws := v.ws
		v.mu.Unlock()
		if ws == nil || !v.open.Load() {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws.Close(websocket.StatusNormalClosure, "")
		}()
	}
	wg.Wait()
}

// stats turns the counters into Stats; call after every goroutine ended.
func (g *localGroup) stats() *Stats {
	c := &g.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &Stats{
		Conns:             int64(len(g.conns)),
		Connected:         c.connected.Load(),
		ConnectFailed:     c.connectFailed.Load(),
		Messages:          c.messages.load(),
		Delivered:         c.delivered.load(),
		Gaps:              c.gaps.Load(),
		GapEvents:         c.gapEvents.Load(),
		Duplicates:        c.dups.Load(),
		Unmatched:         c.unmatched.Load(),
		Resyncs:           c.resyncs.Load(),
		Errors:            c.errors.Load(),
		ErrorKinds:        addCounts(nil, c.errorKinds),
		Disconnects:       addCounts(nil, c.disconnects),
		Violations:        addCounts(nil, c.violations),
		FirstEventNano:    c.firstEvent.Load(),
		LastEventNano:     c.lastEvent.Load(),
		Buyers:            c.buyers.Load(),
		Attempts:          c.attempts.Load(),
		Answers:           addCounts(nil, c.answers),
		Retried:           addCounts(nil, c.retried),
		OrderIDs:          append([]string(nil), c.orderIDs...),
		FirstBuyNano:      c.firstBuy.Load(),
		LastAnswerNano:    c.lastAnswer.Load(),
		LastOKNano:        c.lastOK.Load(),
		OffsetMaxMS:       g.offsetMax(),
		Dropped:           c.dropped.Load(),
		Recovered:         c.recovered.Load(),
		Reconnects:        c.reconnects.Load(),
		ReconnectFailures: c.reconnectFailures.Load(),
		ReconnectErrors:   addCounts(nil, c.reconnectErrors),
		ViaSnapshot:       c.viaSnapshot.Load(),
		ViaReplay:         c.viaReplay.Load(),
		LastRecoveredNano: c.lastRecovered.Load(),
		FirstDialNano:     c.firstDial.Load(),
		LastJoinedNano:    c.lastJoined.Load(),
		Hists: map[string]*hdrhistogram.Histogram{
			histJoin:     g.hJoin.merged(),
			histEvent:    g.hEvent.merged(),
			histPurchase: g.hPurchase.merged(),
			histRecover:  g.hRecover.merged(),
		},
	}
	return st
}

// sleepCtx sleeps for d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool { return sleepCtx(ctx, time.Until(t)) }
