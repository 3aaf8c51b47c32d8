package inventory

import (
	"context"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// Live auctions ("Live auctions" in docs/PROTOCOL.md) live with the stock
// and the order log because they change them in the same step: starting
// an auction holds one unit, and its end either appends the winner's order
// or gives the unit back, exactly once.
//
// The rules, the same in both stores:
//   - One auction scheduled or live per room; none on a product with a
//     scheduled or live flash sale, nor a sale on a product being auctioned.
//   - The store's clock decides (Redis TIME in a cluster): a bid is taken
//     only while the auction is live and before ends_at, even if the end
//     has not been made yet (the bid makes it, then is refused).
//   - Minimum: start_price for the first bid, current + increment after.
//   - Proxies: only the leader's max matters (the others were beaten). A
//     bid of amount a with max m (m = a without max) against the leader's
//     max M: if m > M the bidder leads at max(a, min(M + increment, m));
//     if m == M the leader stays (earlier wins) at M; if m < M the leader
//     stays at min(M, m + increment). The leader bidding again raises the
//     current to a and its max to max(M, m). So every accepted bid raises
//     current, and the bid message always has news.
//   - Anti-sniping: a bid accepted with less than extend_ms left sets
//     ends_at to its time + extend_ms, unless sudden_death.
//   - A proxy does not raise the price to a hidden reserve: the rules say
//     one increment over a competitor, nothing more.

// AuctionSpec is an auction_start request. ReservePrice 0 is none.
type AuctionSpec struct {
	Product                                                               string
	StartPrice, Increment, DurationMS, ExtendMS, ReservePrice, StartsInMS int64
	SuddenDeath                                                           bool
}

// BidRequest is one bid: User's request ID is its idempotency key. Author
// is the bidder as broadcasts show it (the leader); its ID, the chat handle,
// lets the store refuse a bidder the room's chat banned in the same step.
// Max 0 is no proxy.
type BidRequest struct {
	Room, User, ID, Auction string
	Author                  protocol.Author
	Amount, Max             int64
}

// BidReceipt is the answer to an accepted bid. Amount is the bidder's own
// bid after the proxies ran: the current amount when it leads, else the
// highest amount bid for it (its max, or its amount without one).
type BidReceipt struct {
	Amount  int64 `json:"amount"`
	Leading bool  `json:"leading"`
	Current int64 `json:"current"`
	EndsAt  int64 `json:"ends_at"`
}

// AuctionRecord is an auction as GET .../auctions/{id} reads it, with the
// winner's user id (never shown to others) and order, for the winner.
type AuctionRecord struct {
	Auction protocol.Auction
	Winner  string // the winner's user id; "" unless sold
	Order   *Order // the winner's order; nil unless sold
}

// Auctioneer is a store that runs live auctions. Both stores implement it.
type Auctioneer interface {
	StartAuction(ctx context.Context, room string, spec AuctionSpec) (protocol.Auction, error)
	// StopAuction cancels the scheduled or live auction if it has no bid.
	StopAuction(ctx context.Context, room string) (protocol.Auction, error)
	Bid(ctx context.Context, req BidRequest) (BidReceipt, error)
	// Auction reads an auction by id: the current one, or one that ended
	// at most AuctionRetention ago.
	Auction(ctx context.Context, room, id string) (AuctionRecord, error)
}

// AuctionRetention is how long an ended auction can still be read.
const AuctionRetention = 24 * time.Hour

// Validate checks an auction spec; errors are bad_request.
func (sp AuctionSpec) Validate() error {
	switch {
	case !ValidProductID(sp.Product):
		return protocol.Errorf(protocol.CodeBadRequest, "invalid product id")
	case sp.StartPrice < 1 || sp.StartPrice > protocol.MaxAmount:
		return protocol.Errorf(protocol.CodeBadRequest, "start_price must be an integer from 1 to %d", int64(protocol.MaxAmount))
	case sp.Increment < 1 || sp.Increment > protocol.MaxAmount:
		return protocol.Errorf(protocol.CodeBadRequest, "increment must be an integer from 1 to %d", int64(protocol.MaxAmount))
	case sp.DurationMS < protocol.MinAuctionDuration || sp.DurationMS > protocol.MaxAuctionDuration:
		return protocol.Errorf(protocol.CodeBadRequest, "duration_ms must be from %d to %d", protocol.MinAuctionDuration, protocol.MaxAuctionDuration)
	case sp.ExtendMS < 0 || sp.ExtendMS > protocol.MaxAuctionExtend:
		return protocol.Errorf(protocol.CodeBadRequest, "extend_ms must be from 0 to %d", protocol.MaxAuctionExtend)
	case sp.ReservePrice < 0 || sp.ReservePrice > protocol.MaxAmount:
		return protocol.Errorf(protocol.CodeBadRequest, "reserve_price must be an integer from 1 to %d", int64(protocol.MaxAmount))
	case sp.StartsInMS < 0 || sp.StartsInMS > protocol.MaxStartsIn:
		return protocol.Errorf(protocol.CodeBadRequest, "starts_in_ms must be from 0 to %d", protocol.MaxStartsIn)
	}
	return nil
}

// Validate checks a bid's fields; errors are bad_request.
func (b BidRequest) Validate() error {
	switch {
	case b.User == "":
		return protocol.Errorf(protocol.CodeUnauthorized, "authentication required")
	case b.ID == "" || len(b.ID) > protocol.MaxIDLen:
		return protocol.Errorf(protocol.CodeBadRequest, "id must be a string of 1 to %d characters", protocol.MaxIDLen)
	case !protocol.ValidUUID(b.Auction):
		return protocol.Errorf(protocol.CodeNotFound, "no auction %q in this room", b.Auction)
	case b.Amount < 1 || b.Amount > protocol.MaxAmount:
		return protocol.Errorf(protocol.CodeBadRequest, "amount must be an integer from 1 to %d", int64(protocol.MaxAmount))
	case b.Max != 0 && (b.Max < b.Amount || b.Max > protocol.MaxAmount):
		return protocol.Errorf(protocol.CodeBadRequest, "max must be at least amount and at most %d", int64(protocol.MaxAmount))
	}
	return nil
}

// Refusals of auctions, the same from both stores.
func errAuctionExists(state string) error {
	return protocol.Errorf(protocol.CodeBadRequest, "room already has a %s auction; one at a time", state)
}

func errAuctionOnSale() error {
	return protocol.Errorf(protocol.CodeBadRequest, "this product has a scheduled or live flash sale; it cannot be auctioned until the sale ends")
}

func errSaleOnAuction() error {
	return protocol.Errorf(protocol.CodeBadRequest, "this product is being auctioned; no flash sale until the auction ends")
}

func errNoAuctionStock() error {
	return protocol.Errorf(protocol.CodeSoldOut, "an auction needs one unit in stock")
}

func errNoAuction() error {
	return protocol.Errorf(protocol.CodeNotFound, "no auction is scheduled or live")
}

func errAuctionHasBids() error {
	return protocol.Errorf(protocol.CodeBadRequest, "an auction cannot be cancelled once bids came in")
}

func errUnknownAuction(id string) error {
	return protocol.Errorf(protocol.CodeNotFound, "no auction %q in this room", id)
}

func errAuctionNotLive(state string) error {
	if state == protocol.SaleScheduled {
		return protocol.Errorf(protocol.CodeAuctionNotLive, "the auction has not started")
	}
	return protocol.Errorf(protocol.CodeAuctionNotLive, "the auction has ended")
}

// bidOutcome applies one accepted bid to the leading state: cur and
// leaderMax are the current amount and the leader's max (ignored without a
// leader), same says the bidder is the leader. It returns the new current
// amount and leader's max, and whether the bidder leads.
func bidOutcome(hasLeader, same bool, cur, leaderMax, inc, amount, max int64) (newCur, newMax int64, leads bool) {
	if max < amount {
		max = amount
	}
	switch {
	case !hasLeader:
		return amount, max, true
	case same:
		return amount, maxInt(leaderMax, max), true
	case max > leaderMax:
		return maxInt(amount, minInt(leaderMax+inc, max)), max, true
	case max == leaderMax:
		return leaderMax, leaderMax, false
	default:
		return minInt(leaderMax, max+inc), leaderMax, false
	}
}

func minInt(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// minBid is the least amount the next bid must reach.
func minBid(a *protocol.Auction) int64 {
	if a.Current == nil {
		return a.StartPrice
	}
	return *a.Current + a.Increment
}

// reserveMet reports whether amount (nil: no bid) meets the reserve (0:
// none, always met).
func reserveMet(reserve int64, amount *int64) bool {
	return reserve == 0 || amount != nil && *amount >= reserve
}
