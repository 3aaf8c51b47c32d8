package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// Live auctions at the edge: auction_start and auction_stop are creator
// actions (pinning authorizes and counts them), bid is a viewer's; both
// transports decode with protocol's validators and answer the same.

// auctionStore is the node's store as an auctioneer (both stores are).
func (s *Server) auctionStore() (inventory.Auctioneer, error) {
	a, ok := s.store.(inventory.Auctioneer)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeInternal, "this store runs no auctions")
	}
	return a, nil
}

func auctionSpec(product string, f protocol.AuctionFields) inventory.AuctionSpec {
	return inventory.AuctionSpec{Product: product, StartPrice: f.StartPrice, Increment: f.Increment, DurationMS: f.DurationMS,
		ExtendMS: f.ExtendMS, ReservePrice: f.ReservePrice, StartsInMS: f.StartsInMS, SuddenDeath: f.SuddenDeath}
}

// bid places a bid for who, from either transport, and counts it. The
// room's creator (and an admin, who controls every room) cannot bid: a
// seller bidding up its own lot is shill bidding.
func (s *Server) bid(ctx context.Context, who auth.Identity, room, id, auction string, amount, max int64) (inventory.BidReceipt, error) {
	rec, err := s.bidOnce(ctx, who, room, id, auction, amount, max)
	outcome := "ok"
	if err != nil {
		outcome = protocol.ErrorCode(err) // classified only: the answer logs a failure
	}
	s.auctionMetrics.bids.WithLabelValues(outcome).Inc()
	return rec, err
}

func (s *Server) bidOnce(ctx context.Context, who auth.Identity, room, id, auction string, amount, max int64) (inventory.BidReceipt, error) {
	if !who.CanBuy() {
		return inventory.BidReceipt{}, protocol.Errorf(protocol.CodeUnauthorized, "authentication required")
	}
	if who.CanControl(room) {
		return inventory.BidReceipt{}, protocol.Errorf(protocol.CodeForbidden, "the room's creator cannot bid in its auctions")
	}
	st, err := s.auctionStore()
	if err != nil {
		return inventory.BidReceipt{}, err
	}
	// The bidder shows as its chat author (the room's handle, the token's
	// name); the store refuses a handle the room's chat banned, in the bid's
	// own atomic step.
	return st.Bid(ctx, inventory.BidRequest{Room: room, User: who.User, ID: id, Auction: auction, Amount: amount, Max: max,
		Author: s.author(who, room)})
}

type auctionMetrics struct {
	bids *prometheus.CounterVec
}

func newAuctionMetrics(reg prometheus.Registerer) *auctionMetrics {
	m := &auctionMetrics{
		bids: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveserver_bids_total", Help: "Auction bids by outcome (ok or an error code)."}, []string{"outcome"}),
	}
	reg.MustRegister(m.bids)
	for _, outcome := range []string{"ok", protocol.CodeBidTooLow, protocol.CodeAuctionNotLive} {
		m.bids.WithLabelValues(outcome)
	}
	return m
}

// auctionAction runs auction_start, auction_stop or bid from a WebSocket
// and returns the reply's fields.
func (ss *session) auctionAction(ctx context.Context, m protocol.ClientMessage) (map[string]any, error) {
	s := ss.s
	switch m.Type {
	case protocol.TypeAuctionStart:
		a, err := s.pins.StartAuction(ctx, ss.who, m.Room, auctionSpec(m.Product, m.AuctionFields))
		return map[string]any{"auction": a}, err
	case protocol.TypeAuctionStop:
		a, err := s.pins.StopAuction(ctx, ss.who, m.Room)
		return map[string]any{"auction": a}, err
	case protocol.TypeBid:
		rec, err := s.bid(ctx, ss.who, m.Room, m.ID, m.AuctionMsg.Auction, m.Amount, m.Max)
		return bidReply(rec), err
	}
	return nil, protocol.Errorf(protocol.CodeBadRequest, "unknown message type %q", m.Type)
}

func bidReply(rec inventory.BidReceipt) map[string]any {
	return map[string]any{"amount": rec.Amount, "leading": rec.Leading, "current": rec.Current, "ends_at": rec.EndsAt}
}

// auctionBody is the body of POST /api/rooms/{room}/auctions, as
// auction_start.
type auctionBody struct {
	Product      string          `json:"product"`
	StartPrice   json.RawMessage `json:"start_price"`
	Increment    json.RawMessage `json:"increment"`
	DurationMS   json.RawMessage `json:"duration_ms"`
	ExtendMS     json.RawMessage `json:"extend_ms"`
	SuddenDeath  json.RawMessage `json:"sudden_death"`
	ReservePrice json.RawMessage `json:"reserve_price"`
	StartsInMS   json.RawMessage `json:"starts_in_ms"`
}

func (s *Server) handleStartAuction(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		var b auctionBody
		if err := decodeBody(r, &b); err != nil {
			return 0, nil, err
		}
		if b.Product == "" {
			return 0, nil, protocol.Errorf(protocol.CodeBadRequest, "missing product")
		}
		f, err := protocol.DecodeAuctionFields(b.StartPrice, b.Increment, b.DurationMS, b.ExtendMS, b.SuddenDeath, b.ReservePrice, b.StartsInMS)
		if err != nil {
			return 0, nil, err
		}
		a, err := s.pins.StartAuction(ctx, who, room, auctionSpec(b.Product, f))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]any{"auction": a}, nil
	})
}

func (s *Server) handleStopAuction(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		a, err := s.pins.StopAuction(ctx, who, room)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"auction": a}, nil
	})
}

func (s *Server) handleBid(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		body, err := readBody(r)
		if err != nil {
			return 0, nil, err
		}
		m, err := protocol.DecodeBidBody(room, r.PathValue("auction"), body)
		if err != nil {
			return 0, nil, err
		}
		rec, err := s.bid(ctx, who, room, m.ID, m.AuctionMsg.Auction, m.Amount, m.Max)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, bidReply(rec), nil
	})
}

// handleGetAuction answers anyone with the auction, ended ones included
// (for inventory.AuctionRetention); the winner's own token also gets its
// order.
func (s *Server) handleGetAuction(w http.ResponseWriter, r *http.Request) {
	room, err := roomParam(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var who auth.Identity
	if r.Header.Get("Authorization") != "" {
		if who, err = s.identity(r); err != nil {
			s.writeError(w, err)
			return
		}
	}
	ctx, cancel := s.requestCtx(r)
	defer cancel()
	st, err := s.auctionStore()
	if err != nil {
		s.writeError(w, err)
		return
	}
	rec, err := st.Auction(ctx, room, r.PathValue("auction"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	body := map[string]any{"auction": rec.Auction}
	if rec.Order != nil && who.User != "" && !who.Anonymous && who.User == rec.Winner {
		body["order"] = rec.Order
	}
	writeJSON(w, http.StatusOK, body)
}
