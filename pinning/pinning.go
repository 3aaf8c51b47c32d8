// Package pinning owns what a creator does to a room during a broadcast:
// create or replace its catalog, pin and unpin products, and start and stop
// flash sales. It decides who may (the room's creator or an admin) and
// counts the actions; the inventory store applies them atomically and
// announces them to the room.
//
// A Service is safe for concurrent use.
package pinning

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// Store is what pinning needs of the room state.
type Store interface {
	PutRoom(ctx context.Context, room string, spec inventory.RoomSpec) (bool, error)
	Pin(ctx context.Context, room, product string) error
	Unpin(ctx context.Context, room string) error
	StartSale(ctx context.Context, room string, spec inventory.SaleSpec) (protocol.Sale, error)
	StopSale(ctx context.Context, room string) (protocol.Sale, error)
	DeleteRoom(ctx context.Context, room string) error
}

// Service authorizes and performs creator actions.
type Service struct {
	store   Store
	actions *prometheus.CounterVec
}

// New returns a Service over store; reg may be nil.
func New(store Store, reg prometheus.Registerer) *Service {
	s := &Service{
		store: store,
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveserver_creator_actions_total",
			Help: "Creator actions (put_room, pin, unpin, sale_start, sale_stop, delete_room, auction_start, auction_stop) by outcome (ok or an error code).",
		}, []string{"action", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(s.actions)
	}
	return s
}

// authorize returns forbidden unless who controls room.
func authorize(who auth.Identity, room string) error {
	if who.User == "" {
		return protocol.Errorf(protocol.CodeUnauthorized, "authentication required")
	}
	if !who.CanControl(room) {
		return protocol.Errorf(protocol.CodeForbidden, "only the room's creator or an admin may do this")
	}
	return nil
}

func (s *Service) do(action string, who auth.Identity, room string, f func() error) error {
	err := authorize(who, room)
	if err == nil {
		err = f()
	}
	outcome := "ok"
	if err != nil {
		outcome = protocol.ErrorCode(err)
	}
	s.actions.WithLabelValues(action, outcome).Inc()
	return err
}

// PutRoom creates or replaces a room's catalog.
func (s *Service) PutRoom(ctx context.Context, who auth.Identity, room string, spec inventory.RoomSpec) (created bool, err error) {
	err = s.do("put_room", who, room, func() error {
		created, err = s.store.PutRoom(ctx, room, spec)
		return err
	})
	return created, err
}

// Pin pins a catalog product.
func (s *Service) Pin(ctx context.Context, who auth.Identity, room, product string) error {
	return s.do("pin", who, room, func() error { return s.store.Pin(ctx, room, product) })
}

// Unpin clears the pin.
func (s *Service) Unpin(ctx context.Context, who auth.Identity, room string) error {
	return s.do("unpin", who, room, func() error { return s.store.Unpin(ctx, room) })
}

// StartSale schedules or starts a flash sale.
func (s *Service) StartSale(ctx context.Context, who auth.Identity, room string, spec inventory.SaleSpec) (sale protocol.Sale, err error) {
	err = s.do("sale_start", who, room, func() error {
		sale, err = s.store.StartSale(ctx, room, spec)
		return err
	})
	return sale, err
}

// StopSale ends the room's sale now.
func (s *Service) StopSale(ctx context.Context, who auth.Identity, room string) (sale protocol.Sale, err error) {
	err = s.do("sale_stop", who, room, func() error {
		sale, err = s.store.StopSale(ctx, room)
		return err
	})
	return sale, err
}

// DeleteRoom deletes a room; its viewers get room_closed and its orders
// stay until the order retention trims them.
func (s *Service) DeleteRoom(ctx context.Context, who auth.Identity, room string) error {
	return s.do("delete_room", who, room, func() error { return s.store.DeleteRoom(ctx, room) })
}
