package inventory

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveserver/liveserver/internal/clock"
	"github.com/liveserver/liveserver/protocol"
)

// Publisher receives the envelopes a store produces, in order per room.
type Publisher interface {
	Publish(ctx context.Context, room string, data []byte) error
}

// MemoryConfig configures a MemoryStore. Zero values mean the defaults given.
type MemoryConfig struct {
	Publisher Publisher    // required: where room events go (the node's broker)
	Clock     clock.Clock  // nil: the real clock
	Logger    *slog.Logger // nil: discard
	// Registerer receives the store's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// OrderRetention is how long orders are kept, by their time; zero:
	// DefaultOrderRetention.
	OrderRetention time.Duration
}

// MemoryStore keeps every room in this process. Each room has its own lock,
// held for the whole of an operation, so operations on one room are atomic
// and publish their events in seq order.
type MemoryStore struct {
	bans  BanChecker // nil: no purchase is refused as banned
	pub   Publisher
	clock clock.Clock
	log   *slog.Logger
	sales *prometheus.CounterVec

	mu     sync.RWMutex
	rooms  map[string]*memRoom
	closed bool
	// stopSweep cancels the next sweep of expired purchase answers.
	stopSweep func() bool
	// retention, logs and stopOrderSweep are the order retention's (see
	// retention.go); logs holds the order logs of deleted rooms.
	retention      time.Duration
	logs           map[string]*orderLog
	stopOrderSweep func() bool
}

var _ Store = (*MemoryStore)(nil)

type memRoom struct {
	id string

	mu        sync.Mutex
	title     string
	products  []protocol.Product
	index     map[string]int   // product id -> index in products
	versions  map[string]int64 // last stock version of every product ever listed
	pinned    string
	sale      *protocol.Sale // scheduled or live, else nil
	saleUsers map[string]int64
	saleStops []func() bool // the sale's timers
	seq       uint64
	hist      []protocol.Envelope // the last HistorySize events
	idem      map[string]idemEntry
	idemOrder []idemKey // keys oldest first, for expiry
	lastTick  time.Time
	log       *orderLog    // shared with s.logs once the room is deleted
	gone      bool         // deleted: operations that found it before answer not_found
	auc       auctionState // see auction_memory.go
}

type idemEntry struct {
	receipt Receipt
	err     *protocol.Error
}

type idemKey struct {
	key     string
	expires time.Time
}

// NewMemoryStore returns an empty store; Close stops its timers.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OrderRetention <= 0 {
		cfg.OrderRetention = DefaultOrderRetention
	}
	s := &MemoryStore{
		pub: cfg.Publisher, clock: cfg.Clock, log: cfg.Logger,
		sales:     NewSaleMetric(cfg.Registerer),
		rooms:     make(map[string]*memRoom),
		retention: cfg.OrderRetention,
		logs:      make(map[string]*orderLog),
	}
	s.mu.Lock()
	s.scheduleSweepLocked()
	s.stopOrderSweep = s.clock.AfterFunc(retentionSweep(s.retention), s.sweepOrders)
	s.mu.Unlock()
	return s
}

// Close stops every sale timer. The store must not be used afterwards.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	s.closed = true
	s.stopSweep()
	s.stopOrderSweep()
	rooms := s.rooms
	s.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		r.stopTimersLocked()
		r.stopAuctionTimersLocked()
		r.mu.Unlock()
	}
	return nil
}

func (s *MemoryStore) room(id string) (*memRoom, error) {
	s.mu.RLock()
	r := s.rooms[id]
	s.mu.RUnlock()
	if r == nil {
		return nil, errNoRoom(id)
	}
	return r, nil
}

// PutRoom implements Store.
func (s *MemoryStore) PutRoom(ctx context.Context, id string, spec RoomSpec) (bool, error) {
	if err := spec.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	r := s.rooms[id]
	created := r == nil
	if created {
		r = &memRoom{id: id, versions: map[string]int64{}, idem: map[string]idemEntry{}, log: s.logs[id]}
		if r.log == nil {
			r.log = newOrderLog()
		}
		delete(s.logs, id) // a room created again continues its order log
		s.rooms[id] = r
	}
	r.mu.Lock() // before s.mu is released, so no one sees the room empty
	s.mu.Unlock()
	defer r.mu.Unlock()

	now := s.clock.Now()
	r.title = spec.Title
	r.products = make([]protocol.Product, len(spec.Products))
	r.index = make(map[string]int, len(spec.Products))
	for i, p := range spec.Products {
		r.versions[p.ID]++
		r.products[i] = protocol.Product{ID: p.ID, Name: p.Name, Price: p.Price, Currency: p.Currency, Image: p.Image, Remaining: p.Stock, V: r.versions[p.ID]}
		r.index[p.ID] = i
	}
	if created {
		return true, nil
	}
	s.emitLocked(ctx, r, protocol.Event{Type: protocol.TypeCatalog, Products: r.productsCopy()}, now)
	if _, ok := r.index[r.pinned]; r.pinned != "" && !ok {
		r.pinned = ""
		s.emitLocked(ctx, r, protocol.Event{Type: protocol.TypeUnpinned}, now)
	}
	if r.sale != nil {
		if _, ok := r.index[r.sale.Product]; !ok {
			s.endSaleLocked(ctx, r, now)
		}
	}
	s.auctionReplacedLocked(ctx, r, now)
	return false, nil
}

func (r *memRoom) productsCopy() []protocol.Product {
	return append(make([]protocol.Product, 0, len(r.products)), r.products...)
}

// emitLocked gives ev the room's next seq, keeps it in the history and
// publishes it.
func (s *MemoryStore) emitLocked(ctx context.Context, r *memRoom, ev protocol.Event, now time.Time) {
	if ev.Sale != nil {
		s.sales.WithLabelValues(ev.Sale.State).Inc()
	}
	s.appendLocked(ctx, r, func(seq uint64, ts int64) []byte {
		ev.Room, ev.Seq, ev.TS = r.id, seq, ts
		return protocol.EncodeEvent(ev)
	}, now)
}

// appendLocked gives the event msg encodes the room's next seq, keeps it in
// the history and publishes it.
func (s *MemoryStore) appendLocked(ctx context.Context, r *memRoom, msg func(seq uint64, ts int64) []byte, now time.Time) {
	r.seq++
	env := protocol.Envelope{Seq: r.seq, Msg: msg(r.seq, protocol.Millis(now))}
	if len(r.hist) >= HistorySize {
		copy(r.hist, r.hist[1:])
		r.hist = r.hist[:len(r.hist)-1]
	}
	r.hist = append(r.hist, env)
	s.publish(ctx, r.id, protocol.SeqEnvelope(env.Seq, env.Msg))
}

// Sequence runs f holding the room's lock, so that events of other packages
// (the chat's comment_deleted and chat) share the room's seq, history and
// publication order with the shop's. Each call of emit appends one event:
// msg encodes it for its seq and time (Unix ms). f must not call back into
// the store. A room that does not exist is not_found and f does not run;
// f's error is returned as it is.
func (s *MemoryStore) Sequence(ctx context.Context, room string, f func(emit func(msg func(seq uint64, ts int64) []byte)) error) error {
	r, err := s.room(room)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(func(msg func(seq uint64, ts int64) []byte) {
		s.appendLocked(ctx, r, msg, s.clock.Now())
	})
}

func (s *MemoryStore) publish(ctx context.Context, room string, data []byte) {
	if s.pub == nil {
		return
	}
	if err := s.pub.Publish(ctx, room, data); err != nil {
		s.log.Warn("publish failed", "room", room, "err", err)
	}
}

// Snapshot implements Store.
func (s *MemoryStore) Snapshot(_ context.Context, id string) (protocol.Snapshot, error) {
	r, err := s.room(id)
	if err != nil {
		return protocol.Snapshot{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return protocol.Snapshot{}, errNoRoom(id)
	}
	snap := protocol.Snapshot{
		Type: protocol.TypeSnapshot, Room: id, Seq: r.seq, TS: protocol.Millis(s.clock.Now()),
		Title: r.title, Products: r.productsCopy(),
	}
	if i, ok := r.index[r.pinned]; ok && r.pinned != "" {
		p := r.products[i]
		snap.Pinned = &p
	}
	if r.sale != nil {
		sale := *r.sale
		snap.Sale = &sale
	}
	snap.Auction = r.snapshotAuctionLocked()
	return snap, nil
}

// Since implements Store.
func (s *MemoryStore) Since(_ context.Context, id string, seq uint64) ([]protocol.Envelope, bool, error) {
	r, err := s.room(id)
	if err != nil {
		return nil, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return nil, false, errNoRoom(id)
	}
	if seq > r.seq {
		return nil, false, nil
	}
	if seq == r.seq {
		return nil, true, nil
	}
	if len(r.hist) == 0 || r.hist[0].Seq > seq+1 {
		return nil, false, nil
	}
	start := int(seq + 1 - r.hist[0].Seq)
	return append([]protocol.Envelope(nil), r.hist[start:]...), true, nil
}

// Pin implements Store.
func (s *MemoryStore) Pin(ctx context.Context, id, product string) error {
	r, err := s.room(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return errNoRoom(id)
	}
	i, ok := r.index[product]
	if !ok {
		return errNoProduct(product)
	}
	r.pinned = product
	p := r.products[i]
	s.emitLocked(ctx, r, protocol.Event{Type: protocol.TypePinned, Product: &p}, s.clock.Now())
	return nil
}

// Unpin implements Store. Unpinning a room with no pin does nothing.
func (s *MemoryStore) Unpin(ctx context.Context, id string) error {
	r, err := s.room(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return errNoRoom(id)
	}
	if r.pinned == "" {
		return nil
	}
	r.pinned = ""
	s.emitLocked(ctx, r, protocol.Event{Type: protocol.TypeUnpinned}, s.clock.Now())
	return nil
}

// StartSale implements Store.
func (s *MemoryStore) StartSale(ctx context.Context, id string, spec SaleSpec) (protocol.Sale, error) {
	if err := spec.Validate(); err != nil {
		return protocol.Sale{}, err
	}
	r, err := s.room(id)
	if err != nil {
		return protocol.Sale{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return protocol.Sale{}, errNoRoom(id)
	}
	now := s.clock.Now()
	s.advanceSaleLocked(ctx, r, now)
	if r.sale != nil {
		return protocol.Sale{}, errSaleExists(r.sale.State)
	}
	if _, ok := r.index[spec.Product]; !ok {
		return protocol.Sale{}, errNoProduct(spec.Product)
	}
	if err := s.saleBlockedLocked(ctx, r, spec.Product, now); err != nil {
		return protocol.Sale{}, err
	}
	sale := spec.newSale(uuid.NewString(), now)
	r.sale = &sale
	r.saleUsers = map[string]int64{}
	s.emitLocked(ctx, r, protocol.Event{Type: protocol.TypeSale, Sale: &sale}, now)
	// The timers move the sale at its instants; purchases also check the
	// clock, so a late timer never lets a purchase in or out of the window.
	at := func(ms int64) time.Duration { return time.UnixMilli(ms).Sub(now) }
	if sale.State == protocol.SaleScheduled {
		r.saleStops = append(r.saleStops, s.clock.AfterFunc(at(sale.StartsAt), func() { s.tick(id, sale.ID) }))
	}
	r.saleStops = append(r.saleStops, s.clock.AfterFunc(at(sale.EndsAt), func() { s.tick(id, sale.ID) }))
	return sale, nil
}

func (sp SaleSpec) newSale(id string, now time.Time) protocol.Sale {
	start := protocol.Millis(now) + sp.StartsInMS
	state := protocol.SaleLive
	if sp.StartsInMS > 0 {
		state = protocol.SaleScheduled
	}
	return protocol.Sale{
		ID: id, Product: sp.Product, Price: sp.Price, Quantity: sp.Quantity,
		PerUserLimit: sp.PerUserLimit, StartsAt: start, EndsAt: start + sp.DurationMS, State: state,
	}
}

// tick runs from a sale timer.
func (s *MemoryStore) tick(id, saleID string) {
	r, err := s.room(id)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return
	}
	if r.sale != nil && r.sale.ID == saleID {
		s.advanceSaleLocked(context.Background(), r, s.clock.Now())
	}
}

// advanceSaleLocked moves the sale to the state the clock says it is in.
func (s *MemoryStore) advanceSaleLocked(ctx context.Context, r *memRoom, now time.Time) {
	if r.sale == nil {
		return
	}
	ms := protocol.Millis(now)
	if r.sale.State == protocol.SaleScheduled && ms >= r.sale.StartsAt && ms < r.sale.EndsAt {
		r.sale.State = protocol.SaleLive
		sale := *r.sale
		s.emitLocked(ctx, r, protocol.Event{Type: protocol.TypeSale, Sale: &sale}, now)
	}
	if ms >= r.sale.EndsAt {
		s.endSaleLocked(ctx, r, now)
	}
}

func (s *MemoryStore) endSaleLocked(ctx context.Context, r *memRoom, now time.Time) {
	sale := *r.sale
	sale.State = protocol.SaleEnded
	r.sale, r.saleUsers = nil, nil
	r.stopTimersLocked()
	s.emitLocked(ctx, r, protocol.Event{Type: protocol.TypeSale, Sale: &sale}, now)
}

func (r *memRoom) stopTimersLocked() {
	for _, stop := range r.saleStops {
		stop()
	}
	r.saleStops = nil
}

// StopSale implements Store.
func (s *MemoryStore) StopSale(ctx context.Context, id string) (protocol.Sale, error) {
	r, err := s.room(id)
	if err != nil {
		return protocol.Sale{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return protocol.Sale{}, errNoRoom(id)
	}
	now := s.clock.Now()
	s.advanceSaleLocked(ctx, r, now)
	if r.sale == nil {
		return protocol.Sale{}, errNoSale()
	}
	sale := *r.sale
	sale.State = protocol.SaleEnded
	s.endSaleLocked(ctx, r, now)
	return sale, nil
}

// SetBans makes purchases of banned chat handles fail with banned. Call it
// before the store is used (the chat store, which implements BanChecker,
// is built on this one).
func (s *MemoryStore) SetBans(b BanChecker) { s.bans = b }

// Buy implements Store: idempotency lookup, sale rules, stock check,
// decrement, order and stock message in one step under the room's lock.
func (s *MemoryStore) Buy(ctx context.Context, req BuyRequest) (Receipt, error) {
	if req.Qty < 1 || req.Qty > protocol.MaxQty {
		return Receipt{}, errBadQty()
	}
	r, err := s.room(req.Room)
	if err != nil {
		return Receipt{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return Receipt{}, errNoRoom(req.Room)
	}
	if req.Handle != "" && s.bans != nil && s.bans.IsBanned(req.Room, req.Handle) {
		return Receipt{}, errBanned() // not remembered: an unban lifts it
	}
	now := s.clock.Now()
	r.expireIdemLocked(now)
	key := req.User + "\x00" + req.ID
	if e, ok := r.idem[key]; ok {
		if e.err != nil {
			return Receipt{}, e.err
		}
		return e.receipt, nil
	}
	rec, perr := s.buyLocked(ctx, r, req, now)
	if remembered(perr) {
		r.idem[key] = idemEntry{receipt: rec, err: perr}
		r.idemOrder = append(r.idemOrder, idemKey{key, now.Add(IdempotencyTTL)})
	}
	if perr != nil {
		return Receipt{}, perr
	}
	return rec, nil
}

func (s *MemoryStore) buyLocked(ctx context.Context, r *memRoom, req BuyRequest, now time.Time) (Receipt, *protocol.Error) {
	i, ok := r.index[req.Product]
	if !ok {
		return Receipt{}, errNoProduct(req.Product)
	}
	s.advanceSaleLocked(ctx, r, now)
	p := &r.products[i]
	price := p.Price
	var saleID *string
	sale := r.sale
	if sale != nil && sale.Product == req.Product {
		if sale.State != protocol.SaleLive {
			return Receipt{}, errSaleNotLive()
		}
		if r.saleUsers[req.User]+req.Qty > sale.PerUserLimit {
			return Receipt{}, errLimit(sale.PerUserLimit)
		}
		if sale.Sold+req.Qty > sale.Quantity || p.Remaining < req.Qty {
			return Receipt{}, errSaleSoldOut()
		}
		price, saleID = sale.Price, &sale.ID
	} else {
		sale = nil
		if p.Remaining < req.Qty {
			return Receipt{}, errSoldOut()
		}
	}
	p.Remaining -= req.Qty
	r.versions[p.ID]++
	p.V = r.versions[p.ID]
	o := Order{Order: uuid.NewString(), User: req.User, Product: p.ID, Qty: req.Qty, Price: price, At: protocol.Millis(now)}
	if saleID != nil {
		id := *saleID
		o.Sale = &id
	}
	r.log.add(o, protocol.Millis(now.Add(-s.retention)))
	ts := protocol.Millis(now)
	s.publish(ctx, r.id, protocol.VolatileEnvelope(protocol.StockKey(p.ID), protocol.Marshal(protocol.Stock{
		Type: protocol.TypeStock, Room: r.id, TS: ts, Product: p.ID, Remaining: p.Remaining, V: p.V,
	})))
	if now.Sub(r.lastTick) >= TickerInterval {
		r.lastTick = now
		s.publish(ctx, r.id, protocol.VolatileEnvelope(protocol.PurchaseKey, protocol.Marshal(protocol.Purchase{
			Type: protocol.TypePurchase, Room: r.id, TS: ts, Product: p.ID, Qty: req.Qty, Buyer: MaskBuyer(req.User),
		})))
	}
	if sale != nil {
		sale.Sold += req.Qty
		r.saleUsers[req.User] += req.Qty
		if sale.Sold >= sale.Quantity || p.Remaining == 0 {
			s.endSaleLocked(ctx, r, now)
		}
	}
	return Receipt{Order: o.Order, Product: p.ID, Qty: req.Qty, Price: price, Remaining: p.Remaining}, nil
}

func (r *memRoom) expireIdemLocked(now time.Time) {
	n := 0
	for n < len(r.idemOrder) && now.After(r.idemOrder[n].expires) {
		delete(r.idem, r.idemOrder[n].key)
		n++
	}
	if n > 0 {
		r.idemOrder = append(r.idemOrder[:0], r.idemOrder[n:]...)
	}
}
