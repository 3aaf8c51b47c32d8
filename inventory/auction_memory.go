package inventory

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/liveserver/liveserver/protocol"
)

// auctionState is a memory room's auctions, guarded by the room's lock.
type auctionState struct {
	cur       *memAuction             // scheduled or live, else nil
	ended     map[string]endedAuction // by id, until expires
	endedList []idemKey               // ids of ended, oldest first, for expiry
	bids      map[string]bidAnswer    // remembered bid answers by user and id
	bidList   []idemKey               // keys of bids, oldest first, for expiry
}

type memAuction struct {
	a          protocol.Auction
	reserve    int64
	leaderUser string
	leaderMax  int64
	v          int64
	stops      []func() bool // timers
}

type endedAuction struct {
	rec     AuctionRecord
	expires time.Time
}

type bidAnswer struct {
	rec BidReceipt
	err *protocol.Error
}

var _ Auctioneer = (*MemoryStore)(nil)

// StartAuction implements Auctioneer.
func (s *MemoryStore) StartAuction(ctx context.Context, id string, spec AuctionSpec) (protocol.Auction, error) {
	if err := spec.Validate(); err != nil {
		return protocol.Auction{}, err
	}
	r, err := s.lockRoom(id)
	if err != nil {
		return protocol.Auction{}, err
	}
	defer r.mu.Unlock()
	now := s.clock.Now()
	s.advanceSaleLocked(ctx, r, now)
	s.advanceAuctionLocked(ctx, r, now)
	if cur := r.auc.cur; cur != nil {
		return protocol.Auction{}, errAuctionExists(cur.a.State)
	}
	i, ok := r.index[spec.Product]
	if !ok {
		return protocol.Auction{}, protocol.Errorf(protocol.CodeNotFound, "product %q is not in the catalog", spec.Product)
	}
	if r.sale != nil && r.sale.Product == spec.Product {
		return protocol.Auction{}, errAuctionOnSale()
	}
	p := &r.products[i]
	if p.Remaining < 1 {
		return protocol.Auction{}, errNoAuctionStock()
	}
	ms := protocol.Millis(now)
	a := protocol.Auction{
		ID: uuid.NewString(), Product: spec.Product, State: protocol.SaleLive,
		StartPrice: spec.StartPrice, Increment: spec.Increment, ReserveMet: reserveMet(spec.ReservePrice, nil),
		StartsAt: ms + spec.StartsInMS, ExtendMS: spec.ExtendMS, SuddenDeath: spec.SuddenDeath,
	}
	a.EndsAt = a.StartsAt + spec.DurationMS
	if spec.StartsInMS > 0 {
		a.State = protocol.SaleScheduled
	}
	s.changeStockLocked(ctx, r, p, -1, now)
	r.auc.cur = &memAuction{a: a, reserve: spec.ReservePrice}
	s.emitAuctionLocked(ctx, r, now)
	s.armAuctionLocked(r, now)
	return a, nil
}

// armAuctionLocked sets the current auction's timer for its next instant.
// Bids also check the clock, so a late timer never lets a bid in after
// ends_at; an extension leaves the timer early, and the tick re-arms it.
func (s *MemoryStore) armAuctionLocked(r *memRoom, now time.Time) {
	cur := r.auc.cur
	for _, stop := range cur.stops {
		stop()
	}
	due := cur.a.EndsAt
	if cur.a.State == protocol.SaleScheduled {
		due = cur.a.StartsAt
	}
	room, auctionID := r.id, cur.a.ID
	cur.stops = []func() bool{s.clock.AfterFunc(time.UnixMilli(due).Sub(now), func() { s.auctionTick(room, auctionID) })}
}

// auctionTick runs from an auction's timer: it advances the auction if it
// is still the room's, and re-arms the timer while it has not ended (an
// extension moved ends_at past this timer).
func (s *MemoryStore) auctionTick(room, auctionID string) {
	r, err := s.lockRoom(room)
	if err != nil {
		return
	}
	defer r.mu.Unlock()
	if r.auc.cur == nil || r.auc.cur.a.ID != auctionID {
		return
	}
	now := s.clock.Now()
	s.advanceAuctionLocked(context.Background(), r, now)
	if r.auc.cur != nil {
		s.armAuctionLocked(r, now)
	}
}

// advanceAuctionLocked moves the current auction to the state the clock
// says it is in; the end (order or unit back) happens here, once, since
// it clears the room's current auction in the same step.
func (s *MemoryStore) advanceAuctionLocked(ctx context.Context, r *memRoom, now time.Time) {
	cur := r.auc.cur
	if cur == nil {
		return
	}
	ms := protocol.Millis(now)
	if cur.a.State == protocol.SaleScheduled && ms >= cur.a.StartsAt && ms < cur.a.EndsAt {
		cur.a.State = protocol.SaleLive
		s.emitAuctionLocked(ctx, r, now)
	}
	if ms >= cur.a.EndsAt {
		s.endAuctionLocked(ctx, r, now, false)
	}
}

// endAuctionLocked ends the current auction: sold to the leader if the
// reserve is met (the order is appended here), else unsold and the unit
// goes back to stock. cancelled (a stop without bids, or a replace that
// removed the product) never sells. A product that left the catalog gets
// no unit back.
func (s *MemoryStore) endAuctionLocked(ctx context.Context, r *memRoom, now time.Time, cancelled bool) protocol.Auction {
	cur := r.auc.cur
	r.auc.cur = nil
	for _, stop := range cur.stops {
		stop()
	}
	a := cur.a
	a.State = protocol.SaleEnded
	rec := AuctionRecord{}
	if !cancelled && a.Leader != nil && reserveMet(cur.reserve, a.Current) {
		o := Order{Order: uuid.NewString(), User: cur.leaderUser, Product: a.Product, Qty: 1, Price: *a.Current, At: protocol.Millis(now)}
		aid := a.ID
		o.Auction = &aid
		r.log.add(o, protocol.Millis(now.Add(-s.retention)))
		a.Result = &protocol.AuctionResult{Outcome: protocol.OutcomeSold, Amount: *a.Current, Winner: a.Leader, Order: o.Order}
		rec.Winner, rec.Order = cur.leaderUser, &o
	} else {
		a.Result = &protocol.AuctionResult{Outcome: protocol.OutcomeUnsold}
		if i, ok := r.index[a.Product]; ok {
			s.changeStockLocked(ctx, r, &r.products[i], 1, now)
		}
	}
	rec.Auction = a
	r.auc.expireLocked(now)
	if r.auc.ended == nil {
		r.auc.ended = map[string]endedAuction{}
	}
	r.auc.ended[a.ID] = endedAuction{rec: rec, expires: now.Add(AuctionRetention)}
	r.auc.endedList = append(r.auc.endedList, idemKey{a.ID, now.Add(AuctionRetention)})
	s.appendLocked(ctx, r, func(seq uint64, ts int64) []byte {
		return protocol.Marshal(protocol.AuctionEvent{Type: protocol.TypeAuction, Room: r.id, Seq: seq, TS: ts, Auction: &a})
	}, now)
	return a
}

// emitAuctionLocked emits the current auction as an auction event.
func (s *MemoryStore) emitAuctionLocked(ctx context.Context, r *memRoom, now time.Time) {
	a := r.auc.cur.a
	s.appendLocked(ctx, r, func(seq uint64, ts int64) []byte {
		return protocol.Marshal(protocol.AuctionEvent{Type: protocol.TypeAuction, Room: r.id, Seq: seq, TS: ts, Auction: &a})
	}, now)
}

// changeStockLocked moves a product's stock by delta and publishes it.
func (s *MemoryStore) changeStockLocked(ctx context.Context, r *memRoom, p *protocol.Product, delta int64, now time.Time) {
	p.Remaining += delta
	r.versions[p.ID]++
	p.V = r.versions[p.ID]
	s.publish(ctx, r.id, protocol.VolatileEnvelope(protocol.StockKey(p.ID), protocol.Marshal(protocol.Stock{
		Type: protocol.TypeStock, Room: r.id, TS: protocol.Millis(now), Product: p.ID, Remaining: p.Remaining, V: p.V,
	})))
}

// StopAuction implements Auctioneer.
func (s *MemoryStore) StopAuction(ctx context.Context, id string) (protocol.Auction, error) {
	r, err := s.lockRoom(id)
	if err != nil {
		return protocol.Auction{}, err
	}
	defer r.mu.Unlock()
	now := s.clock.Now()
	s.advanceAuctionLocked(ctx, r, now)
	cur := r.auc.cur
	if cur == nil {
		return protocol.Auction{}, errNoAuction()
	}
	if cur.a.Bids > 0 {
		return protocol.Auction{}, errAuctionHasBids()
	}
	return s.endAuctionLocked(ctx, r, now, true), nil
}

// Bid implements Auctioneer: idempotency, the clock, the minimum, the
// proxies, the extension and the bid message in one step under the room's
// lock.
func (s *MemoryStore) Bid(ctx context.Context, req BidRequest) (BidReceipt, error) {
	if err := req.Validate(); err != nil {
		return BidReceipt{}, err
	}
	r, err := s.lockRoom(req.Room)
	if err != nil {
		return BidReceipt{}, err
	}
	defer r.mu.Unlock()
	if s.bans != nil && req.Author.ID != "" && s.bans.IsBanned(req.Room, req.Author.ID) {
		return BidReceipt{}, errBanned() // not remembered: an unban lifts it
	}
	now := s.clock.Now()
	r.auc.expireLocked(now)
	key := req.User + "\x00" + req.ID
	if e, ok := r.auc.bids[key]; ok {
		if e.err != nil {
			return BidReceipt{}, e.err
		}
		return e.rec, nil
	}
	rec, perr := s.bidLocked(ctx, r, req, now)
	if perr != nil && perr.Code == protocol.CodeNotFound {
		return BidReceipt{}, perr // not remembered: nothing happened
	}
	if r.auc.bids == nil {
		r.auc.bids = map[string]bidAnswer{}
	}
	r.auc.bids[key] = bidAnswer{rec: rec, err: perr}
	r.auc.bidList = append(r.auc.bidList, idemKey{key, now.Add(IdempotencyTTL)})
	if perr != nil {
		return BidReceipt{}, perr
	}
	return rec, nil
}

func (s *MemoryStore) bidLocked(ctx context.Context, r *memRoom, req BidRequest, now time.Time) (BidReceipt, *protocol.Error) {
	s.advanceAuctionLocked(ctx, r, now)
	cur := r.auc.cur
	if cur == nil || cur.a.ID != req.Auction {
		if e, ok := r.auc.ended[req.Auction]; ok {
			return BidReceipt{}, protocol.AsError(errAuctionNotLive(e.rec.Auction.State))
		}
		return BidReceipt{}, protocol.AsError(errUnknownAuction(req.Auction))
	}
	a := &cur.a
	if a.State != protocol.SaleLive {
		return BidReceipt{}, protocol.AsError(errAuctionNotLive(a.State))
	}
	if m := minBid(a); req.Amount < m {
		return BidReceipt{}, protocol.BidTooLow(m)
	}
	var c int64
	if a.Current != nil {
		c = *a.Current
	}
	newCur, newMax, leads := bidOutcome(a.Leader != nil, a.Leader != nil && cur.leaderUser == req.User, c, cur.leaderMax, a.Increment, req.Amount, req.Max)
	a.Current = protocol.Int64Ptr(newCur)
	cur.leaderMax = newMax
	if leads {
		author := req.Author
		a.Leader, cur.leaderUser = &author, req.User
	}
	a.Bids++
	a.ReserveMet = reserveMet(cur.reserve, a.Current)
	cur.v++
	ms := protocol.Millis(now)
	if !a.SuddenDeath && a.EndsAt-ms < a.ExtendMS {
		a.EndsAt = ms + a.ExtendMS
	}
	s.publish(ctx, r.id, protocol.VolatileEnvelope(protocol.BidKey(a.ID), protocol.Marshal(protocol.Bid{
		Type: protocol.TypeBid, Room: r.id, TS: ms, Auction: a.ID, Current: newCur, Leader: a.Leader, Bids: a.Bids, EndsAt: a.EndsAt, V: cur.v,
	})))
	own := newCur
	if !leads {
		own = maxInt(req.Amount, req.Max)
	}
	return BidReceipt{Amount: own, Leading: leads, Current: newCur, EndsAt: a.EndsAt}, nil
}

// Auction implements Auctioneer.
func (s *MemoryStore) Auction(_ context.Context, room, id string) (AuctionRecord, error) {
	r, err := s.lockRoom(room)
	if err != nil {
		return AuctionRecord{}, err
	}
	defer r.mu.Unlock()
	now := s.clock.Now()
	r.auc.expireLocked(now)
	if cur := r.auc.cur; cur != nil && cur.a.ID == id {
		return AuctionRecord{Auction: cur.a}, nil
	}
	if e, ok := r.auc.ended[id]; ok {
		return e.rec, nil
	}
	return AuctionRecord{}, errUnknownAuction(id)
}

// snapshotAuctionLocked is the room's scheduled or live auction, or nil.
func (r *memRoom) snapshotAuctionLocked() *protocol.Auction {
	if r.auc.cur == nil {
		return nil
	}
	a := r.auc.cur.a
	return &a
}

// saleBlockedLocked refuses a sale of a product being auctioned.
func (s *MemoryStore) saleBlockedLocked(ctx context.Context, r *memRoom, product string, now time.Time) error {
	s.advanceAuctionLocked(ctx, r, now)
	if cur := r.auc.cur; cur != nil && cur.a.Product == product {
		return errSaleOnAuction()
	}
	return nil
}

// auctionReplacedLocked ends, unsold, an auction whose product a catalog replace
// removed; the unit went with the product.
func (s *MemoryStore) auctionReplacedLocked(ctx context.Context, r *memRoom, now time.Time) {
	if cur := r.auc.cur; cur != nil {
		if _, ok := r.index[cur.a.Product]; !ok {
			s.endAuctionLocked(ctx, r, now, true)
		}
	}
}

// stopAuctionTimersLocked stops the current auction's timer (Close,
// DeleteRoom).
func (r *memRoom) stopAuctionTimersLocked() {
	if cur := r.auc.cur; cur != nil {
		for _, stop := range cur.stops {
			stop()
		}
		cur.stops = nil
	}
}

// expireLocked forgets remembered bid answers and ended auctions past
// their time.
func (st *auctionState) expireLocked(now time.Time) {
	n := 0
	for n < len(st.bidList) && now.After(st.bidList[n].expires) {
		delete(st.bids, st.bidList[n].key)
		n++
	}
	st.bidList = st.bidList[n:]
	n = 0
	for n < len(st.endedList) && now.After(st.endedList[n].expires) {
		delete(st.ended, st.endedList[n].key)
		n++
	}
	st.endedList = st.endedList[n:]
}

// lockRoom returns a room locked, or not_found for a room that does not
// exist or was deleted.
func (s *MemoryStore) lockRoom(id string) (*memRoom, error) {
	r, err := s.room(id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.gone {
		r.mu.Unlock()
		return nil, errNoRoom(id)
	}
	return r, nil
}
