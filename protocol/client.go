package protocol

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Client message types.
const (
	TypeAuth      = "auth"
	TypeJoin      = "join"
	TypeLeave     = "leave"
	TypeBuy       = "buy"
	TypePin       = "pin"
	TypeUnpin     = "unpin"
	TypeSaleStart = "sale_start"
	TypeSaleStop  = "sale_stop"
	TypePing      = "ping"
)

// ClientTypes lists every client message type the decoder accepts, in the
// order of the constants above, then the chat's (chat.go); docs/asyncapi.yaml
// describes each one (the docs package's test checks both). Add a new type
// here with its constant.
func ClientTypes() []string {
	return []string{
		TypeAuth,
		TypeJoin,
		TypeLeave,
		TypeBuy,
		TypePin,
		TypeUnpin,
		TypeSaleStart,
		TypeSaleStop,
		TypePing,
		// The chat's (chat.go).
		TypeComment,
		TypeReact,
		TypeDeleteComment,
		TypeMute,
		TypeUnmute,
		TypeBan,
		TypeUnban,
		TypeChatSettings,
		// The auction's (auction.go).
		TypeAuctionStart,
		TypeAuctionStop,
		TypeBid,
	}
}

// Limits of client input.
const (
	MaxIDLen     = 64
	MaxRoomLen   = 64
	MaxQty       = 1000             // units in one purchase
	MaxDuration  = 24 * 3600 * 1000 // ms, a sale's longest duration
	MaxStartsIn  = 24 * 3600 * 1000 // ms, how far ahead a sale may be scheduled
	MaxAmount    = 1 << 40          // prices and quantities
	MaxTokenSize = 4096
)

// ClientMessage is one decoded and validated client message. Optional
// numbers are pointers so that "absent" and "zero" differ.
type ClientMessage struct {
	Type  string
	ID    string // "" when absent
	Token string
	Room  string
	Since *uint64

	Product      string
	Qty          int64 // defaulted to 1 for buy
	Price        int64
	Quantity     int64
	PerUserLimit int64
	DurationMS   int64 // also a mute's
	StartsInMS   int64

	ChatFields // comment, react and the moderation messages (chat.go)
	AuctionMsg // auction_start, auction_stop and bid (auction.go)
}

type rawClientMessage struct {
	Type         *string         `json:"type"`
	ID           json.RawMessage `json:"id"`
	Token        *string         `json:"token"`
	Room         *string         `json:"room"`
	Since        json.RawMessage `json:"since"`
	Product      *string         `json:"product"`
	Qty          json.RawMessage `json:"qty"`
	Price        json.RawMessage `json:"price"`
	Quantity     json.RawMessage `json:"quantity"`
	PerUserLimit json.RawMessage `json:"per_user_limit"`
	DurationMS   json.RawMessage `json:"duration_ms"`
	StartsInMS   json.RawMessage `json:"starts_in_ms"`
	rawChat
	rawAuction
}

// DecodeClient parses and validates one client message. On error it returns
// a *Error with code bad_request, and the message's id when one could be read
// (so the caller can answer with a reply rather than an error message).
func DecodeClient(data []byte) (ClientMessage, string, error) {
	var r rawClientMessage
	if !fastRaw(data, &r) {
		r = rawClientMessage{}
		if err := json.Unmarshal(data, &r); err != nil {
			return ClientMessage{}, "", Errorf(CodeBadRequest, "message is not a valid JSON object")
		}
	}
	id, err := decodeID(r.ID)
	if err != nil {
		// An invalid id cannot be replied to: the answer is an error message.
		return ClientMessage{}, "", err
	}
	m, err := r.validate(id)
	return m, id, err
}

// DecodeBuyBody validates the body of POST /api/rooms/{room}/purchases,
// exactly as a buy message: its fields id, product and qty, for room
// (which the path names; any type or room in the body is ignored).
func DecodeBuyBody(room string, body []byte) (ClientMessage, error) {
	var r rawClientMessage
	if err := json.Unmarshal(body, &r); err != nil {
		return ClientMessage{}, Errorf(CodeBadRequest, "body is not the expected JSON object: %v", err)
	}
	typ := TypeBuy
	r.Type, r.Room = &typ, &room
	id, err := decodeID(r.ID)
	if err != nil {
		return ClientMessage{}, err
	}
	return r.validate(id)
}

// validate checks the fields of r's type and returns the message with id.
func (r *rawClientMessage) validate(id string) (ClientMessage, error) {
	m := ClientMessage{ID: id}
	if r.Type == nil || *r.Type == "" {
		return m, Errorf(CodeBadRequest, "missing type")
	}
	m.Type = *r.Type
	var err error
	switch m.Type {
	case TypeAuth:
		err = r.token(&m)
	case TypeJoin:
		err = firstErr(r.room(&m), r.since(&m))
	case TypeLeave:
		err = r.room(&m)
	case TypePing:
	case TypeBuy:
		err = firstErr(needID(m), r.room(&m), r.product(&m), r.qty(&m))
	case TypePin:
		err = firstErr(needID(m), r.room(&m), r.product(&m))
	case TypeUnpin, TypeSaleStop:
		err = firstErr(needID(m), r.room(&m))
	case TypeSaleStart:
		err = firstErr(needID(m), r.room(&m), r.product(&m), r.saleFields(&m))
	case TypeComment, TypeReact, TypeDeleteComment, TypeMute, TypeUnmute, TypeBan, TypeUnban, TypeChatSettings:
		err = firstErr(r.room(&m), r.validateChat(&m, r.DurationMS))
	case TypeAuctionStart:
		err = firstErr(needID(m), r.room(&m), r.product(&m), r.validateAuction(&m, r.DurationMS, r.StartsInMS))
	case TypeAuctionStop:
		err = firstErr(needID(m), r.room(&m))
	case TypeBid:
		err = firstErr(needID(m), r.room(&m), r.validateAuction(&m, r.DurationMS, r.StartsInMS))
	default:
		err = Errorf(CodeBadRequest, "unknown message type %q", m.Type)
	}
	if err != nil {
		return ClientMessage{}, err
	}
	return m, nil
}

// firstErr is the first non-nil error. The checks of validate are
// evaluated in order, each setting its field of the message; after a
// failed one, the message is discarded.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// needID: creator actions and purchases must carry an id to be answered.
func needID(m ClientMessage) error {
	if m.ID == "" {
		return Errorf(CodeBadRequest, "missing id")
	}
	return nil
}

func (r *rawClientMessage) token(m *ClientMessage) error {
	if r.Token == nil || *r.Token == "" {
		return Errorf(CodeBadRequest, "missing token")
	}
	m.Token = *r.Token
	return nil
}

func (r *rawClientMessage) room(m *ClientMessage) error {
	if r.Room == nil {
		return Errorf(CodeBadRequest, "missing room")
	}
	if !ValidRoomID(*r.Room) {
		return Errorf(CodeBadRequest, "invalid room id")
	}
	m.Room = *r.Room
	return nil
}

func (r *rawClientMessage) since(m *ClientMessage) error {
	if len(r.Since) == 0 || isNull(r.Since) {
		return nil
	}
	v, err := strconv.ParseUint(string(r.Since), 10, 64)
	if err != nil {
		return Errorf(CodeBadRequest, "since must be a non-negative integer")
	}
	m.Since = &v
	return nil
}

func (r *rawClientMessage) product(m *ClientMessage) error {
	if r.Product == nil || *r.Product == "" {
		return Errorf(CodeBadRequest, "missing product")
	}
	if len(*r.Product) > MaxIDLen {
		return Errorf(CodeBadRequest, "product id too long")
	}
	m.Product = *r.Product
	return nil
}

// qty is 1 when absent.
func (r *rawClientMessage) qty(m *ClientMessage) error {
	m.Qty = 1
	if len(r.Qty) == 0 || isNull(r.Qty) {
		return nil
	}
	var err error
	m.Qty, err = decodeInt(r.Qty, "qty", 1, MaxQty)
	return err
}

func (r *rawClientMessage) saleFields(m *ClientMessage) error {
	s, err := DecodeSaleFields(r.Price, r.Quantity, r.PerUserLimit, r.DurationMS, r.StartsInMS)
	if err != nil {
		return err
	}
	m.Price, m.Quantity, m.PerUserLimit, m.DurationMS, m.StartsInMS = s.Price, s.Quantity, s.PerUserLimit, s.DurationMS, s.StartsInMS
	return nil
}

// SaleFields are the validated numbers of a sale_start (WebSocket or HTTP).
type SaleFields struct {
	Price, Quantity, PerUserLimit, DurationMS, StartsInMS int64
}

// DecodeSaleFields validates the numeric fields of a sale_start.
func DecodeSaleFields(price, quantity, perUser, duration, startsIn json.RawMessage) (SaleFields, error) {
	var s SaleFields
	var err error
	if s.Price, err = requireInt(price, "price", 0, MaxAmount); err != nil {
		return s, err
	}
	if s.Quantity, err = requireInt(quantity, "quantity", 1, MaxAmount); err != nil {
		return s, err
	}
	if s.PerUserLimit, err = requireInt(perUser, "per_user_limit", 1, MaxAmount); err != nil {
		return s, err
	}
	if s.DurationMS, err = requireInt(duration, "duration_ms", 1, MaxDuration); err != nil {
		return s, err
	}
	if len(startsIn) > 0 && !isNull(startsIn) {
		if s.StartsInMS, err = decodeInt(startsIn, "starts_in_ms", 0, MaxStartsIn); err != nil {
			return s, err
		}
	}
	return s, nil
}

func requireInt(raw json.RawMessage, name string, lo, hi int64) (int64, error) {
	if len(raw) == 0 || isNull(raw) {
		return 0, Errorf(CodeBadRequest, "missing %s", name)
	}
	return decodeInt(raw, name, lo, hi)
}

// decodeInt accepts only a JSON integer literal in [lo, hi].
func decodeInt(raw json.RawMessage, name string, lo, hi int64) (int64, error) {
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, Errorf(CodeBadRequest, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return v, nil
}

func decodeID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var s string
	if plain, ok := plainString(raw); ok {
		s = string(plain) // what json.Unmarshal gives, without its reflection
	} else if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		s = ""
	}
	if s == "" || len(s) > MaxIDLen {
		return "", Errorf(CodeBadRequest, "id must be a string of 1 to %d characters", MaxIDLen)
	}
	return s, nil
}

// plainString returns the contents of a JSON string of printable ASCII
// without escapes, whose decoded value is those very bytes.
func plainString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return nil, false
		}
	}
	return in, true
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// ValidRoomID reports whether s is 1 to 64 characters of [A-Za-z0-9_-].
func ValidRoomID(s string) bool {
	if len(s) == 0 || len(s) > MaxRoomLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
