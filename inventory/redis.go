package inventory

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/internal/rscript"
	"github.com/liveserver/liveserver/protocol"
)

// Every operation that changes a room is one Lua script (lua/*.lua, each
// preceded by lua/common.lua), so it is atomic across the cluster: it takes
// the room's next seq, changes the state, appends to the history and
// publishes, or does nothing.
//
//go:embed lua/*.lua
var luaFS embed.FS

var (
	scriptPutRoom   = roomScript("put_room.lua")
	scriptPin       = roomScript("pin.lua")
	scriptStartSale = roomScript("start_sale.lua")
	scriptStopSale  = roomScript("stop_sale.lua")
	scriptTick      = roomScript("tick.lua")
	scriptBuy       = roomScript("buy.lua")
	scriptSnapshot  = roomScript("snapshot.lua")
	scriptSince     = roomScript("since.lua")
	scriptOrders    = roomScript("orders.lua")
	scriptDue       = redis.NewScript(mustRead("due.lua"))
)

func mustRead(name string) string {
	b, err := luaFS.ReadFile("lua/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// roomScript joins the common prelude, with this package's constants
// filled in, and one operation's script.
// It publishes with PUBLISH, or SPUBLISH on a Redis Cluster (rscript).
func roomScript(name string) *rscript.Script {
	common := strings.NewReplacer(
		"$HISTORY", strconv.Itoa(HistorySize),
		"$TICKER_MS", strconv.FormatInt(TickerInterval.Milliseconds(), 10),
		"$AUCTION_RETENTION_MS", strconv.FormatInt(AuctionRetention.Milliseconds(), 10),
	).Replace(mustRead("common.lua") + "\n" + mustRead("auction_common.lua"))
	return rscript.New(common + "\n" + mustRead(name))
}

const (
	// requestTTL is how long a creator action's answer is kept, so that a
	// script go-redis retries after a lost reply answers the same.
	requestTTL = time.Minute
	// indexGrace puts a new sale in the index of pending transitions before
	// it exists, past its end by this much: if the node dies right after
	// starting it, another node still ends it.
	indexGrace = 10 * time.Second
	// dueLease is how long a node that claimed a due transition has to
	// tick it before another node may claim it.
	dueLease = 2 * time.Second
	dueBatch = 64
)

// RedisConfig configures a RedisStore. Zero values mean the defaults given.
type RedisConfig struct {
	// KeyPrefix starts every key and pub/sub channel (internal/rkeys names
	// them), used as it is: the server passes its configured prefix. All
	// nodes of a cluster (and their RedisBroker and RedisPresence) must use
	// the same; another prefix on the same Redis is another cluster.
	KeyPrefix string
	// TimerPoll is how often the node looks for sale transitions that fell
	// due in the cluster's index, whichever node started the sale; zero:
	// 150ms; negative: never.
	TimerPoll time.Duration
	Logger    *slog.Logger // nil: discard
	// Registerer receives the sale-transition metric; nil: not registered.
	Registerer prometheus.Registerer
	// RoundTrips observes each Redis round trip by operation (label "op");
	// nil: not observed. Purchases are observed twice: "buy" per purchase
	// (from the call to its answer, any wait for a batch included) and
	// "buy_batch" per pipeline of purchases; bids likewise, "bid" and
	// "bid_batch".
	RoundTrips *prometheus.HistogramVec
	// BuyPipelines is how many pipelines of purchases the store keeps in
	// flight at most (see redis_batch.go), and as many of bids; zero: 32.
	BuyPipelines int
	// OrderRetention is how long orders are kept, by their time; zero:
	// DefaultOrderRetention. See redis_lifecycle.go.
	OrderRetention time.Duration
	// WaitReplicas, when above zero, answers a purchase or a bid only
	// after WAIT confirmed that this many replicas of the room's master
	// have it (see redis_batch.go), and counts an auction's end as done
	// (its index entry removed) only then; past WaitTimeout the buyer or
	// bidder gets unavailable, and a retry with the same id answers the
	// real outcome (an end is retried from the index). Zero: no wait
	// (replication stays asynchronous: a failover may lose an acknowledged
	// purchase, bid or end).
	WaitReplicas int
	// WaitTimeout bounds each WAIT; zero: 500ms. It must stay below the
	// client's read timeout.
	WaitTimeout time.Duration
}

// RedisStore keeps every room in Redis, so that any number of nodes serve
// the same rooms. Every operation is one Lua script on the room's keys, which
// share the hash tag {room:<id>}; events are published by the same scripts
// on the room's channel (internal/rkeys names them all).
//
// Sale transitions happen once across the cluster: the node that starts a
// sale sets timers, and every node polls a shared index of pending
// transitions (rkeys SaleTimers) so they happen even if that node
// died; the tick script lets only the first caller move the sale.
//
// Purchases and bids are queued and sent in pipelines by goroutines of the
// store, each still its own script (see redis_batch.go).
//
// Errors from Redis (down, timeouts) are returned as a
// *protocol.DependencyError: overloaded when the request's own time ran
// out on this node (queued for a pipeline or a connection), else
// unavailable. A RedisStore owns goroutines (the index
// poller, the purchase pipelines) and its sale timers; Close ends them. It
// does not close the Redis client.
type RedisStore struct {
	rdb   redis.UniversalClient
	names rkeys.Names
	log   *slog.Logger
	sales *prometheus.CounterVec
	rtt   *prometheus.HistogramVec
	buys  *buyBatcher
	bids  *buyBatcher // auction_bid.lua's pipelines (see runBid)
	// auctionNow, when set (by tests only), is the auction scripts' clock
	// in Unix ms instead of Redis TIME; see auction_redis.go.
	auctionNow func() int64

	// waitReplicas and waitTimeout are RedisConfig's WaitReplicas and
	// WaitTimeout, for the writes that wait (see eval).
	waitReplicas int
	waitTimeout  time.Duration

	retention time.Duration

	mu     sync.Mutex
	timers map[string]*time.Timer // by index member, this node's sale timers
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup // the poller and running timer functions
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store on rdb and starts its poller; the caller
// must call Close, and closes rdb itself afterwards.
func NewRedisStore(rdb redis.UniversalClient, cfg RedisConfig) *RedisStore {
	if cfg.TimerPoll == 0 {
		cfg.TimerPoll = 150 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BuyPipelines <= 0 {
		cfg.BuyPipelines = defaultBuyPipelines
	}
	if cfg.OrderRetention <= 0 {
		cfg.OrderRetention = DefaultOrderRetention
	}
	s := &RedisStore{
		rdb: rdb, names: rkeys.New(cfg.KeyPrefix), log: cfg.Logger,
		sales: NewSaleMetric(cfg.Registerer), rtt: cfg.RoundTrips,
		timers:    make(map[string]*time.Timer),
		done:      make(chan struct{}),
		retention: cfg.OrderRetention,
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = defaultWaitTimeout
	}
	s.buys = newBuyBatcher(rdb, scriptBuy.For(rdb), cfg.BuyPipelines, "buy_batch", s.observe)
	s.buys.waitReplicas, s.buys.waitTimeout = cfg.WaitReplicas, cfg.WaitTimeout
	s.waitReplicas, s.waitTimeout = cfg.WaitReplicas, cfg.WaitTimeout
	s.bids = newBuyBatcher(rdb, scriptAuctionBid.For(rdb), cfg.BuyPipelines, "bid_batch", s.observe)
	s.bids.waitReplicas, s.bids.waitTimeout = cfg.WaitReplicas, cfg.WaitTimeout
	if cfg.TimerPoll > 0 {
		s.wg.Add(1)
		go s.pollLoop(cfg.TimerPoll)
	}
	s.wg.Add(1)
	go s.retentionLoop()
	return s
}

// Close stops the poller, the purchase and bid pipelines and this node's
// sale timers and waits for them; purchases and bids still queued fail. Other nodes still
// move the sales this node started. It is idempotent.
func (s *RedisStore) Close() error {
	s.buys.close()
	s.bids.close()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		for _, t := range s.timers {
			t.Stop()
		}
		clear(s.timers)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// index is the sorted set of pending sale transitions, "<room>:<sale id>"
// by instant. It is outside every room's slot; it is written by Go, never
// by a room script.
func (s *RedisStore) index() string { return s.names.SaleTimers() }

func indexMember(room, saleID string) string { return room + ":" + saleID }

// scriptReply is a script's answer after the transitions: vals are the
// values after "ok", or reason and args after "!".
type scriptReply struct {
	vals   []any
	reason string
}

func (s *RedisStore) observe(op string, start time.Time) {
	if s.rtt != nil {
		s.rtt.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

// run runs a room script. req is the request's key (requestKey), "" for
// none.
func (s *RedisStore) run(ctx context.Context, op string, sc *rscript.Script, room, req string, args ...any) (scriptReply, error) {
	return s.runRoom(ctx, op, sc, false, room, req, args...)
}

// runRoom is run, followed by WAIT (see eval) if wait is set.
func (s *RedisStore) runRoom(ctx context.Context, op string, sc *rscript.Script, wait bool, room, req string, args ...any) (scriptReply, error) {
	argv := append([]any{room, s.names.Events(room)}, args...)
	start := time.Now()
	v, err := s.eval(ctx, sc, wait, s.names.RoomKeys(room, req), argv...)
	s.observe(op, start)
	return s.reply(ctx, op, v, err)
}

// eval runs a room script (keys[0] is one of the room's keys). If wait is
// set and the store waits for replicas (WaitReplicas), the script is
// followed by WAIT on the same connection, on the master of the room's
// slot, and its answer is returned only if enough replicas confirmed it:
// else ErrNotReplicated (the script did run). A slot that moved answers
// MOVED or ASK, which fails the call; the slot map is reloaded for the
// retry.
func (s *RedisStore) eval(ctx context.Context, sc *rscript.Script, wait bool, keys []string, argv ...any) ([]any, error) {
	script := sc.For(s.rdb)
	if !wait || s.waitReplicas <= 0 {
		return script.Run(ctx, s.rdb, keys, argv...).Slice()
	}
	var c interface {
		pipeliner
		redis.Scripter
	} = s.rdb
	cc, cluster := s.rdb.(*redis.ClusterClient)
	if cluster {
		master, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		c = master
	}
	var cmd *redis.Cmd
	send := func() error {
		return pipeWait(ctx, c, s.waitReplicas, s.waitTimeout, func(pipe redis.Pipeliner) {
			cmd = script.EvalSha(ctx, pipe, keys, argv...)
		})
	}
	werr := send()
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// An empty script cache (a restart, a promoted replica): load the
		// script on that master and send it once more.
		if err := script.Load(ctx, c).Err(); err != nil {
			return nil, err
		}
		werr = send()
	}
	v, err := cmd.Slice()
	if err != nil {
		if cluster && (redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK")) {
			cc.ReloadState(ctx)
		}
		return nil, err
	}
	if werr != nil {
		return nil, werr // ran, but not known to survive a failover
	}
	return v, nil
}

// reply reads a room script's answer v (or its error, a Redis call that
// failed for the request of ctx).
func (s *RedisStore) reply(ctx context.Context, op string, v []any, err error) (scriptReply, error) {
	if err != nil {
		return scriptReply{}, protocol.DependencyFailed(ctx, op, err)
	}
	if len(v) < 2 {
		return scriptReply{}, fmt.Errorf("inventory: %s: malformed script reply %v", op, v)
	}
	if trans, _ := v[0].(string); trans != "" {
		for _, st := range strings.Split(trans, ",") {
			s.sales.WithLabelValues(st).Inc()
		}
	}
	if v[1] == "!" {
		r := scriptReply{vals: v[3:]}
		r.reason, _ = v[2].(string)
		return r, nil
	}
	return scriptReply{vals: v[2:]}, nil
}

// refusal turns a script's refusal into the error MemoryStore returns in
// the same case (the constructors of errors.go); subject is the product
// (or order id) the request named.
func refusal(room, subject string, r scriptReply) error {
	switch r.reason {
	case "no_room":
		return errNoRoom(room)
	case "no_product":
		return errNoProduct(subject)
	case "sale_exists":
		return errSaleExists(str(r.vals, 0))
	case "no_sale":
		return errNoSale()
	case "sale_not_live":
		return errSaleNotLive()
	case "limit":
		return errLimit(num(r.vals, 0))
	case "sale_sold_out":
		return errSaleSoldOut()
	case "sold_out":
		return errSoldOut()
	case "banned":
		return errBanned()
	case "sale_on_auction":
		return errSaleOnAuction()
	case "bad_after":
		return errBadAfter(subject)
	}
	return fmt.Errorf("inventory: unknown script refusal %q", r.reason)
}

func str(vals []any, i int) string {
	if i < len(vals) {
		s, _ := vals[i].(string)
		return s
	}
	return ""
}

func num(vals []any, i int) int64 {
	n, _ := strconv.ParseInt(str(vals, i), 10, 64)
	return n
}

// requestKey is a fresh key for a creator action's answer (see once in
// lua/common.lua).
func (s *RedisStore) requestKey(room string) string { return s.names.Request(room, uuid.NewString()) }

var requestTTLms = requestTTL.Milliseconds()

// productStatic is the part of protocol.Product a catalog fixes, in the same
// field order, so the scripts can append remaining and v to its JSON.
type productStatic struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
	Image    string `json:"image"`
}

// PutRoom implements Store.
func (s *RedisStore) PutRoom(ctx context.Context, room string, spec RoomSpec) (bool, error) {
	if err := spec.Validate(); err != nil {
		return false, err
	}
	args := make([]any, 0, 3+4*len(spec.Products))
	args = append(args, spec.Title, requestTTLms, len(spec.Products))
	for _, p := range spec.Products {
		static, err := json.Marshal(productStatic{p.ID, p.Name, p.Price, p.Currency, p.Image})
		if err != nil {
			return false, err
		}
		args = append(args, p.ID, static, p.Price, p.Stock)
	}
	r, err := s.run(ctx, "put_room", scriptPutRoom, room, s.requestKey(room), args...)
	if err != nil {
		return false, err
	}
	return str(r.vals, 0) == "1", nil
}

// Snapshot implements Store.
func (s *RedisStore) Snapshot(ctx context.Context, room string) (protocol.Snapshot, error) {
	r, err := s.run(ctx, "snapshot", scriptSnapshot, room, "")
	if err != nil {
		return protocol.Snapshot{}, err
	}
	if r.reason != "" {
		return protocol.Snapshot{}, refusal(room, "", r)
	}
	// seq, title, pinned, now, ids, static, stock, ver, sale, auction
	if len(r.vals) != 10 {
		return protocol.Snapshot{}, fmt.Errorf("inventory: snapshot: malformed reply")
	}
	snap := protocol.Snapshot{
		Type: protocol.TypeSnapshot, Room: room, Seq: uint64(num(r.vals, 0)), TS: num(r.vals, 3),
		Title: str(r.vals, 1),
	}
	ids, _ := r.vals[4].([]any)
	static, _ := r.vals[5].([]any)
	stock, _ := r.vals[6].([]any)
	ver, _ := r.vals[7].([]any)
	if len(static) != len(ids) || len(stock) != len(ids) || len(ver) != len(ids) {
		return protocol.Snapshot{}, fmt.Errorf("inventory: snapshot: malformed product lists")
	}
	snap.Products = make([]protocol.Product, len(ids))
	pinned := str(r.vals, 2)
	for i := range ids {
		p := &snap.Products[i]
		if err := json.Unmarshal([]byte(str(static, i)), p); err != nil {
			return protocol.Snapshot{}, fmt.Errorf("inventory: snapshot: product %d: %w", i, err)
		}
		p.Remaining, p.V = num(stock, i), num(ver, i)
		if p.ID == pinned {
			pp := *p
			snap.Pinned = &pp
		}
	}
	if sj := str(r.vals, 8); sj != "" {
		var sale protocol.Sale
		if err := json.Unmarshal([]byte(sj), &sale); err != nil {
			return protocol.Snapshot{}, fmt.Errorf("inventory: snapshot: sale: %w", err)
		}
		snap.Sale = &sale
	}
	if aj := str(r.vals, 9); aj != "" {
		var a protocol.Auction
		if err := json.Unmarshal([]byte(aj), &a); err != nil {
			return protocol.Snapshot{}, fmt.Errorf("inventory: snapshot: auction: %w", err)
		}
		snap.Auction = &a
	}
	return snap, nil
}

// Since implements Store.
func (s *RedisStore) Since(ctx context.Context, room string, seq uint64) ([]protocol.Envelope, bool, error) {
	r, err := s.run(ctx, "since", scriptSince, room, "", strconv.FormatUint(seq, 10))
	if err != nil {
		return nil, false, err
	}
	if r.reason != "" {
		return nil, false, refusal(room, "", r)
	}
	if str(r.vals, 0) != "1" {
		return nil, false, nil
	}
	raw, _ := r.vals[1].([]any)
	evs := make([]protocol.Envelope, 0, len(raw))
	for _, e := range raw {
		es, _ := e.(string)
		env, ok := protocol.ParseEnvelope([]byte(es))
		if !ok || env.Seq == 0 {
			return nil, false, fmt.Errorf("inventory: since: malformed history entry in room %s", room)
		}
		evs = append(evs, env)
	}
	return evs, true, nil
}

// Pin implements Store.
func (s *RedisStore) Pin(ctx context.Context, room, product string) error {
	r, err := s.run(ctx, "pin", scriptPin, room, s.requestKey(room), product, requestTTLms)
	if err == nil && r.reason != "" {
		err = refusal(room, product, r)
	}
	return err
}

// Unpin implements Store. Unpinning a room with no pin does nothing.
func (s *RedisStore) Unpin(ctx context.Context, room string) error {
	r, err := s.run(ctx, "unpin", scriptPin, room, s.requestKey(room), "", requestTTLms)
	if err == nil && r.reason != "" {
		err = refusal(room, "", r)
	}
	return err
}

// StartSale implements Store.
func (s *RedisStore) StartSale(ctx context.Context, room string, spec SaleSpec) (protocol.Sale, error) {
	if err := spec.Validate(); err != nil {
		return protocol.Sale{}, err
	}
	id := uuid.NewString()
	member := indexMember(room, id)
	// The index entry goes first, due well after the sale's end: whatever
	// happens to this node from now on, some node will end the sale.
	latest := time.Now().Add(time.Duration(spec.StartsInMS+spec.DurationMS)*time.Millisecond + indexGrace)
	if err := s.schedule(ctx, member, latest.UnixMilli()); err != nil {
		return protocol.Sale{}, err
	}
	r, err := s.run(ctx, "start_sale", scriptStartSale, room, s.requestKey(room),
		id, spec.Product, spec.Price, spec.Quantity, spec.PerUserLimit, spec.DurationMS, spec.StartsInMS, requestTTLms)
	if err != nil {
		return protocol.Sale{}, err // the entry stays; its tick finds no sale and removes it
	}
	if r.reason != "" {
		if err := s.schedule(ctx, member, 0); err != nil {
			s.log.Warn("removing an unused sale index entry failed", "room", room, "err", err)
		}
		return protocol.Sale{}, refusal(room, spec.Product, r)
	}
	var sale protocol.Sale
	if err := json.Unmarshal([]byte(str(r.vals, 0)), &sale); err != nil {
		return protocol.Sale{}, fmt.Errorf("inventory: start_sale: %w", err)
	}
	due := sale.EndsAt
	if sale.State == protocol.SaleScheduled {
		due = sale.StartsAt
	}
	if err := s.schedule(ctx, member, due); err != nil {
		// The entry due after the end is still there: the sale ends, late.
		s.log.Warn("scheduling a sale transition failed", "room", room, "err", err)
	}
	s.arm(room, sale.ID, due-num(r.vals, 1))
	return sale, nil
}

// StopSale implements Store.
func (s *RedisStore) StopSale(ctx context.Context, room string) (protocol.Sale, error) {
	r, err := s.run(ctx, "stop_sale", scriptStopSale, room, s.requestKey(room), requestTTLms)
	if err != nil {
		return protocol.Sale{}, err
	}
	if r.reason != "" {
		return protocol.Sale{}, refusal(room, "", r)
	}
	var sale protocol.Sale
	if err := json.Unmarshal([]byte(str(r.vals, 0)), &sale); err != nil {
		return protocol.Sale{}, fmt.Errorf("inventory: stop_sale: %w", err)
	}
	member := indexMember(room, sale.ID)
	s.disarm(member)
	if err := s.schedule(ctx, member, 0); err != nil {
		s.log.Debug("removing a stopped sale from the index failed; a poll will", "room", room, "err", err)
	}
	return sale, nil
}

// Buy implements Store: one script does the whole purchase (see buy.lua),
// sent in a pipeline with the other purchases queued at the time.
func (s *RedisStore) Buy(ctx context.Context, req BuyRequest) (Receipt, error) {
	call, err := s.buyCall(ctx, req)
	if err != nil {
		return Receipt{}, err
	}
	start := time.Now()
	v, err := s.buys.do(call)
	return s.buyResult(ctx, req, start, v, err)
}

// BuyAsync implements AsyncBuyer: the purchase is queued for a pipeline
// and done is called, once, by the goroutine that reads the pipeline's
// answers (or at once, for a request refused before it is queued). So a
// burst of purchases does not hold a goroutine (and its stack) each while
// Redis answers. done must not block.
func (s *RedisStore) BuyAsync(ctx context.Context, req BuyRequest, done func(Receipt, error)) {
	call, err := s.buyCall(ctx, req)
	if err != nil {
		done(Receipt{}, err)
		return
	}
	start := time.Now()
	call.done = func(v []any, err error) { done(s.buyResult(ctx, req, start, v, err)) }
	s.buys.submit(call)
}

// buyCall validates a purchase and builds its script call.
func (s *RedisStore) buyCall(ctx context.Context, req BuyRequest) (*buyCall, error) {
	if req.Qty < 1 || req.Qty > protocol.MaxQty {
		return nil, errBadQty()
	}
	buyer, _ := json.Marshal(MaskBuyer(req.User))
	idem := s.names.Idempotency(req.Room, req.User, req.ID)
	// The KEYS and ARGV of run, sent in a pipeline with other purchases.
	argv := []any{req.Room, s.names.Events(req.Room),
		req.User, req.Product, req.Qty, uuid.NewString(), buyer, IdempotencyTTL.Milliseconds(), req.Handle}
	// The last key is the chat's set of banned handles of the room (package
	// chat), in the room's slot.
	keys := append(s.names.RoomKeys(req.Room, idem), s.names.ChatKey(req.Room, "bans"))
	return &buyCall{ctx: ctx, keys: keys, args: argv}, nil
}

// buyResult turns the script's answer into a receipt or an error.
func (s *RedisStore) buyResult(ctx context.Context, req BuyRequest, start time.Time, v []any, err error) (Receipt, error) {
	s.observe("buy", start)
	r, err := s.reply(ctx, "buy", v, err)
	if err != nil {
		return Receipt{}, err
	}
	if r.reason != "" {
		return Receipt{}, refusal(req.Room, req.Product, r)
	}
	return Receipt{Order: str(r.vals, 0), Product: str(r.vals, 1), Qty: num(r.vals, 2), Price: num(r.vals, 3), Remaining: num(r.vals, 4)}, nil
}

// Orders implements Store. The order log is a Redis stream per room; a hash
// maps order ids to stream entry ids for paging.
func (s *RedisStore) Orders(ctx context.Context, room, after string, limit int) ([]Order, string, error) {
	if limit < 1 {
		limit = 1
	}
	// A read never shows an order past the retention.
	if err := s.trimOrders(ctx, room); err != nil {
		return nil, "", err
	}
	r, err := s.run(ctx, "orders", scriptOrders, room, "", after, limit)
	if err != nil {
		return nil, "", err
	}
	if r.reason != "" {
		return nil, "", refusal(room, after, r)
	}
	entries, _ := r.vals[0].([]any)
	out := make([]Order, 0, min(len(entries), limit))
	for _, e := range entries[:min(len(entries), limit)] {
		o, err := parseOrder(e)
		if err != nil {
			return nil, "", err
		}
		out = append(out, o)
	}
	next := ""
	if len(entries) > limit && len(out) > 0 {
		next = out[len(out)-1].Order
	}
	return out, next, nil
}

// parseOrder reads one XRANGE entry: [id, [field, value, ...]].
func parseOrder(e any) (Order, error) {
	entry, _ := e.([]any)
	if len(entry) != 2 {
		return Order{}, fmt.Errorf("inventory: orders: malformed stream entry")
	}
	fields, _ := entry[1].([]any)
	var o Order
	for i := 0; i+1 < len(fields); i += 2 {
		v := str(fields, i+1)
		switch str(fields, i) {
		case "order":
			o.Order = v
		case "user":
			o.User = v
		case "product":
			o.Product = v
		case "qty":
			o.Qty = num(fields, i+1)
		case "price":
			o.Price = num(fields, i+1)
		case "sale":
			if v != "" {
				o.Sale = &v
			}
		case "auction":
			if v != "" {
				o.Auction = &v
			}
		case "at":
			o.At = num(fields, i+1)
		}
	}
	return o, nil
}

// schedule sets when a sale's next transition is due in the cluster's
// index, or removes it (due 0).
func (s *RedisStore) schedule(ctx context.Context, member string, due int64) error {
	start := time.Now()
	var err error
	if due > 0 {
		err = s.rdb.ZAdd(ctx, s.index(), redis.Z{Score: float64(due), Member: member}).Err()
	} else {
		err = s.rdb.ZRem(ctx, s.index(), member).Err()
	}
	s.observe("sale_index", start)
	if err != nil {
		return protocol.DependencyFailed(ctx, "sale_index", err)
	}
	return nil
}

// tick advances a sale (if it is still the room's) and records its next
// transition in the index. It returns the next instant (0: none) and the
// time, both Redis's.
func (s *RedisStore) tick(ctx context.Context, room, saleID string) (due, now int64, err error) {
	r, err := s.run(ctx, "tick", scriptTick, room, "", saleID)
	if err != nil {
		return 0, 0, err
	}
	due, now = num(r.vals, 0), num(r.vals, 1)
	return due, now, s.schedule(ctx, indexMember(room, saleID), due)
}

// arm sets this node's timer for a sale's next instant, in ms from now.
func (s *RedisStore) arm(room, saleID string, inMS int64) {
	member := indexMember(room, saleID)
	d := max(time.Duration(inMS)*time.Millisecond, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if old := s.timers[member]; old != nil {
		old.Stop()
	}
	var t *time.Timer
	// s.mu is held until t is stored, so the function sees it.
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		if s.closed || s.timers[member] != t {
			s.mu.Unlock()
			return
		}
		delete(s.timers, member)
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		due, now, err := s.tick(ctx, room, saleID)
		if err != nil {
			// The index still holds the instant: a poll will retry.
			s.log.Warn("sale timer: tick failed", "room", room, "err", err)
			return
		}
		if due > 0 {
			// At least 10ms, in case this clock runs ahead of Redis's.
			s.arm(room, saleID, max(due-now, 10))
		}
	})
	s.timers[member] = t
}

func (s *RedisStore) disarm(member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.timers[member]; t != nil {
		t.Stop()
		delete(s.timers, member)
	}
}

// pollLoop runs until Close: it ticks the sale transitions that fell due in
// the cluster's index, so they happen even when the node that started the
// sale is gone.
func (s *RedisStore) pollLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		err := s.pollOnce()
		if err == nil {
			err = s.pollAuctions()
		}
		switch {
		case err != nil && !failing:
			s.log.Warn("polling sale transitions failed; retrying", "err", err)
		case err == nil && failing:
			s.log.Info("polling sale transitions works again")
		}
		failing = err != nil
	}
}

func (s *RedisStore) pollOnce() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	members, err := scriptDue.Run(ctx, s.rdb, []string{s.index()}, dueBatch, dueLease.Milliseconds()).StringSlice()
	s.observe("sale_due", start)
	if err != nil {
		return protocol.DependencyFailed(ctx, "sale_due", err)
	}
	for _, m := range members {
		room, saleID, ok := strings.Cut(m, ":")
		if !ok {
			if err := s.schedule(ctx, m, 0); err != nil {
				return err
			}
			continue
		}
		if _, _, err := s.tick(ctx, room, saleID); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}
