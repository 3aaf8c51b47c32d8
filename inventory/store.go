package inventory

import (
	"context"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveserver/liveserver/protocol"
)

// Store is the state of every room's shop. Errors a client should see are
// *protocol.Error; anything else means the store failed (unavailable).
type Store interface {
	// PutRoom creates or replaces a room; created reports which.
	PutRoom(ctx context.Context, room string, spec RoomSpec) (created bool, err error)
	// Snapshot is the room's state, with Viewers zero.
	Snapshot(ctx context.Context, room string) (protocol.Snapshot, error)
	// Since returns the events after seq; ok is false when they are not all
	// held any more, or seq is ahead of the room.
	Since(ctx context.Context, room string, seq uint64) (events []protocol.Envelope, ok bool, err error)
	Pin(ctx context.Context, room, product string) error
	Unpin(ctx context.Context, room string) error
	StartSale(ctx context.Context, room string, spec SaleSpec) (protocol.Sale, error)
	StopSale(ctx context.Context, room string) (protocol.Sale, error)
	Buy(ctx context.Context, req BuyRequest) (Receipt, error)
	// Orders pages through the order log, oldest first: up to limit orders
	// after the order id after ("" from the start); next is the id to pass
	// for the following page, "" at the end.
	Orders(ctx context.Context, room, after string, limit int) (orders []Order, next string, err error)
	// DeleteRoom deletes a room's state (catalog, stock, pin, sale,
	// history) and tells its viewers on every node (room_closed); its
	// orders stay readable through Orders until the order retention trims
	// them.
	DeleteRoom(ctx context.Context, room string) error
}

// AsyncBuyer is a Store that can also take a purchase without holding the
// caller's goroutine while it completes. done is called exactly once, from
// another goroutine or at once, and must not block.
type AsyncBuyer interface {
	BuyAsync(ctx context.Context, req BuyRequest, done func(Receipt, error))
}

// ProductSpec is a catalog product as a creator describes it.
type ProductSpec = protocol.ProductSpec

// RoomSpec is the body of PUT /api/rooms/{room}.
type RoomSpec struct {
	Title    string        `json:"title"`
	Products []ProductSpec `json:"products"`
}

// SaleSpec is a sale_start request.
type SaleSpec struct {
	Product                                               string
	Price, Quantity, PerUserLimit, DurationMS, StartsInMS int64
}

// Validate checks a sale spec; errors are bad_request.
func (sp SaleSpec) Validate() error {
	switch {
	case !ValidProductID(sp.Product):
		return protocol.Errorf(protocol.CodeBadRequest, "invalid product id")
	case sp.Price < 0 || sp.Price > protocol.MaxAmount:
		return protocol.Errorf(protocol.CodeBadRequest, "price must be an integer from 0 to %d", int64(protocol.MaxAmount))
	case sp.Quantity < 1 || sp.Quantity > protocol.MaxAmount:
		return protocol.Errorf(protocol.CodeBadRequest, "quantity must be at least 1")
	case sp.PerUserLimit < 1 || sp.PerUserLimit > protocol.MaxAmount:
		return protocol.Errorf(protocol.CodeBadRequest, "per_user_limit must be at least 1")
	case sp.DurationMS < 1 || sp.DurationMS > protocol.MaxDuration:
		return protocol.Errorf(protocol.CodeBadRequest, "duration_ms must be from 1 to %d", protocol.MaxDuration)
	case sp.StartsInMS < 0 || sp.StartsInMS > protocol.MaxStartsIn:
		return protocol.Errorf(protocol.CodeBadRequest, "starts_in_ms must be from 0 to %d", protocol.MaxStartsIn)
	}
	return nil
}

// BuyRequest is one purchase: User's request ID is its idempotency key.
type BuyRequest struct {
	Room, User, ID, Product string
	Qty                     int64
	// Handle is the buyer's chat handle in the room (package chat): a
	// banned handle is refused with banned, before anything is taken or
	// remembered. Empty: not checked.
	Handle string
}

// BanChecker tells whether a chat handle is banned from a room
// (chat.MemoryStore implements it). It is called under the shop room's
// lock, so it must not take that lock itself.
type BanChecker interface {
	IsBanned(room, handle string) bool
}

func errBanned() error {
	return protocol.Errorf(protocol.CodeBanned, "you are banned from this room")
}

// Receipt is the answer to a successful purchase.
type Receipt struct {
	Order     string `json:"order"`
	Product   string `json:"product"`
	Qty       int64  `json:"qty"`
	Price     int64  `json:"price"`
	Remaining int64  `json:"remaining"`
}

// Order is one entry of the order log.
type Order = protocol.Order

// Limits of a room's catalog.
const (
	MaxProducts    = 200
	MaxTitleLen    = 200
	MaxNameLen     = 200
	MaxImageLen    = 1024
	IdempotencyTTL = 10 * time.Minute
	// HistorySize is how many recent events a room keeps for resume.
	HistorySize = 1024
	// TickerInterval is the least time between two purchase ticker
	// messages of a room: the ticker is sampled.
	TickerInterval = 250 * time.Millisecond
)

// Validate checks a room spec; errors are bad_request.
func (s RoomSpec) Validate() error {
	if len(s.Title) > MaxTitleLen {
		return protocol.Errorf(protocol.CodeBadRequest, "title longer than %d bytes", MaxTitleLen)
	}
	if !safeText(s.Title) {
		return protocol.Errorf(protocol.CodeBadRequest, "title has control or bidirectional-override characters")
	}
	if len(s.Products) > MaxProducts {
		return protocol.Errorf(protocol.CodeBadRequest, "more than %d products", MaxProducts)
	}
	seen := make(map[string]bool, len(s.Products))
	for i, p := range s.Products {
		switch {
		case !ValidProductID(p.ID):
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].id must be 1 to 64 characters of [A-Za-z0-9_.-]", i)
		case seen[p.ID]:
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].id %q is repeated", i, p.ID)
		case p.Name == "" || len(p.Name) > MaxNameLen:
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].name must be 1 to %d bytes", i, MaxNameLen)
		case !safeText(p.Name):
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].name has control or bidirectional-override characters", i)
		case p.Price < 0 || p.Price > protocol.MaxAmount:
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].price must be an integer from 0 to %d (minor units)", i, int64(protocol.MaxAmount))
		case !validCurrency(p.Currency):
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].currency must be a 3-letter ISO 4217 code such as USD", i)
		case len(p.Image) > MaxImageLen:
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].image longer than %d bytes", i, MaxImageLen)
		case !validImage(p.Image):
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].image must be an https: URL or a path on this server starting with a single /", i)
		case p.Stock < 0 || p.Stock > protocol.MaxAmount:
			return protocol.Errorf(protocol.CodeBadRequest, "products[%d].stock must be an integer from 0 to %d", i, int64(protocol.MaxAmount))
		}
		seen[p.ID] = true
	}
	return nil
}

// safeText reports whether s, a title or name shown to every viewer, is
// free of control characters (C0, DEL, C1) and of the bidirectional
// embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069) that
// can make a name display as something else.
func safeText(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 {
			return false
		}
	}
	return true
}

// validImage reports whether s may be a product's image: empty, an https:
// URL with a host, or a path on this server ("/img/a.svg"). Anything else
// is refused: javascript: and data: (a page might run them), http: (mixed
// content), "//host/x" (another host, though it looks like a path); so are
// backslashes, spaces and control characters, which browsers strip or turn
// into "/" (so "/\host" is "//host" to them).
func validImage(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r <= ' ' || r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//")
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.Opaque == ""
}

// ValidProductID reports whether s is 1 to 64 characters of [A-Za-z0-9_.-].
func ValidProductID(s string) bool {
	if len(s) == 0 || len(s) > protocol.MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// MaskBuyer is the ticker label of a user: its first character and "***".
// It identifies nobody.
func MaskBuyer(user string) string {
	if user == "" {
		return "***"
	}
	r := []rune(user)
	return string(r[0]) + "***"
}

// NewSaleMetric returns the counter of sale transitions by state (every
// store counts the transitions it made), registered on reg if not nil.
func NewSaleMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liveserver_sale_transitions_total",
		Help: "Flash-sale transitions made by this node, by the state entered (scheduled, live, ended).",
	}, []string{"state"})
	if reg != nil {
		reg.MustRegister(c)
	}
	for _, st := range []string{"scheduled", "live", "ended"} {
		c.WithLabelValues(st) // a 0 series from the start, for rate() and alerts
	}
	return c
}
