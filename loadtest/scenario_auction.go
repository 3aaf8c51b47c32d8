package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The auction scenario (issue 14): -viewers connections watch one room;
// the creator auctions one unit of a1 for -duration; -bidders of the
// viewers bid -bids times each at times drawn from a curve that peaks in
// the auction's last seconds (exponential before the scheduled end, mean
// min(3 s, duration/4)), each for the next increment over the leading bid
// it saw (one retry at min_bid after bid_too_low). Bids are manual (no
// max): the final amount is then the highest accepted bid. After the
// bidding, -late-bids bids go out just after the end by the server's clock
// (ping offset), and must be refused. It verifies:
//
//   - the result: sold, for the highest amount the tester saw accepted, to
//     the user that bid it (the order's user), and bids = accepted bids;
//   - every watching connection got the ended auction event with that
//     result, and its bid messages' v only grew (and current never fell);
//   - no bid was accepted after the end (late bids, and any accepted bid
//     sent after the final ends_at by the server's clock, beyond 50 ms);
//   - exactly one order of the auction in GET /api/rooms/{room}/orders, at
//     the amount, to the winner; every node's remaining stock of a1 is one
//     less than at the start.
//
// Measured: bid reply latency (sent to reply), accepted bids per second.
//
// With -auction-rooms N the bids do not collide, so that accepted bids/s
// measure the node (and Redis), not the bidders' race: N rooms, each with
// its own auction, creator and one bidder (the first N viewers; the others
// watch, spread over the rooms). Each bidder bids its auction's current +
// increment back to back, raising its own lead, until 500 ms before the
// scheduled end by the server's clock; nearly every bid is accepted. The
// same checks run for every room (the bidder wins at its highest accepted
// bid, one order in the room's log, every watcher of the room agrees),
// and -late-bids go to the first rooms, one each.

const (
	auctionProduct = "a1"
	auctionStock   = 10
)

// auctionWire is an auction as the server sends it.
type auctionWire struct {
	ID          string  `json:"id"`
	Product     string  `json:"product"`
	State       string  `json:"state"`
	StartPrice  int64   `json:"start_price"`
	Increment   int64   `json:"increment"`
	Current     *int64  `json:"current"`
	Bids        int64   `json:"bids"`
	StartsAt    int64   `json:"starts_at"`
	EndsAt      int64   `json:"ends_at"`
	ExtendMS    int64   `json:"extend_ms"`
	SuddenDeath bool    `json:"sudden_death"`
	Leader      *author `json:"leader"`
	Result      *struct {
		Outcome string  `json:"outcome"`
		Amount  int64   `json:"amount"`
		Winner  *author `json:"winner"`
		Order   string  `json:"order"`
	} `json:"result"`
}

type author struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// auctionConn is one connection of the auction scenario.
type auctionConn struct {
	*wconn
	a      *auctionRun
	bidder bool

	current atomic.Int64 // the leading amount this connection last saw
	endsAt  atomic.Int64

	// reader state
	lastV     int64
	vBack     int64
	curBack   int64
	bidMsgs   int64
	final     *auctionWire // the ended auction event
	finalSeen atomic.Bool
	events    int64
}

type acceptedBid struct {
	user     string
	amount   int64
	endsAt   int64
	sentNano int64
	node     int
}

// auctionShared is what the auctions of one run share: the bid latencies,
// the nodes' clocks and the throughput's instants.
type auctionShared struct {
	cfg      *Config
	hBid     *recorder
	offsets  []float64 // by node, ms
	firstBid atomic.Int64
	lastOK   atomic.Int64
	lastAns  atomic.Int64 // the last answer of a bid of the curve
	answered atomic.Int64
}

// auctionRun is the state of one room's auction.
type auctionRun struct {
	*auctionShared
	id string

	mu       sync.Mutex
	accepted []acceptedBid
	answers  map[string]int64 // final answer of each bid, by code
	late     map[string]int64 // answers to the late bids
}

func (a *auctionRun) answer(m map[string]int64, code string) {
	a.mu.Lock()
	m[code]++
	a.mu.Unlock()
}

// AuctionReport is the auction scenario's verdict and figures.
type AuctionReport struct {
	Auction        string           `json:"auction"`
	Room           string           `json:"room,omitempty"` // one room's report only
	Rooms          int64            `json:"rooms"`          // auctions run (-auction-rooms, or 1)
	Outcomes       map[string]int64 `json:"outcomes"`       // the auctions' outcomes, by outcome
	Bidders        int64            `json:"bidders"`
	Answers        map[string]int64 `json:"answers"` // each bid's final answer by code
	Accepted       int64            `json:"accepted"`
	AcceptedPerSec float64          `json:"accepted_per_sec"`
	AnswersPerSec  float64          `json:"answers_per_sec"` // every bid's answer (accepted or not), first bid sent to the last answer
	HighestBid     int64            `json:"highest_bid"`
	Outcome        string           `json:"outcome"`
	Amount         int64            `json:"amount"`
	FinalBids      int64            `json:"final_bids"`
	WinnerUser     string           `json:"winner_user"` // from the order
	ExpectedWinner string           `json:"expected_winner"`
	Extended       bool             `json:"extended"`
	ExtendedN      int64            `json:"extended_auctions"` // of Rooms
	RightWinners   int64            `json:"right_winners"`     // auctions whose order is the highest accepted bid's
	EndsAt         int64            `json:"ends_at"`
	ScheduledEnd   int64            `json:"scheduled_end"`
	LateAnswers    map[string]int64 `json:"late_answers"`
	AcceptedAfter  int64            `json:"accepted_after_end"`
	Watchers       int64            `json:"watchers"`
	SawEnd         int64            `json:"saw_end"`
	Disagree       int64            `json:"disagree"` // connections whose final result differs
	VBack          int64            `json:"v_not_growing"`
	CurrentBack    int64            `json:"current_fell"`
	BidMsgsMean    float64          `json:"bid_msgs_per_viewer"`
	Orders         int64            `json:"orders"` // orders of the auction listed
	Remaining      map[string]int64 `json:"remaining,omitempty"`
	Failures       []string         `json:"failures"`
	Verdict        string           `json:"verdict"`
}

func (ar *AuctionReport) printRows(row func(k, format string, args ...any), bidLat string) {
	if ar.Rooms > 1 {
		row("auction", "%d auctions, one bidder each: %s, %d bids in the end (%d accepted by the tester), %d extended",
			ar.Rooms, fmtCounts(ar.Outcomes), ar.FinalBids, ar.Accepted, ar.ExtendedN)
	} else {
		row("auction", "%s: %s for %d (highest accepted bid %d), %d bids in the end (%d accepted by the tester), ends_at %d (scheduled %d, extended %v)",
			ar.Auction, ar.Outcome, ar.Amount, ar.HighestBid, ar.FinalBids, ar.Accepted, ar.EndsAt, ar.ScheduledEnd, ar.Extended)
	}
	row("bids", "%d bidders, answers %s", ar.Bidders, fmtCounts(ar.Answers))
	row("bid latency", "%s", bidLat)
	row("throughput", "%.1f accepted bids/s, %.1f bid answers/s", ar.AcceptedPerSec, ar.AnswersPerSec)
	if ar.Rooms > 1 {
		row("winners", "%d auctions sold to their bidder at its highest bid, %d order(s) of the auctions", ar.RightWinners, ar.Orders)
	} else {
		row("winner", "%s (expected %s), %d order(s) of the auction", ar.WinnerUser, ar.ExpectedWinner, ar.Orders)
	}
	row("late bids", "answers %s, %d accepted after the end", fmtCounts(ar.LateAnswers), ar.AcceptedAfter)
	row("watchers", "%d, %d saw the end, %d disagree, v not growing %d, current fell %d, %.1f bid messages each",
		ar.Watchers, ar.SawEnd, ar.Disagree, ar.VBack, ar.CurrentBack, ar.BidMsgsMean)
	if ar.Rooms <= 1 {
		row("remaining", "%s", fmtCounts(ar.Remaining))
	}
}

// runAuction runs the auction scenario.
func (c *coordinator) runAuction(ctx context.Context) (*Report, error) {
	cfg := c.cfg
	r := c.newReport()
	multi := cfg.AuctionRooms > 0
	rooms := []string{c.roomPrefix() + "-auction"}
	if multi {
		rooms = make([]string, cfg.AuctionRooms)
		for k := range rooms {
			rooms[k] = c.roomPrefix() + "-auction-" + itoa(k)
		}
	}
	r.Rooms = len(rooms)
	catalog := roomBody{Title: "loadtest auction", Products: []roomProduct{{
		ID: auctionProduct, Name: "Auction item", Price: 9999, Currency: "USD", Image: "/demo/img/a1.svg", Stock: auctionStock,
	}}}
	creators, cd, err := c.setupRooms(ctx, rooms, func(int) roomBody { return catalog })
	if err != nil {
		return nil, fmt.Errorf("setting up the auctions' rooms: %w", err)
	}
	defer cd.close()
	closeCreators(creators)

	sh := &auctionShared{cfg: cfg, hBid: newRecorder()}
	runs := make([]*auctionRun, len(rooms))
	for k := range runs {
		runs[k] = &auctionRun{auctionShared: sh, answers: map[string]int64{}, late: map[string]int64{}}
	}
	d := newDialer(c.nodes, cfg.Viewers+len(rooms))
	defer d.close()
	// Viewer i watches room i % rooms; the curve's bidders are the first
	// -bidders, the rooms' the first of each room.
	var conns []*auctionConn
	var ws []*wconn
	for i := 0; i < cfg.Viewers; i++ {
		k := i % len(rooms)
		ac := &auctionConn{a: runs[k], bidder: i < cfg.Bidders}
		if multi {
			ac.bidder = i < len(rooms)
		}
		ac.wconn = &wconn{idx: i, user: "bidder-" + c.runID + "-" + itoa(i), room: rooms[k]}
		ac.onMsg = ac.onMessage
		conns = append(conns, ac)
		ws = append(ws, ac.wconn)
	}
	crs := make([]*auctionConn, len(rooms))
	crws := make([]*wconn, len(rooms))
	for k := range crs {
		cr := &auctionConn{a: runs[k]}
		cr.wconn = &wconn{idx: cfg.Viewers + k, user: "creator-" + c.runID + "-" + itoa(k), room: rooms[k]}
		cr.onMsg = cr.onMessage
		crs[k], crws[k] = cr, cr.wconn
	}

	c.setStage("tokens")
	if err := c.fetchTokens(ctx, ws, "viewer", nil); err != nil {
		return nil, fmt.Errorf("viewer tokens: %w", err)
	}
	for k, cr := range crws {
		if err := c.fetchTokens(ctx, []*wconn{cr}, "creator", []string{rooms[k]}); err != nil {
			return nil, fmt.Errorf("creator token: %w", err)
		}
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	extra := Report{ErrorKinds: map[string]int64{}}
	if got := connectAll(runCtx, d, crws, cfg.DialConcurrency, 0, &extra, newRecorder()); len(got) != len(crws) {
		closeAllW(crws)
		return nil, fmt.Errorf("%d of %d creators could not join: %v", len(crws)-len(got), len(crws), extra.ErrorKinds)
	}
	defer closeAllW(crws)

	c.setStage("joining")
	hJoin := newRecorder()
	joinStart := time.Now()
	joined := connectAll(runCtx, d, ws, cfg.DialConcurrency, cfg.JoinRate, r, hJoin)
	r.JoinMS = quantiles(hJoin.merged())
	r.JoinAllMS = float64(time.Since(joinStart)) / 1e6
	defer closeAllW(ws)
	live := make([][]*auctionConn, len(rooms)) // by room
	var bidders []*auctionConn
	for _, w := range joined {
		ac := conns[w.idx]
		k := w.idx % len(rooms)
		live[k] = append(live[k], ac)
		if ac.bidder {
			bidders = append(bidders, ac)
		}
	}
	if len(bidders) == 0 {
		r.fail("no bidder joined")
		return r, nil
	}
	// Each node's clock offset, from a bidder on it.
	sh.offsets = make([]float64, len(c.nodes))
	for n := range c.nodes {
		for _, b := range bidders {
			if b.idx%len(c.nodes) == n {
				if off, _, err := b.offsetOf(runCtx); err == nil {
					sh.offsets[n] = off
				}
				break
			}
		}
	}

	c.setStage("starting")
	aus := make([]*auctionWire, len(rooms))
	var swg sync.WaitGroup
	var smu sync.Mutex
	var startErrs []string
	sem := make(chan struct{}, 64)
	for k, cr := range crs {
		swg.Add(1)
		sem <- struct{}{}
		go func() {
			defer swg.Done()
			defer func() { <-sem }()
			au, err := cr.startAuction(runCtx, cfg)
			if err != nil {
				smu.Lock()
				startErrs = append(startErrs, fmt.Sprintf("%s: %v", rooms[k], err))
				smu.Unlock()
				return
			}
			aus[k] = au
			runs[k].id = au.ID
		}()
	}
	swg.Wait()
	if len(startErrs) > 0 {
		r.fail("auction_start: %s", firstOf(startErrs, 3))
		return r, nil
	}

	c.setStage("bidding")
	var bwg sync.WaitGroup
	for _, b := range bidders {
		au := aus[b.idx%len(rooms)]
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			if multi {
				b.bidRace(runCtx, au)
			} else {
				b.bidAll(runCtx, au)
			}
		}()
	}
	bwg.Wait()

	// Each end as the bids' replies told it; then the late bids.
	finalEnds := make([]int64, len(rooms))
	for k, a := range runs {
		finalEnds[k] = aus[k].EndsAt
		a.mu.Lock()
		for _, b := range a.accepted {
			finalEnds[k] = max(finalEnds[k], b.endsAt)
		}
		a.mu.Unlock()
	}
	c.setStage("late bids")
	var lwg sync.WaitGroup
	for k := 0; k < cfg.LateBids && k < len(bidders); k++ {
		b := bidders[k]
		room := b.idx % len(rooms)
		lwg.Add(1)
		go func() { defer lwg.Done(); b.lateBid(runCtx, aus[room], finalEnds[room]) }()
	}
	lwg.Wait()

	// Every watcher must see the end.
	c.setStage("waiting for the end")
	all := slices.Clone(crs)
	for _, l := range live {
		all = append(all, l...)
	}
	until := time.Now().Add(cfg.Drain + 15*time.Second)
	for time.Now().Before(until) && ctx.Err() == nil {
		done := true
		for _, ac := range all {
			if !ac.lost.Load() && !ac.finalSeen.Load() {
				done = false
				break
			}
		}
		if done {
			break
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	closeAllW(crws)
	closeAllW(ws)

	c.setStage("verifying")
	vctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := make([]AuctionReport, len(rooms))
	var vwg sync.WaitGroup
	for k := range rooms {
		vwg.Add(1)
		sem <- struct{}{}
		go func() {
			defer vwg.Done()
			defer func() { <-sem }()
			res[k] = c.verifyAuction(vctx, runs[k], crs[k], live[k], rooms[k], k, aus[k].EndsAt, finalEnds[k])
		}()
	}
	vwg.Wait()
	sum := res[0]
	if multi {
		sum = sumAuctions(res)
	}
	sum.Bidders = int64(len(bidders))
	if f, l := sh.firstBid.Load(), sh.lastOK.Load(); l > f && f > 0 {
		sum.AcceptedPerSec = float64(sum.Accepted) / (float64(l-f) / 1e9)
	}
	if f, l := sh.firstBid.Load(), sh.lastAns.Load(); l > f && f > 0 {
		sum.AnswersPerSec = float64(sh.answered.Load()) / (float64(l-f) / 1e9)
	}
	r.Auction = &sum
	r.BidMS = quantiles(sh.hBid.merged())
	r.LatencyMS, r.LatencyOf = r.BidMS, "bid reply"
	for _, w := range joined {
		w.figures(r, "")
		r.Messages += w.msgs.Load()
	}
	for _, cr := range crs {
		cr.figures(r, "creator_")
	}
	for code, n := range sum.Answers {
		switch code {
		case "ok", codeBidTooLow, codeAuctNotLiv:
		default:
			r.ErrorKinds["bid_"+code] += n
			r.Errors += n
		}
	}
	for _, f := range sum.Failures {
		r.fail("auction: %s", f)
	}
	return r, nil
}

// sumAuctions sums the reports of several rooms' auctions: counts add up,
// failures name their room (those of the first 20 failed rooms are kept);
// the stock of each room on each node was checked (a failure), it is not
// listed.
func sumAuctions(res []AuctionReport) AuctionReport {
	sum := AuctionReport{Auction: fmt.Sprintf("%d auctions", len(res)), Rooms: int64(len(res)), Outcomes: map[string]int64{},
		Answers: map[string]int64{}, LateAnswers: map[string]int64{}, Failures: []string{}}
	failed := 0
	for _, a := range res {
		sum.Outcomes[a.Outcome]++
		sum.Answers = addCounts(sum.Answers, a.Answers)
		sum.LateAnswers = addCounts(sum.LateAnswers, a.LateAnswers)
		sum.Accepted += a.Accepted
		sum.HighestBid = max(sum.HighestBid, a.HighestBid)
		sum.FinalBids += a.FinalBids
		sum.ExtendedN += a.ExtendedN
		sum.RightWinners += a.RightWinners
		sum.AcceptedAfter += a.AcceptedAfter
		sum.Watchers += a.Watchers
		sum.SawEnd += a.SawEnd
		sum.Disagree += a.Disagree
		sum.VBack += a.VBack
		sum.CurrentBack += a.CurrentBack
		sum.BidMsgsMean += a.BidMsgsMean * float64(a.Watchers)
		sum.Orders += a.Orders
		if len(a.Failures) > 0 {
			failed++
			if len(sum.Failures) < 20 {
				for _, f := range a.Failures {
					sum.Failures = append(sum.Failures, a.Room+": "+f)
				}
			}
		}
	}
	if sum.Watchers > 0 {
		sum.BidMsgsMean /= float64(sum.Watchers)
	}
	if failed > 20 {
		sum.Failures = append(sum.Failures, fmt.Sprintf("and %d more rooms failed", failed-20))
	}
	sum.Verdict = "PASS"
	if failed > 0 {
		sum.Verdict = "FAIL"
	}
	return sum
}

// firstOf joins the first n strings of ss, and says how many more.
func firstOf(ss []string, n int) string {
	if len(ss) <= n {
		return strings.Join(ss, "; ")
	}
	return strings.Join(ss[:n], "; ") + fmt.Sprintf("; and %d more", len(ss)-n)
}

// startAuction sends auction_start and returns the auction of the reply.
func (ac *auctionConn) startAuction(ctx context.Context, cfg *Config) (*auctionWire, error) {
	msg := map[string]any{
		"type": "auction_start", "id": "auction-start", "room": ac.room, "product": auctionProduct,
		"start_price": cfg.StartPrice, "increment": cfg.Increment, "duration_ms": cfg.Duration.Milliseconds(),
		"extend_ms": cfg.Extend.Milliseconds(), "sudden_death": cfg.SuddenDeath,
	}
	b, _ := json.Marshal(msg)
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	raw, err := ac.request(rctx, "auction-start", b)
	if err != nil {
		return nil, err
	}
	if err := replyErr(raw); err != nil {
		return nil, err
	}
	var rep struct {
		Auction *auctionWire `json:"auction"`
	}
	if json.Unmarshal(raw, &rep) != nil || rep.Auction == nil || rep.Auction.ID == "" || rep.Auction.EndsAt == 0 {
		return nil, fmt.Errorf("the reply has no auction: %s", raw)
	}
	return rep.Auction, nil
}

// bidTimes draws n bid times (server clock, Unix ms) in [start, end): an
// exponential before the end, so that bids crowd the last seconds.
func bidTimes(n int, start, end int64) []int64 {
	mean := min(3000.0, float64(end-start)/4)
	out := make([]int64, 0, n)
	for range n {
		t := end - 1 - int64(rand.ExpFloat64()*mean)
		out = append(out, max(start, t))
	}
	slices.Sort(out)
	return out
}

// serverToLocal converts a server time (Unix ms) to local time on the
// connection's node.
func (ac *auctionConn) serverToLocal(ms int64) time.Time {
	off := ac.a.offsets[ac.idx%len(ac.a.offsets)]
	return time.UnixMilli(ms).Add(-time.Duration(off * float64(time.Millisecond)))
}

func (ac *auctionConn) bidAll(ctx context.Context, au *auctionWire) {
	for _, t := range bidTimes(ac.a.cfg.Bids, au.StartsAt, au.EndsAt) {
		if !sleepUntil(ctx, ac.serverToLocal(t)) {
			return
		}
		ac.bidNext(ctx, au.ID)
	}
}

// bidNext bids the next increment over the leading bid this connection
// saw (the start price before any), once more at min_bid after
// bid_too_low, and counts the answer.
func (ac *auctionConn) bidNext(ctx context.Context, auction string) string {
	amount := ac.a.cfg.StartPrice
	if cur := ac.current.Load(); cur > 0 {
		amount = cur + ac.a.cfg.Increment
	}
	code, minBid := ac.bid(ctx, auction, amount, false)
	if code == codeBidTooLow && minBid > 0 {
		code, _ = ac.bid(ctx, auction, minBid, false)
	}
	ac.a.answer(ac.a.answers, code)
	return code
}

// bidRace bids the auction's current + increment back to back (the leader
// may raise its own bid) until 500 ms before its scheduled end by the
// server's clock: the -auction-rooms mode, one bidder per auction, so
// nearly every bid is accepted. It stops at the first answer that is
// neither accepted nor bid_too_low.
func (ac *auctionConn) bidRace(ctx context.Context, au *auctionWire) {
	if !sleepUntil(ctx, ac.serverToLocal(au.StartsAt)) {
		return
	}
	stop := ac.serverToLocal(au.EndsAt - 500)
	for time.Now().Before(stop) && ctx.Err() == nil {
		code := ac.bidNext(ctx, au.ID)
		if code != "ok" && code != codeBidTooLow {
			return
		}
	}
}

// lateBid bids just after the end (server clock): it must be refused.
func (ac *auctionConn) lateBid(ctx context.Context, au *auctionWire, endsAt int64) {
	if !sleepUntil(ctx, ac.serverToLocal(endsAt).Add(100*time.Millisecond)) {
		return
	}
	amount := max(ac.a.cfg.StartPrice, ac.current.Load()+ac.a.cfg.Increment)
	code, _ := ac.bid(ctx, au.ID, amount, true)
	ac.a.answer(ac.a.late, code)
}

// bid sends one bid and returns its answer's code ("ok" when accepted) and
// min_bid of a bid_too_low.
func (ac *auctionConn) bid(ctx context.Context, auction string, amount int64, late bool) (string, int64) {
	a := ac.a
	id := ac.nextID("bid")
	b := bidMessage(id, ac.room, auction, amount)
	t0 := time.Now()
	atomicMinNonZero(&a.firstBid, t0.UnixNano())
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	raw, err := ac.request(rctx, id, b)
	if err != nil {
		return errKind("no_answer", err), 0
	}
	t1 := time.Now()
	if !late {
		a.hBid.record(ac.idx, t1.Sub(t0))
		a.answered.Add(1)
		atomicMax(&a.lastAns, t1.UnixNano())
	}
	rep, ok := parseBidReply(raw)
	if !ok {
		return "undecodable", 0
	}
	if !rep.ok {
		if rep.code == "" {
			return "no_code", 0
		}
		return rep.code, rep.minBid
	}
	atomicMax(&a.lastOK, t1.UnixNano())
	atomicMax(&ac.current, rep.current)
	a.mu.Lock()
	a.accepted = append(a.accepted, acceptedBid{user: ac.user, amount: rep.amount, endsAt: rep.endsAt, sentNano: t0.UnixNano(), node: ac.idx % len(a.offsets)})
	a.mu.Unlock()
	return "ok", 0
}

// The tester's own cost per bid competes with the node and Redis for the
// same cores (-auction-rooms measures bids per second): a bid is built and
// its reply read without reflection.

// bidMessage encodes a bid; strings that JSON would escape go through
// encoding/json.
func bidMessage(id, room, auction string, amount int64) []byte {
	if !plainJSON(id) || !plainJSON(room) || !plainJSON(auction) {
		b, _ := json.Marshal(map[string]any{"type": "bid", "id": id, "room": room, "auction": auction, "amount": amount})
		return b
	}
	b := make([]byte, 0, 64+len(id)+len(room)+len(auction))
	b = append(b, `{"type":"bid","id":"`...)
	b = append(b, id...)
	b = append(b, `","room":"`...)
	b = append(b, room...)
	b = append(b, `","auction":"`...)
	b = append(b, auction...)
	b = append(b, `","amount":`...)
	b = strconv.AppendInt(b, amount, 10)
	return append(b, '}')
}

// plainJSON: s is printable ASCII without a quote or backslash.
func plainJSON(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

type bidReply struct {
	ok                      bool
	amount, current, endsAt int64
	code                    string
	minBid                  int64
}

var (
	keyOK     = []byte(`"ok"`)
	keyAmount = []byte(`"amount"`)
	keyCode   = []byte(`"code"`)
	keyMinBid = []byte(`"min_bid"`)
)

// parseBidReply reads a bid's reply: {"ok":true,"amount","current",
// "ends_at",...} or {"ok":false,"error":{"code",...,"min_bid"}}.
func parseBidReply(raw []byte) (r bidReply, ok bool) {
	v, found := rawField(raw, keyOK)
	if !found || (string(v) != "true" && string(v) != "false") {
		return r, false
	}
	num := func(key []byte) int64 {
		f, _ := rawField(raw, key)
		n, _ := strconv.ParseInt(string(f), 10, 64)
		return n
	}
	if r.ok = string(v) == "true"; r.ok {
		r.amount, r.current, r.endsAt = num(keyAmount), num(keyCurrent), num(keyEndsAt)
		return r, true
	}
	c, _ := rawField(raw, keyCode)
	r.code, r.minBid = string(c), num(keyMinBid)
	return r, true
}

var (
	keyV       = []byte(`"v"`)
	keyCurrent = []byte(`"current"`)
	keyEndsAt  = []byte(`"ends_at"`)
)

func (ac *auctionConn) onMessage(m []byte, f msgFields, now int64) {
	ac.msgs.Add(1)
	switch string(f.typ) {
	case typeBid:
		ac.bidMsgs++
		v, ok1 := parseUint(mustField(m, keyV))
		cur, ok2 := parseUint(mustField(m, keyCurrent))
		if !ok1 || !ok2 {
			ac.violation("bid_without_v_or_current")
			return
		}
		if int64(v) <= ac.lastV {
			ac.vBack++
			return
		}
		ac.lastV = int64(v)
		if int64(cur) < ac.current.Load() && !ac.bidder {
			ac.curBack++
		}
		atomicMax(&ac.current, int64(cur))
		if e, ok := parseUint(mustField(m, keyEndsAt)); ok {
			atomicMax(&ac.endsAt, int64(e))
		}
	case typeAuction:
		ac.events++
		var ev struct {
			Auction *auctionWire `json:"auction"`
		}
		if json.Unmarshal(m, &ev) != nil || ev.Auction == nil {
			ac.violation("auction_event_without_auction")
			return
		}
		if ev.Auction.State == "ended" {
			ac.final = ev.Auction
			ac.finalSeen.Store(true)
		}
	}
}

// verifyAuction checks the end against the bids, the watchers and the
// order log, once every connection's reader ended.
// k is the room's creator (its token lists the orders).
func (c *coordinator) verifyAuction(ctx context.Context, a *auctionRun, cr *auctionConn, live []*auctionConn, room string, k int, scheduledEnd, finalEnds int64) AuctionReport {
	res := AuctionReport{Auction: a.id, Room: room, Rooms: 1, Answers: a.answers, LateAnswers: a.late, Remaining: map[string]int64{}, Failures: []string{}, ScheduledEnd: scheduledEnd}
	fail := func(format string, args ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, args...)) }
	a.mu.Lock()
	accepted := slices.Clone(a.accepted)
	a.mu.Unlock()
	res.Accepted = int64(len(accepted))
	var best acceptedBid
	for _, b := range accepted {
		if b.amount > best.amount {
			best = b
		}
	}
	res.HighestBid, res.ExpectedWinner = best.amount, best.user

	// The end, as the creator saw it; every watcher must agree.
	final := cr.final
	if final == nil {
		fail("the creator never got the ended auction event")
	} else {
		res.EndsAt = final.EndsAt
		res.Extended = final.EndsAt > scheduledEnd
		if res.Extended {
			res.ExtendedN = 1
		}
		res.FinalBids = final.Bids
		if final.Result == nil {
			fail("the ended auction has no result")
		} else {
			res.Outcome, res.Amount = final.Result.Outcome, final.Result.Amount
			res.Outcomes = map[string]int64{res.Outcome: 1}
		}
	}
	var bidMsgs int64
	for _, ac := range live {
		res.Watchers++
		res.VBack += ac.vBack
		res.CurrentBack += ac.curBack
		bidMsgs += ac.bidMsgs
		if ac.final == nil {
			continue
		}
		res.SawEnd++
		if final != nil && !sameResult(ac.final, final) {
			res.Disagree++
		}
	}
	if res.Watchers > 0 {
		res.BidMsgsMean = float64(bidMsgs) / float64(res.Watchers)
	}
	if res.SawEnd < res.Watchers {
		fail("%d of %d watchers never got the ended auction event", res.Watchers-res.SawEnd, res.Watchers)
	}
	if res.Disagree > 0 {
		fail("%d watchers got another result than the creator", res.Disagree)
	}
	if res.VBack > 0 || res.CurrentBack > 0 {
		fail("bid messages went back: v did not grow %d times, current fell %d times", res.VBack, res.CurrentBack)
	}
	if final != nil && final.Result != nil {
		switch {
		case res.Accepted == 0 && res.Outcome != "unsold":
			fail("no bid was accepted, yet the outcome is %q", res.Outcome)
		case res.Accepted > 0 && res.Outcome != "sold":
			fail("bids were accepted (highest %d), yet the outcome is %q", best.amount, res.Outcome)
		case res.Accepted > 0 && res.Amount != best.amount:
			fail("sold for %d, the highest accepted bid was %d", res.Amount, best.amount)
		}
		if final.Bids != res.Accepted {
			fail("the auction counts %d bids, %d were accepted", final.Bids, res.Accepted)
		}
	}
	// Nothing accepted after the end.
	res.AcceptedAfter = a.late["ok"]
	for _, b := range accepted {
		sentServer := float64(b.sentNano)/1e6 + a.offsets[b.node]
		if final != nil && sentServer > float64(final.EndsAt)+50 {
			res.AcceptedAfter++
		}
	}
	if res.AcceptedAfter > 0 {
		fail("%d bids were accepted after the end", res.AcceptedAfter)
	}
	if final != nil && finalEnds != final.EndsAt {
		fail("the bids' replies ended the auction at %d, the ended event says %d", finalEnds, final.EndsAt)
	}

	// The order log and the stock on every node.
	tok, err := c.creatorToken(ctx, k, room)
	var orders []order
	if err == nil {
		orders, err = c.api.orders(ctx, c.nodes[0].HTTP, tok, room)
	}
	if err != nil {
		fail("listing the orders: %v", err)
	}
	var mine []order
	for _, o := range orders {
		if o.Auction != nil && *o.Auction == a.id {
			mine = append(mine, o)
		}
	}
	res.Orders = int64(len(mine))
	wantOrders, wantRemaining := int64(0), int64(auctionStock)
	if res.Accepted > 0 {
		wantOrders, wantRemaining = 1, auctionStock-1
	}
	if res.Orders != wantOrders {
		fail("%d orders of the auction listed, want %d", res.Orders, wantOrders)
	}
	if len(mine) == 1 {
		o := mine[0]
		res.WinnerUser = o.User
		if o.User != best.user || o.Price != best.amount || o.Qty != 1 || o.Product != auctionProduct || o.Sale != nil {
			fail("the order %+v is not the highest bid (%s, %d)", o, best.user, best.amount)
		} else {
			res.RightWinners = 1
		}
		if final != nil && final.Result != nil && final.Result.Order != o.Order {
			fail("the result names order %s, the log has %s", final.Result.Order, o.Order)
		}
	}
	for _, n := range c.nodes {
		var remaining int64 = -1
		for try := 0; try < 30; try++ {
			if s, err := c.api.getRoom(ctx, n.HTTP, room); err == nil {
				for _, p := range s.Products {
					if p.ID == auctionProduct {
						remaining = p.Remaining
					}
				}
				if remaining == wantRemaining {
					break
				}
			}
			if !sleepCtx(ctx, 100*time.Millisecond) {
				break
			}
		}
		res.Remaining[n.HTTP] = remaining
		if remaining != wantRemaining {
			fail("node %s: remaining %d, want %d", n.HTTP, remaining, wantRemaining)
		}
	}
	res.Verdict = "PASS"
	if len(res.Failures) > 0 {
		res.Verdict = "FAIL"
	}
	return res
}

// sameResult reports whether two ended auctions have the same result.
func sameResult(a, b *auctionWire) bool {
	if a.Bids != b.Bids || a.EndsAt != b.EndsAt || (a.Result == nil) != (b.Result == nil) {
		return false
	}
	if a.Result == nil {
		return true
	}
	ra, rb := a.Result, b.Result
	if ra.Outcome != rb.Outcome || ra.Amount != rb.Amount || ra.Order != rb.Order || (ra.Winner == nil) != (rb.Winner == nil) {
		return false
	}
	return ra.Winner == nil || *ra.Winner == *rb.Winner
}
