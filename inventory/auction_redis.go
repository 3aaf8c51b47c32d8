package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/protocol"
)

// Auctions on Redis: each step is one script on the room's keys (K_AUCTION,
// K_AENDED, K_AENDEDZ in lua/auction_common.lua), timed by Redis TIME. The
// end is timed as sales are: the node that starts an auction arms a timer,
// and every node polls a shared index of pending auction instants
// (KeyPrefix + "auction-timers", "<room>:<auction id>" by instant), so the
// end happens even if that node died; the tick script ends the auction
// only if it is still the room's, so concurrent ticks end it once. An
// extension leaves the index early: the tick then finds the auction not
// due and moves the entry to the new ends_at.

var (
	scriptAuctionStart = roomScript("auction_start.lua")
	scriptAuctionStop  = roomScript("auction_stop.lua")
	scriptAuctionBid   = roomScript("auction_bid.lua")
	scriptAuctionTick  = roomScript("auction_tick.lua")
	scriptAuctionGet   = roomScript("auction_get.lua")
)

var _ Auctioneer = (*RedisStore)(nil)

// auctionIndex is the sorted set of pending auction instants; like the
// sale index it is outside every room's slot and written by Go only.
func (s *RedisStore) auctionIndex() string { return s.names.AuctionTimers() }

// auctionTimerKey keeps this node's auction timers apart from its sale
// timers in s.timers.
func auctionTimerKey(member string) string { return "auction|" + member }

// nowArg is the auction scripts' clock argument: "" (Redis TIME) unless a
// test fixed it.
func (s *RedisStore) nowArg() string {
	if s.auctionNow == nil {
		return ""
	}
	return strconv.FormatInt(s.auctionNow(), 10)
}

// auctionRefusal turns an auction script's refusal into the error
// MemoryStore returns in the same case.
func auctionRefusal(room, subject string, r scriptReply) error {
	switch r.reason {
	case "auction_exists":
		return errAuctionExists(str(r.vals, 0))
	case "auction_on_sale":
		return errAuctionOnSale()
	case "sale_on_auction":
		return errSaleOnAuction()
	case "auction_no_stock":
		return errNoAuctionStock()
	case "no_auction":
		return errNoAuction()
	case "auction_has_bids":
		return errAuctionHasBids()
	case "no_auction_id":
		return errUnknownAuction(subject)
	case "auction_ended":
		return errAuctionNotLive(protocol.SaleEnded)
	case "auction_scheduled":
		return errAuctionNotLive(protocol.SaleScheduled)
	case "bid_too_low":
		return protocol.BidTooLow(num(r.vals, 0))
	case "banned":
		return errBanned()
	}
	return refusal(room, subject, r)
}

// StartAuction implements Auctioneer.
func (s *RedisStore) StartAuction(ctx context.Context, room string, spec AuctionSpec) (protocol.Auction, error) {
	if err := spec.Validate(); err != nil {
		return protocol.Auction{}, err
	}
	id := uuid.NewString()
	member := indexMember(room, id)
	// The index entry goes first, due after the auction's planned end: if
	// this node dies right after starting it, another node still ends it
	// (late, and an extension only moves the entry further).
	latest := time.Now().Add(time.Duration(spec.StartsInMS+spec.DurationMS)*time.Millisecond + indexGrace)
	if err := s.scheduleAuction(ctx, member, latest.UnixMilli()); err != nil {
		return protocol.Auction{}, err
	}
	sudden := "0"
	if spec.SuddenDeath {
		sudden = "1"
	}
	r, err := s.run(ctx, "auction_start", scriptAuctionStart, room, s.requestKey(room),
		s.nowArg(), id, spec.Product, spec.StartPrice, spec.Increment, spec.DurationMS, spec.ExtendMS,
		spec.ReservePrice, spec.StartsInMS, sudden, uuid.NewString(), requestTTLms)
	if err != nil {
		return protocol.Auction{}, err // the entry stays; its tick finds no auction and removes it
	}
	if r.reason != "" {
		if err := s.scheduleAuction(ctx, member, 0); err != nil {
			s.log.Warn("removing an unused auction index entry failed", "room", room, "err", err)
		}
		return protocol.Auction{}, auctionRefusal(room, spec.Product, r)
	}
	var a protocol.Auction
	if err := json.Unmarshal([]byte(str(r.vals, 0)), &a); err != nil {
		return protocol.Auction{}, fmt.Errorf("inventory: auction_start: %w", err)
	}
	due := a.EndsAt
	if a.State == protocol.SaleScheduled {
		due = a.StartsAt
	}
	if err := s.scheduleAuction(ctx, member, due); err != nil {
		s.log.Warn("scheduling an auction instant failed; it ends late", "room", room, "err", err)
	}
	s.armAuction(room, a.ID, due-num(r.vals, 1))
	return a, nil
}

// StopAuction implements Auctioneer.
func (s *RedisStore) StopAuction(ctx context.Context, room string) (protocol.Auction, error) {
	r, err := s.run(ctx, "auction_stop", scriptAuctionStop, room, s.requestKey(room), s.nowArg(), uuid.NewString(), requestTTLms)
	if err != nil {
		return protocol.Auction{}, err
	}
	if r.reason != "" {
		return protocol.Auction{}, auctionRefusal(room, "", r)
	}
	var a protocol.Auction
	if err := json.Unmarshal([]byte(str(r.vals, 0)), &a); err != nil {
		return protocol.Auction{}, fmt.Errorf("inventory: auction_stop: %w", err)
	}
	member := indexMember(room, a.ID)
	s.disarm(auctionTimerKey(member))
	if err := s.scheduleAuction(ctx, member, 0); err != nil {
		s.log.Debug("removing a stopped auction from the index failed; a poll will", "room", room, "err", err)
	}
	return a, nil
}

// Bid implements Auctioneer: one script does the whole bid (see
// auction_bid.lua), sent in a pipeline with the other bids queued at the
// time (runBid).
func (s *RedisStore) Bid(ctx context.Context, req BidRequest) (BidReceipt, error) {
	if err := req.Validate(); err != nil {
		return BidReceipt{}, err
	}
	author, err := json.Marshal(req.Author)
	if err != nil {
		return BidReceipt{}, err
	}
	// The last key is the chat's set of banned handles of the room (package
	// chat), in the room's slot; the bidder's handle is its author id.
	keys := append(s.names.RoomKeys(req.Room, s.names.BidIdempotency(req.Room, req.User, req.ID)), s.names.ChatKey(req.Room, "bans"))
	argv := []any{req.Room, s.names.Events(req.Room),
		s.nowArg(), req.User, req.Auction, req.Amount, req.Max, author, uuid.NewString(), IdempotencyTTL.Milliseconds(), req.Author.ID}
	start := time.Now()
	// With WaitReplicas the bid is answered only once replicas have it
	// (the bid batcher's WAIT); a bidder told unavailable retries with the same id and gets
	// the remembered answer, after a WAIT that covers it.
	v, err := s.runBid(ctx, keys, argv)
	s.observe("bid", start)
	r, err := s.reply(ctx, "bid", v, err)
	if err != nil {
		return BidReceipt{}, err
	}
	if r.reason != "" {
		return BidReceipt{}, auctionRefusal(req.Room, req.Auction, r)
	}
	return BidReceipt{Amount: num(r.vals, 0), Leading: str(r.vals, 1) == "1", Current: num(r.vals, 2), EndsAt: num(r.vals, 3)}, nil
}

// runBid runs auction_bid.lua with keys and argv and returns its reply:
// the one place a bid reaches Redis. The bid batcher sends it in a
// pipeline with the bids of other connections (redis_batch.go); a bid
// still queued when ctx ends is never sent.
func (s *RedisStore) runBid(ctx context.Context, keys []string, argv []any) ([]any, error) {
	return s.bids.do(&buyCall{ctx: ctx, keys: keys, args: argv})
}

// auctionRecord is an ended auction's record as end_auction stores it.
type auctionRecord struct {
	Auction protocol.Auction `json:"auction"`
	Winner  string           `json:"winner"`
	At      int64            `json:"at"`
}

// Auction implements Auctioneer.
func (s *RedisStore) Auction(ctx context.Context, room, id string) (AuctionRecord, error) {
	if !protocol.ValidUUID(id) {
		return AuctionRecord{}, errUnknownAuction(id)
	}
	r, err := s.run(ctx, "auction_get", scriptAuctionGet, room, "", s.nowArg(), id)
	if err != nil {
		return AuctionRecord{}, err
	}
	if r.reason != "" {
		return AuctionRecord{}, auctionRefusal(room, id, r)
	}
	if str(r.vals, 0) == "cur" {
		var a protocol.Auction
		if err := json.Unmarshal([]byte(str(r.vals, 1)), &a); err != nil {
			return AuctionRecord{}, fmt.Errorf("inventory: auction_get: %w", err)
		}
		return AuctionRecord{Auction: a}, nil
	}
	var rec auctionRecord
	if err := json.Unmarshal([]byte(str(r.vals, 1)), &rec); err != nil {
		return AuctionRecord{}, fmt.Errorf("inventory: auction_get: %w", err)
	}
	out := AuctionRecord{Auction: rec.Auction, Winner: rec.Winner}
	if res := rec.Auction.Result; res != nil && res.Outcome == protocol.OutcomeSold {
		aid := rec.Auction.ID
		out.Order = &Order{Order: res.Order, User: rec.Winner, Product: rec.Auction.Product, Qty: 1, Price: res.Amount, Auction: &aid, At: rec.At}
	}
	return out, nil
}

// scheduleAuction sets an auction's next instant in the cluster's index,
// or removes it (due 0).
func (s *RedisStore) scheduleAuction(ctx context.Context, member string, due int64) error {
	start := time.Now()
	var err error
	if due > 0 {
		err = s.rdb.ZAdd(ctx, s.auctionIndex(), redis.Z{Score: float64(due), Member: member}).Err()
	} else {
		err = s.rdb.ZRem(ctx, s.auctionIndex(), member).Err()
	}
	s.observe("auction_index", start)
	if err != nil {
		return protocol.DependencyFailed(ctx, "auction_index", err)
	}
	return nil
}

// tickAuction advances an auction (if it is still the room's) and records
// its next instant in the index. It returns the next instant (0: none)
// and the time, both Redis's.
//
// With WaitReplicas the tick is followed by WAIT, and a tick that falls
// short fails and leaves the index entry as it was: the end counts as
// done only once replicas have it, and until then the poll ticks the
// entry again (the script ends an auction once; a later tick finds it
// ended and only rewrites its record, so that its WAIT covers the end).
// A failover that lost an unconfirmed end leaves the auction live on the
// promoted replica, past its end, and the entry there: it is ended anew.
func (s *RedisStore) tickAuction(ctx context.Context, room, id string) (due, now int64, err error) {
	waits := "0"
	if s.waitReplicas > 0 {
		waits = "1"
	}
	r, err := s.runRoom(ctx, "auction_tick", scriptAuctionTick, true, room, "", s.nowArg(), id, uuid.NewString(), waits)
	if err != nil {
		return 0, 0, err
	}
	due, now = num(r.vals, 0), num(r.vals, 1)
	return due, now, s.scheduleAuction(ctx, indexMember(room, id), due)
}

// armAuction sets this node's timer for an auction's next instant, in ms
// from now. With a test clock (auctionNow) no timer runs: the test ticks.
func (s *RedisStore) armAuction(room, id string, inMS int64) {
	if s.auctionNow != nil {
		return
	}
	key := auctionTimerKey(indexMember(room, id))
	d := max(time.Duration(inMS)*time.Millisecond, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if old := s.timers[key]; old != nil {
		old.Stop()
	}
	var t *time.Timer
	// s.mu is held until t is stored, so the function sees it.
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		if s.closed || s.timers[key] != t {
			s.mu.Unlock()
			return
		}
		delete(s.timers, key)
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		due, now, err := s.tickAuction(ctx, room, id)
		if err != nil {
			// The index still holds the instant: a poll will retry.
			s.log.Warn("auction timer: tick failed", "room", room, "err", err)
			return
		}
		if due > 0 {
			// At least 10ms, in case this clock runs ahead of Redis's.
			s.armAuction(room, id, max(due-now, 10))
		}
	})
	s.timers[key] = t
}

// pollAuctions ticks the auction instants that fell due in the cluster's
// index, whichever node started the auction.
func (s *RedisStore) pollAuctions() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	members, err := scriptDue.Run(ctx, s.rdb, []string{s.auctionIndex()}, dueBatch, dueLease.Milliseconds()).StringSlice()
	s.observe("auction_due", start)
	if err != nil {
		return protocol.DependencyFailed(ctx, "auction_due", err)
	}
	for _, m := range members {
		room, id, ok := strings.Cut(m, ":")
		if !ok {
			if err := s.scheduleAuction(ctx, m, 0); err != nil {
				return err
			}
			continue
		}
		if _, _, err := s.tickAuction(ctx, room, id); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}
