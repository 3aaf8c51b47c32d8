package protocol

import (
	"encoding/json"
	"strings"
)

// Message types of live auctions (docs/PROTOCOL.md, "Live auctions").
// TypeBid is both the client's bid and the server's volatile bid message.
const (
	TypeAuctionStart = "auction_start"
	TypeAuctionStop  = "auction_stop"
	TypeBid          = "bid"
	TypeAuction      = "auction"
)

// Error codes of live auctions.
const (
	CodeAuctionNotLive = "auction_not_live"
	CodeBidTooLow      = "bid_too_low"
)

// Auction states are the sale states (SaleScheduled, SaleLive,
// SaleEnded); these are the outcomes of an ended auction.
const (
	OutcomeSold   = "sold"
	OutcomeUnsold = "unsold"
)

// Limits of auction_start, in ms.
const (
	MinAuctionDuration = 5_000
	MaxAuctionDuration = 600_000
	MaxAuctionExtend   = 60_000
	DefaultExtend      = 10_000
)

// (Author, the leader and winner, is the chat's: protocol/chat.go.)

// Auction is one auction of one unit of a catalog product. Current and
// Leader are nil until the first bid; Result is nil until the end.
type Auction struct {
	ID          string         `json:"id"`
	Product     string         `json:"product"`
	State       string         `json:"state"`
	StartPrice  int64          `json:"start_price"`
	Increment   int64          `json:"increment"`
	ReserveMet  bool           `json:"reserve_met"`
	Current     *int64         `json:"current"`
	Leader      *Author        `json:"leader"`
	Bids        int64          `json:"bids"`
	StartsAt    int64          `json:"starts_at"`
	EndsAt      int64          `json:"ends_at"`
	ExtendMS    int64          `json:"extend_ms"`
	SuddenDeath bool           `json:"sudden_death"`
	Result      *AuctionResult `json:"result"`
}

// AuctionResult is how an auction ended: sold (Amount, Winner, Order set)
// or unsold.
type AuctionResult struct {
	Outcome string  `json:"outcome"`
	Amount  int64   `json:"amount,omitempty"`
	Winner  *Author `json:"winner,omitempty"`
	Order   string  `json:"order,omitempty"`
}

// AuctionEvent is the auction room event (scheduled, live, ended).
type AuctionEvent struct {
	Type    string   `json:"type"`
	Room    string   `json:"room"`
	Seq     uint64   `json:"seq"`
	TS      int64    `json:"ts"`
	Auction *Auction `json:"auction"`
}

// Bid is the volatile bid message: the leading bid changed. V grows with
// every accepted bid of the auction.
type Bid struct {
	Type    string  `json:"type"`
	Room    string  `json:"room"`
	TS      int64   `json:"ts"`
	Auction string  `json:"auction"`
	Current int64   `json:"current"`
	Leader  *Author `json:"leader"`
	Bids    int64   `json:"bids"`
	EndsAt  int64   `json:"ends_at"`
	V       int64   `json:"v"`
}

// BidKey is the conflation key of an auction's bid messages.
func BidKey(auction string) string { return "bid:" + auction }

// IsBidKey reports whether key is a BidKey.
func IsBidKey(key string) bool { return strings.HasPrefix(key, "bid:") }

// BidTooLow is the bid_too_low refusal, with the least amount accepted.
func BidTooLow(minBid int64) *Error {
	return &Error{Code: CodeBidTooLow, Message: "bid at least min_bid", MinBid: minBid}
}

// AuctionFields are the validated fields of an auction_start (WebSocket
// or HTTP). ReservePrice 0 is no reserve; ExtendMS is defaulted.
type AuctionFields struct {
	StartPrice, Increment, DurationMS, ExtendMS, ReservePrice, StartsInMS int64
	SuddenDeath                                                           bool
}

// DecodeAuctionFields validates the fields of an auction_start.
func DecodeAuctionFields(startPrice, increment, duration, extend, suddenDeath, reserve, startsIn json.RawMessage) (AuctionFields, error) {
	var f AuctionFields
	var err error
	if f.StartPrice, err = requireInt(startPrice, "start_price", 1, MaxAmount); err != nil {
		return f, err
	}
	if f.Increment, err = requireInt(increment, "increment", 1, MaxAmount); err != nil {
		return f, err
	}
	if f.DurationMS, err = requireInt(duration, "duration_ms", MinAuctionDuration, MaxAuctionDuration); err != nil {
		return f, err
	}
	f.ExtendMS = DefaultExtend
	if present(extend) {
		if f.ExtendMS, err = decodeInt(extend, "extend_ms", 0, MaxAuctionExtend); err != nil {
			return f, err
		}
	}
	if present(suddenDeath) {
		if err := json.Unmarshal(suddenDeath, &f.SuddenDeath); err != nil {
			return f, Errorf(CodeBadRequest, "sudden_death must be true or false")
		}
	}
	if present(reserve) {
		if f.ReservePrice, err = decodeInt(reserve, "reserve_price", 1, MaxAmount); err != nil {
			return f, err
		}
	}
	if present(startsIn) {
		if f.StartsInMS, err = decodeInt(startsIn, "starts_in_ms", 0, MaxStartsIn); err != nil {
			return f, err
		}
	}
	return f, nil
}

// DecodeBidFields validates a bid's amount and optional max (0: none).
func DecodeBidFields(amount, max json.RawMessage) (amt, mx int64, err error) {
	if amt, err = requireInt(amount, "amount", 1, MaxAmount); err != nil {
		return 0, 0, err
	}
	if present(max) {
		if mx, err = decodeInt(max, "max", 1, MaxAmount); err != nil {
			return 0, 0, err
		}
		if mx < amt {
			return 0, 0, Errorf(CodeBadRequest, "max must be at least amount")
		}
	}
	return amt, mx, nil
}

// ValidUUID reports whether s looks like a UUID in its canonical text
// form (36 characters of hex digits and dashes), as auction ids are.
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && !isNull(raw) }

// Int64Ptr is a pointer to n, for Auction.Current.
func Int64Ptr(n int64) *int64 { return &n }

// AuctionMsg holds the fields of auction_start (Product is the message's),
// auction_stop and bid, validated.
type AuctionMsg struct {
	AuctionFields
	Auction string // bid: the auction's id (any string; an unknown one is not_found)
	Amount  int64  // bid
	Max     int64  // bid: 0 without a proxy
}

// rawAuction are the raw fields of the auction messages.
type rawAuction struct {
	StartPrice   json.RawMessage `json:"start_price"`
	Increment    json.RawMessage `json:"increment"`
	ExtendMS     json.RawMessage `json:"extend_ms"`
	SuddenDeath  json.RawMessage `json:"sudden_death"`
	ReservePrice json.RawMessage `json:"reserve_price"`
	Auction      *string         `json:"auction"`
	Amount       json.RawMessage `json:"amount"`
	Max          json.RawMessage `json:"max"`
}

// validateAuction checks the auction fields of an auction_start or bid
// (duration_ms and starts_in_ms are the sale's raw fields).
func (ra *rawAuction) validateAuction(m *ClientMessage, duration, startsIn json.RawMessage) error {
	var err error
	switch m.Type {
	case TypeAuctionStart:
		m.AuctionFields, err = DecodeAuctionFields(ra.StartPrice, ra.Increment, duration, ra.ExtendMS, ra.SuddenDeath, ra.ReservePrice, startsIn)
	case TypeBid:
		if ra.Auction == nil || *ra.Auction == "" {
			return Errorf(CodeBadRequest, "missing auction")
		}
		if len(*ra.Auction) > MaxIDLen {
			return Errorf(CodeNotFound, "no such auction")
		}
		m.AuctionMsg.Auction = *ra.Auction
		m.Amount, m.Max, err = DecodeBidFields(ra.Amount, ra.Max)
	}
	return err
}

// BidState is the bid message that restates a's leading bid (nil before
// the first bid), for a client that resumed with a replay of events, which
// carries no volatile state. Every accepted bid adds one to both bids and
// v, so v is bids.
func BidState(room string, ts int64, a *Auction) *Bid {
	if a == nil || a.Current == nil {
		return nil
	}
	return &Bid{Type: TypeBid, Room: room, TS: ts, Auction: a.ID, Current: *a.Current, Leader: a.Leader, Bids: a.Bids, EndsAt: a.EndsAt, V: a.Bids}
}

// DecodeBidBody validates the body of POST
// /api/rooms/{room}/auctions/{auction}/bids exactly as a bid message: its
// fields id, amount and max, for the room and auction the path names (any
// type, room or auction in the body is ignored).
func DecodeBidBody(room, auction string, body []byte) (ClientMessage, error) {
	var r rawClientMessage
	if err := json.Unmarshal(body, &r); err != nil {
		return ClientMessage{}, Errorf(CodeBadRequest, "body is not the expected JSON object: %v", err)
	}
	typ := TypeBid
	r.Type, r.Room, r.Auction = &typ, &room, &auction
	id, err := decodeID(r.ID)
	if err != nil {
		return ClientMessage{}, err
	}
	return r.validate(id)
}
