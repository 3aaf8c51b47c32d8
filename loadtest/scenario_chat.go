package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// The chat scenario (issue 13): -viewers connections join one room; while
// the room's creator watches, -authors of them post comments at
// -comment-rate in all, -reactors send reactions at -reaction-rate in all,
// and one buyer changes the stock at -stock-rate, for -duration. It checks
// what every connection received:
//
//   - comments arrive in one order: ids grow on every connection, no id
//     twice, no id the tester was not told of (ids are integers in this
//     server; the protocol only promises that they grow, so an id that is
//     not an integer is a violation here);
//   - completeness: a viewer that was never told chat_mode sampled:true
//     gets every comment; the creator always does; every author gets every
//     one of its own comments, sampled or not;
//   - sampling: when -comment-rate is above -chat-fanout-rate (the node's
//     setting), every viewer must be told chat_mode sampled:true within 1 s
//     of the first comment;
//   - reactions: at most 4 reactions messages in any second per connection
//     (by the messages' ts, with 50 ms of leeway for the node's timer), and
//     their counts summed against what was sent;
//   - no message carries a poster's user id.
//
// Comment delivery latency is the poster's send time (recorded before the
// write) to a connection's receipt, matched by comment id once the
// poster's reply told the id.

// Wire names of docs/PROTOCOL.md version 1.1 the tester uses (it speaks
// the protocol as written, whatever the server's protocol package holds).
const (
	typeComment    = "comment"
	typeReactions  = "reactions"
	typeChatMode   = "chat_mode"
	typeBid        = "bid"
	typeAuction    = "auction"
	codeBidTooLow  = "bid_too_low"
	codeAuctNotLiv = "auction_not_live"
)

// Reaction kinds the reactors cycle through.
var reactionKinds = []string{"heart", "fire", "clap", "laugh", "wow"}

// chatConn is one connection of the chat scenario.
type chatConn struct {
	*wconn
	s       *chatRun
	author  int // index among authors, or -1
	creator bool
	tag     []byte // the text prefix of this author's comments

	// reader state
	lastID      uint64
	got         atomic.Int64
	disorder    int64
	dups        int64
	pending     []pendingComment
	unmatched   int64
	sampled     bool
	sampledAt   int64
	reactMsgs   int64
	reactSum    int64
	reactTS     [5]int64
	reactN      int
	burst       int64
	stockMsgs   int64
	ownGot      map[uint64]bool // authors: own comments received
	badIDs      int64
	leaks       int64
	sampledFlag atomic.Bool // sampled, for the drain's poll
}

type pendingComment struct {
	id   uint64
	recv int64
}

// chatRun is the shared state of one chat run.
type chatRun struct {
	cfg       *Config
	runID     string
	pub       *pubTable // comment id -> poster's send time
	hComment  *recorder
	hAnnounce *recorder
	userB     []byte // the prefix of the tester's user ids

	firstPost atomic.Int64
	lastPost  atomic.Int64
	accepted  atomic.Int64
	maxID     atomic.Uint64
	postErrs  sync.Map // code -> *atomic.Int64
	reactSent atomic.Int64
	buysOK    atomic.Int64
	buysErr   atomic.Int64

	ownMu  sync.Mutex
	ownIDs map[int][]uint64 // author -> accepted comment ids
}

func (s *chatRun) postErr(code string) {
	v, _ := s.postErrs.LoadOrStore(code, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// ChatResult is the chat scenario's verdict and figures.
type ChatResult struct {
	Comments          int64            `json:"comments"` // accepted (ok replies)
	CommentErrors     map[string]int64 `json:"comment_errors"`
	CommentsPerSec    float64          `json:"comments_per_sec"`
	ReactionsSent     int64            `json:"reactions_sent"`
	ReactionsCounted  int64            `json:"reactions_counted"` // summed counts the creator received
	ReactionMsgs      int64            `json:"reaction_msgs"`     // reactions messages the creator received
	ReactionMsgsRate  float64          `json:"reaction_msgs_per_sec"`
	ReactionBurstMax  int64            `json:"reaction_msgs_max_in_1s"` // the most reactions messages any connection got within 1 s (by ts)
	ReactionOverRate  int64            `json:"reaction_over_rate"`      // connections that got more than 4 in a second
	StockChanges      int64            `json:"stock_changes"`           // buys answered ok
	StockMsgsMean     float64          `json:"stock_msgs_per_viewer"`
	Checked           int64            `json:"checked"`    // connections checked (viewers and the creator)
	Complete          int64            `json:"complete"`   // got every comment
	Incomplete        int64            `json:"incomplete"` // never sampled, yet missed comments
	OutOfOrder        int64            `json:"out_of_order"`
	Duplicates        int64            `json:"duplicates"`
	Unknown           int64            `json:"unknown"`     // ids the tester never posted (or learned)
	BadIDs            int64            `json:"bad_ids"`     // ids that are not integers
	Sampled           int64            `json:"sampled"`     // connections told chat_mode sampled:true
	SampleMean        float64          `json:"sample_mean"` // comments received per sampled connection
	SamplingExpected  bool             `json:"sampling_expected"`
	AnnounceMS        Quantiles        `json:"announce_ms"` // first comment sent to chat_mode sampled:true
	AnnouncedLate     int64            `json:"announced_late"`
	AuthorsMissingOwn int64            `json:"authors_missing_own"`
	OwnMissing        int64            `json:"own_missing"`
	CreatorComplete   bool             `json:"creator_complete"`
	UserIDLeaks       int64            `json:"user_id_leaks"`
	Failures          []string         `json:"failures"`
	Verdict           string           `json:"verdict"`

	failures []string
}

// runChat runs the chat scenario.
func (c *coordinator) runChat(ctx context.Context) (*Report, error) {
	cfg := c.cfg
	r := c.newReport()
	r.Rooms = 1
	room := c.roomPrefix() + "-chat"
	creators, cd, err := c.setupRooms(ctx, []string{room}, func(int) roomBody { return viewerCatalog(room) })
	if err != nil {
		return nil, fmt.Errorf("setting up the chat's room: %w", err)
	}
	defer cd.close()
	// The scenario's own creator connection decodes comments; the one
	// setupRooms made is not needed beyond the room's creation.
	closeCreators(creators)

	s := &chatRun{
		cfg: cfg, runID: c.runID, hComment: newRecorder(), hAnnounce: newRecorder(),
		userB:  []byte("viewer-" + c.runID + "-"),
		ownIDs: map[int][]uint64{},
	}
	size := int(math.Min(cfg.CommentRate*(cfg.Duration+cfg.Drain+30*time.Second).Seconds()*1.2+1024, 1<<22))
	s.pub = newPubTable(size)

	authors, reactors := cfg.chatAuthors(), cfg.chatReactors()
	d := newDialer(c.nodes, cfg.Viewers+2)
	defer d.close()
	var conns []*chatConn
	var ws []*wconn
	for i := 0; i < cfg.Viewers; i++ {
		cc := &chatConn{s: s, author: -1}
		cc.wconn = &wconn{idx: i, user: "viewer-" + c.runID + "-" + itoa(i), room: room}
		if i < authors {
			cc.author = i
			cc.tag = []byte("lt " + itoa(i) + " ")
			cc.ownGot = map[uint64]bool{}
		}
		cc.onMsg = cc.onMessage
		conns = append(conns, cc)
		ws = append(ws, cc.wconn)
	}
	// The creator (who gets every comment) and the stock buyer.
	cr := &chatConn{s: s, author: -1, creator: true}
	cr.wconn = &wconn{idx: cfg.Viewers, user: "creator-" + c.runID + "-0", room: room}
	cr.onMsg = cr.onMessage
	buyer := &chatConn{s: s, author: -1}
	buyer.wconn = &wconn{idx: cfg.Viewers + 1, user: "stock-" + c.runID, room: room}
	buyer.onMsg = func([]byte, msgFields, int64) {} // it only buys

	c.setStage("tokens")
	if err := c.fetchTokens(ctx, ws, "viewer", nil); err != nil {
		return nil, fmt.Errorf("viewer tokens: %w", err)
	}
	if err := c.fetchTokens(ctx, []*wconn{cr.wconn}, "creator", []string{room}); err != nil {
		return nil, fmt.Errorf("creator token: %w", err)
	}
	if err := c.fetchTokens(ctx, []*wconn{buyer.wconn}, "viewer", nil); err != nil {
		return nil, fmt.Errorf("buyer token: %w", err)
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var extra Report
	extra.ErrorKinds = map[string]int64{}
	if got := connectAll(runCtx, d, []*wconn{cr.wconn, buyer.wconn}, 2, 0, &extra, newRecorder()); len(got) != 2 {
		closeAllW(got)
		return nil, fmt.Errorf("the creator or the stock buyer could not join: %v", extra.ErrorKinds)
	}
	defer closeAllW([]*wconn{cr.wconn, buyer.wconn})

	c.setStage("joining")
	hJoin := newRecorder()
	joinStart := time.Now()
	joined := connectAll(runCtx, d, ws, cfg.DialConcurrency, cfg.JoinRate, r, hJoin)
	r.JoinMS = quantiles(hJoin.merged())
	r.JoinAllMS = float64(time.Since(joinStart)) / 1e6
	defer closeAllW(ws)
	if len(joined) == 0 && cfg.Viewers > 0 {
		r.fail("no viewer joined")
	}
	var live []*chatConn
	for _, w := range joined {
		live = append(live, conns[w.idx])
	}
	// Authors and reactors among the viewers that joined.
	var posters, reacters []*chatConn
	for _, cc := range live {
		if cc.author >= 0 {
			posters = append(posters, cc)
		}
	}
	for k := len(live) - 1; k >= 0 && len(reacters) < reactors; k-- {
		reacters = append(reacters, live[k])
	}

	c.setStage("chatting")
	pubCtx, stopPub := context.WithTimeout(runCtx, cfg.Duration)
	var pwg sync.WaitGroup
	var reqWG sync.WaitGroup
	pubStart := time.Now()
	if len(posters) > 0 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			pacer(pubCtx, cfg.CommentRate, func(k int) {
				p := posters[k%len(posters)]
				reqWG.Add(1)
				go func() { defer reqWG.Done(); p.post(runCtx, k/len(posters)) }()
			})
		}()
	}
	if len(reacters) > 0 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			pacer(pubCtx, cfg.ReactionRate, func(k int) {
				p := reacters[k%len(reacters)]
				msg := []byte(`{"type":"react","room":"` + room + `","kind":"` + reactionKinds[k%len(reactionKinds)] + `"}`)
				if p.send(runCtx, msg) == nil {
					s.reactSent.Add(1)
				}
			})
		}()
	}
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		pacer(pubCtx, cfg.StockRate, func(k int) {
			reqWG.Add(1)
			go func() { defer reqWG.Done(); buyer.buy(runCtx, k) }()
		})
	}()
	<-pubCtx.Done()
	if ctx.Err() != nil {
		stageFailure(r, "chatting", ctx.Err())
	}
	stopPub()
	pwg.Wait()
	reqWG.Wait()
	publishFor := time.Since(pubStart)

	// Drain: until every connection that must have every comment has it,
	// and every author its own, or -drain passed.
	c.setStage("draining")
	all := append([]*chatConn{cr}, live...)
	want := s.accepted.Load()
	until := time.Now().Add(cfg.Drain)
	for time.Now().Before(until) && ctx.Err() == nil {
		done := true
		for _, cc := range all {
			if !cc.lost.Load() && cc.got.Load() < want && (cc.creator || !cc.sampledSeen()) {
				done = false
				break
			}
		}
		if done {
			break
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	// A last reactions message may be on its way; then stop everything.
	sleepCtx(ctx, 300*time.Millisecond)
	closeAllW([]*wconn{cr.wconn, buyer.wconn})
	closeAllW(ws)

	res := s.check(cr, live, publishFor)
	r.Chat = &res
	r.CommentMS = quantiles(s.hComment.merged())
	r.LatencyMS, r.LatencyOf = r.CommentMS, "comment delivery"
	r.Published = res.Comments
	r.PublishPerSec = res.CommentsPerSec
	for _, w := range joined {
		w.figures(r, "")
		r.Messages += w.msgs.Load()
	}
	cr.figures(r, "creator_")
	buyer.figures(r, "stock_")
	for code, n := range res.CommentErrors {
		r.ErrorKinds["comment_"+code] += n
		r.Errors += n
	}
	if n := s.buysErr.Load(); n > 0 {
		r.ErrorKinds["stock_buy_failed"] += n
		r.Errors += n
	}
	for _, f := range res.failures {
		r.fail("chat: %s", f)
	}
	return r, nil
}

func (cc *chatConn) sampledSeen() bool { return cc.sampledFlag.Load() }

// post sends one comment and records its id and send time.
func (cc *chatConn) post(ctx context.Context, k int) {
	s := cc.s
	id := cc.nextID("m")
	text := "lt " + itoa(cc.author) + " " + itoa(k) + " does it come in blue?"
	msg, _ := json.Marshal(map[string]any{"type": typeComment, "id": id, "room": cc.room, "text": text})
	t0 := time.Now().UnixNano()
	atomicMinNonZero(&s.firstPost, t0)
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	raw, err := cc.request(rctx, id, msg)
	if err != nil {
		s.postErr(errKind("no_answer", err))
		return
	}
	var rep struct {
		OK      bool `json:"ok"`
		Comment *struct {
			ID string `json:"id"`
		} `json:"comment"`
		Error *protocol.Error `json:"error"`
	}
	if json.Unmarshal(raw, &rep) != nil {
		s.postErr("undecodable")
		return
	}
	if !rep.OK {
		code := "no_code"
		if rep.Error != nil {
			code = rep.Error.Code
		}
		s.postErr(code)
		return
	}
	if rep.Comment == nil {
		s.postErr("reply_without_comment")
		return
	}
	n, err := strconv.ParseUint(rep.Comment.ID, 10, 64)
	if err != nil || n == 0 {
		s.postErr("comment_id_not_integer")
		return
	}
	s.pub.put(n, t0)
	s.accepted.Add(1)
	atomicMax(&s.lastPost, time.Now().UnixNano())
	for {
		old := s.maxID.Load()
		if n <= old || s.maxID.CompareAndSwap(old, n) {
			break
		}
	}
	s.ownMu.Lock()
	s.ownIDs[cc.author] = append(s.ownIDs[cc.author], n)
	s.ownMu.Unlock()
}

// buy changes the stock of p1 by one.
func (cc *chatConn) buy(ctx context.Context, k int) {
	id := cc.nextID("b")
	msg, _ := json.Marshal(map[string]any{"type": protocol.TypeBuy, "id": id, "room": cc.room, "product": "p1", "qty": 1})
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	raw, err := cc.request(rctx, id, msg)
	if err == nil {
		err = replyErr(raw)
	}
	if err != nil {
		cc.s.buysErr.Add(1)
		return
	}
	cc.s.buysOK.Add(1)
}

var (
	keyText    = []byte(`"text"`)
	keySampled = []byte(`"sampled"`)
	keyTS      = []byte(`"ts"`)
	keyCounts  = []byte(`"counts"`)
)

func (cc *chatConn) onMessage(m []byte, f msgFields, now int64) {
	cc.msgs.Add(1)
	switch string(f.typ) {
	case typeComment:
		cc.onComment(m, now)
	case typeReactions:
		cc.onReactions(m)
	case typeChatMode:
		v, _ := rawField(m, keySampled)
		switch string(v) {
		case "true":
			if !cc.sampled {
				cc.sampled = true
				cc.sampledFlag.Store(true)
				if cc.sampledAt == 0 {
					cc.sampledAt = now
				}
			}
		case "false":
			cc.sampled = false
		default:
			cc.violation("chat_mode_without_sampled")
		}
	case protocol.TypeStock:
		cc.stockMsgs++
	}
	if bytes.Contains(m, cc.s.userB) {
		cc.leaks++
	}
}

func (cc *chatConn) onComment(m []byte, now int64) {
	if len(cc.pending) > 0 {
		cc.resolve(false)
	}
	raw, _ := rawField(m, keyID) // the comment's id comes before its author's
	id, ok := parseUint(raw)
	if !ok || id == 0 {
		cc.badIDs++
		return
	}
	switch {
	case id == cc.lastID:
		cc.dups++
		return
	case id < cc.lastID:
		cc.disorder++
		return
	}
	cc.lastID = id
	cc.got.Add(1)
	if cc.tag != nil {
		if t, ok := rawField(m, keyText); ok && bytes.HasPrefix(t, cc.tag) {
			cc.ownGot[id] = true
		}
	}
	if pub, ok := cc.s.pub.get(id); ok {
		cc.s.hComment.record(cc.idx, time.Duration(now-pub))
	} else if len(cc.pending) < maxPending {
		cc.pending = append(cc.pending, pendingComment{id: id, recv: now})
	} else {
		cc.unmatched++
	}
}

// resolve records the latencies of comments whose send time was not known
// when they arrived; final: the run is over, what is unknown stays so.
func (cc *chatConn) resolve(final bool) {
	kept := cc.pending[:0]
	for _, p := range cc.pending {
		if pub, ok := cc.s.pub.get(p.id); ok {
			cc.s.hComment.record(cc.idx, time.Duration(p.recv-pub))
		} else if final {
			cc.unmatched++
		} else {
			kept = append(kept, p)
		}
	}
	cc.pending = kept
}

func (cc *chatConn) onReactions(m []byte) {
	cc.reactMsgs++
	ts, _ := parseUint(mustField(m, keyTS))
	cc.reactTS[cc.reactN%len(cc.reactTS)] = int64(ts)
	cc.reactN++
	// The fifth message back must be at least a second older (50 ms of
	// leeway for the node's timer).
	if cc.reactN >= 5 {
		oldest := cc.reactTS[cc.reactN%len(cc.reactTS)]
		if int64(ts)-oldest < 950 {
			cc.burst++
		}
	}
	// counts: {"heart":132,"fire":3}
	i := bytes.Index(m, keyCounts)
	if i < 0 {
		cc.violation("reactions_without_counts")
		return
	}
	j := bytes.IndexByte(m[i:], '{')
	k := bytes.IndexByte(m[i:], '}')
	if j < 0 || k < j {
		cc.violation("reactions_without_counts")
		return
	}
	var counts map[string]int64
	if json.Unmarshal(m[i+j:i+k+1], &counts) != nil {
		cc.violation("reactions_counts_undecodable")
		return
	}
	for _, n := range counts {
		cc.reactSum += n
	}
}

func mustField(m, key []byte) []byte {
	v, _ := rawField(m, key)
	return v
}

// check builds the verdict once every connection's reader ended.
func (s *chatRun) check(cr *chatConn, live []*chatConn, publishFor time.Duration) ChatResult {
	cfg := s.cfg
	res := ChatResult{CommentErrors: map[string]int64{}, SamplingExpected: cfg.CommentRate > float64(cfg.FanoutRate)}
	res.Comments = s.accepted.Load()
	s.postErrs.Range(func(k, v any) bool {
		res.CommentErrors[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	if f, l := s.firstPost.Load(), s.lastPost.Load(); l > f && f > 0 {
		res.CommentsPerSec = float64(res.Comments) / (float64(l-f) / 1e9)
	}
	res.ReactionsSent = s.reactSent.Load()
	res.StockChanges = s.buysOK.Load()
	first := s.firstPost.Load()
	var sampledGot, stockMsgs int64
	all := append([]*chatConn{cr}, live...)
	for _, cc := range all {
		cc.resolve(true)
		res.Checked++
		res.OutOfOrder += cc.disorder
		res.Duplicates += cc.dups
		res.Unknown += cc.unmatched
		res.BadIDs += cc.badIDs
		res.UserIDLeaks += cc.leaks
		res.ReactionBurstMax = max(res.ReactionBurstMax, cc.maxIn1s())
		if cc.burst > 0 {
			res.ReactionOverRate++
		}
		got := cc.got.Load()
		if got == res.Comments {
			res.Complete++
		}
		if cc.creator {
			res.CreatorComplete = got == res.Comments && cc.unmatched == 0
			res.ReactionsCounted = cc.reactSum
			res.ReactionMsgs = cc.reactMsgs
			if publishFor > 0 {
				res.ReactionMsgsRate = float64(cc.reactMsgs) / publishFor.Seconds()
			}
			continue
		}
		stockMsgs += cc.stockMsgs
		if cc.sampledAt != 0 {
			res.Sampled++
			sampledGot += got
			if first > 0 {
				s.hAnnounce.record(cc.idx, time.Duration(cc.sampledAt-first))
			}
		} else if got != res.Comments {
			res.Incomplete++
		}
		if res.SamplingExpected && first > 0 && (cc.sampledAt == 0 || cc.sampledAt-first > int64(cfg.AnnounceIn)) {
			res.AnnouncedLate++
		}
		if cc.author >= 0 {
			s.ownMu.Lock()
			own := s.ownIDs[cc.author]
			s.ownMu.Unlock()
			missing := int64(0)
			for _, id := range own {
				if !cc.ownGot[id] {
					missing++
				}
			}
			if missing > 0 {
				res.AuthorsMissingOwn++
				res.OwnMissing += missing
			}
		}
	}
	if res.Sampled > 0 {
		res.SampleMean = float64(sampledGot) / float64(res.Sampled)
	}
	if n := len(live); n > 0 {
		res.StockMsgsMean = float64(stockMsgs) / float64(n)
	}
	res.AnnounceMS = quantiles(s.hAnnounce.merged())

	fail := func(format string, args ...any) { res.failures = append(res.failures, fmt.Sprintf(format, args...)) }
	if res.Comments == 0 && cfg.CommentRate > 0 {
		fail("no comment was accepted")
	}
	if res.OutOfOrder > 0 || res.Duplicates > 0 {
		fail("%d comments out of order and %d duplicates on the connections", res.OutOfOrder, res.Duplicates)
	}
	if res.Unknown > 0 || res.BadIDs > 0 {
		fail("%d comments the tester never posted, %d ids that are not integers", res.Unknown, res.BadIDs)
	}
	if res.Incomplete > 0 {
		fail("%d viewers that were never told of sampling missed comments (%d of %d got every one)", res.Incomplete, res.Complete, res.Checked)
	}
	if !res.CreatorComplete {
		fail("the creator did not get every comment (%d of %d)", cr.got.Load(), res.Comments)
	}
	if res.AuthorsMissingOwn > 0 {
		fail("%d authors missed %d of their own comments", res.AuthorsMissingOwn, res.OwnMissing)
	}
	if res.AnnouncedLate > 0 {
		fail("%d viewers were not told chat_mode sampled:true within %v of the first comment", res.AnnouncedLate, cfg.AnnounceIn)
	}
	if res.ReactionOverRate > 0 {
		fail("%d connections got more than 4 reactions messages within a second (at most %d)", res.ReactionOverRate, res.ReactionBurstMax)
	}
	if res.ReactionsSent > 0 && res.ReactionMsgs == 0 {
		fail("reactions were sent but no reactions message came")
	}
	if res.ReactionsCounted > res.ReactionsSent {
		fail("the creator was told of %d reactions, %d were sent", res.ReactionsCounted, res.ReactionsSent)
	}
	if res.UserIDLeaks > 0 {
		fail("%d messages carried a user id", res.UserIDLeaks)
	}
	res.Failures = append([]string{}, res.failures...)
	res.Verdict = "PASS"
	if len(res.failures) > 0 {
		res.Verdict = "FAIL"
	}
	return res
}

// maxIn1s is the most reactions messages among the last five within a
// second: 5 when a burst was seen, else at most 4.
func (cc *chatConn) maxIn1s() int64 {
	if cc.burst > 0 {
		return 5
	}
	return min(int64(cc.reactN), 4)
}
