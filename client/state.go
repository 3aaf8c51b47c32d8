package client

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/liveserver/liveserver/protocol"
)

// Stock is a product's live stock and its version; the highest V wins.
type Stock struct {
	Remaining int64
	V         int64
}

// RoomState is a room's state as a Subscriber knows it: the last snapshot
// with every room event after it applied, and stock by highest v.
type RoomState struct {
	Room     string
	Seq      uint64 // the last room event applied
	Title    string
	Products []protocol.Product // catalog order; Remaining and V are the latest known
	Pinned   *protocol.Product
	Sale     *protocol.Sale // the scheduled or live sale, or the ended one until the next snapshot
	Viewers  int64
	Stock    map[string]Stock
}

// clone is a deep copy, safe to hand to another goroutine.
func (s *RoomState) clone() RoomState {
	c := *s
	c.Products = slices.Clone(s.Products)
	if s.Pinned != nil {
		p := *s.Pinned
		c.Pinned = &p
	}
	if s.Sale != nil {
		sl := *s.Sale
		c.Sale = &sl
	}
	c.Stock = maps.Clone(s.Stock)
	return c
}

// header is what the subscriber reads of every server message first.
type header struct {
	Type string  `json:"type"`
	Room string  `json:"room"`
	Seq  *uint64 `json:"seq"`
	ID   string  `json:"id"`
}

// applySnapshot replaces the state with a snapshot, keeping stock values
// newer than the snapshot's (a stock message may overtake it).
func (s *RoomState) applySnapshot(snap *protocol.Snapshot) {
	stock := s.Stock
	if stock == nil {
		stock = map[string]Stock{}
	}
	*s = RoomState{Room: snap.Room, Seq: snap.Seq, Title: snap.Title, Viewers: snap.Viewers, Sale: snap.Sale, Stock: stock}
	s.Products = make([]protocol.Product, len(snap.Products))
	for i, p := range snap.Products {
		s.Products[i] = s.mergeStock(p)
	}
	if snap.Pinned != nil {
		p := s.mergeStock(*snap.Pinned)
		s.Pinned = &p
	}
}

// applyEvent applies the room event that follows s.Seq. Event types this
// package does not know (those of protocol 1.1: chat, comment_deleted,
// auction) only advance Seq; the caller sees them in its Update.
func (s *RoomState) applyEvent(typ string, seq uint64, raw []byte) error {
	var ev protocol.Event
	switch typ {
	case protocol.TypePinned, protocol.TypeUnpinned, protocol.TypeSale, protocol.TypeCatalog:
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
	}
	s.Seq = seq
	switch typ {
	case protocol.TypePinned:
		if ev.Product != nil {
			p := s.mergeStock(*ev.Product)
			s.Pinned = &p
		}
	case protocol.TypeUnpinned:
		s.Pinned = nil
	case protocol.TypeSale:
		s.Sale = ev.Sale
	case protocol.TypeCatalog:
		s.Products = make([]protocol.Product, len(ev.Products))
		for i, p := range ev.Products {
			s.Products[i] = s.mergeStock(p)
		}
		if s.Pinned != nil {
			if i := slices.IndexFunc(s.Products, func(p protocol.Product) bool { return p.ID == s.Pinned.ID }); i >= 0 {
				p := s.Products[i]
				s.Pinned = &p
			}
		}
	}
	return nil
}

// applyStock keeps the value with the highest v; it reports whether it
// applied this one.
func (s *RoomState) applyStock(product string, remaining, v int64) bool {
	if s.Stock == nil {
		s.Stock = map[string]Stock{}
	}
	if known, ok := s.Stock[product]; ok && v <= known.V {
		return false
	}
	s.Stock[product] = Stock{Remaining: remaining, V: v}
	for i := range s.Products {
		if s.Products[i].ID == product {
			s.Products[i].Remaining, s.Products[i].V = remaining, v
		}
	}
	if s.Pinned != nil && s.Pinned.ID == product {
		s.Pinned.Remaining, s.Pinned.V = remaining, v
	}
	return true
}

// mergeStock takes a product's stock if it is newer than the known one,
// else gives it the known one.
func (s *RoomState) mergeStock(p protocol.Product) protocol.Product {
	if known, ok := s.Stock[p.ID]; ok && known.V >= p.V {
		p.Remaining, p.V = known.Remaining, known.V
		return p
	}
	s.Stock[p.ID] = Stock{Remaining: p.Remaining, V: p.V}
	return p
}
