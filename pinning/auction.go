package pinning

import (
	"context"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// AuctionStore is what the auction actions need of the room state; both
// inventory stores have it.
type AuctionStore interface {
	StartAuction(ctx context.Context, room string, spec inventory.AuctionSpec) (protocol.Auction, error)
	StopAuction(ctx context.Context, room string) (protocol.Auction, error)
}

func (s *Service) auctions() (AuctionStore, error) {
	a, ok := s.store.(AuctionStore)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeInternal, "this store runs no auctions")
	}
	return a, nil
}

// StartAuction schedules or starts an auction.
func (s *Service) StartAuction(ctx context.Context, who auth.Identity, room string, spec inventory.AuctionSpec) (a protocol.Auction, err error) {
	err = s.do("auction_start", who, room, func() error {
		st, err := s.auctions()
		if err == nil {
			a, err = st.StartAuction(ctx, room, spec)
		}
		return err
	})
	return a, err
}

// StopAuction cancels the room's auction (scheduled, or live without bids).
func (s *Service) StopAuction(ctx context.Context, who auth.Identity, room string) (a protocol.Auction, err error) {
	err = s.do("auction_stop", who, room, func() error {
		st, err := s.auctions()
		if err == nil {
			a, err = st.StopAuction(ctx, room)
		}
		return err
	})
	return a, err
}
