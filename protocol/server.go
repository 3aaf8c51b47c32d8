package protocol

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// ProductSpec is a catalog product as a creator describes it, in
// PUT /api/rooms/{room} (the server's inventory and the Go client share it).
type ProductSpec struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Price    int64  `json:"price"` // minor units
	Currency string `json:"currency"`
	Image    string `json:"image"`
	Stock    int64  `json:"stock"`
}

// Order is one entry of a room's order log (GET /api/rooms/{room}/orders).
type Order struct {
	Order   string  `json:"order"`
	User    string  `json:"user"`
	Product string  `json:"product"`
	Qty     int64   `json:"qty"`
	Price   int64   `json:"price"` // unit price charged
	Sale    *string `json:"sale"`
	// Auction is the id of the auction the order won, or nil.
	Auction *string `json:"auction"`
	At      int64   `json:"at"`
}

// Server message types.
const (
	TypeSnapshot = "snapshot"
	TypePinned   = "pinned"
	TypeUnpinned = "unpinned"
	TypeSale     = "sale"
	TypeCatalog  = "catalog"
	TypeStock    = "stock"
	TypeViewers  = "viewers"
	TypePurchase = "purchase"
	TypeReply    = "reply"
	TypePong     = "pong"
	TypeError    = "error"
	// TypeRoomClosed tells a room's viewers that the room was deleted:
	// they are no longer in it, and joining it again is not_found.
	TypeRoomClosed = "room_closed"
)

// ServerTypes lists every message type the server sends, in the order of
// the constants above, then the chat's (chat.go); docs/asyncapi.yaml
// describes each one (the docs package's test checks both). Add a new type
// here with its constant.
func ServerTypes() []string {
	return []string{
		TypeSnapshot,
		TypePinned,
		TypeUnpinned,
		TypeSale,
		TypeCatalog,
		TypeStock,
		TypeViewers,
		TypePurchase,
		TypeReply,
		TypePong,
		TypeError,
		TypeRoomClosed,
		// The chat's (chat.go).
		TypeComment,
		TypeReactions,
		TypeChatMode,
		TypeCommentDeleted,
		TypeChat,
		// The auction's (auction.go).
		TypeAuction,
		TypeBid,
	}
}

// Sale states.
const (
	SaleScheduled = "scheduled"
	SaleLive      = "live"
	SaleEnded     = "ended"
)

// Product is a catalog product with its live stock.
type Product struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Price     int64  `json:"price"`
	Currency  string `json:"currency"`
	Image     string `json:"image"`
	Remaining int64  `json:"remaining"`
	V         int64  `json:"v"`
}

// Sale is a flash sale. Times are Unix milliseconds of the server clock.
type Sale struct {
	ID           string `json:"id"`
	Product      string `json:"product"`
	Price        int64  `json:"price"`
	Quantity     int64  `json:"quantity"`
	Sold         int64  `json:"sold"`
	PerUserLimit int64  `json:"per_user_limit"`
	StartsAt     int64  `json:"starts_at"`
	EndsAt       int64  `json:"ends_at"`
	State        string `json:"state"`
}

// Snapshot is the whole state of a room as of event Seq.
type Snapshot struct {
	Type     string    `json:"type"`
	Room     string    `json:"room"`
	Seq      uint64    `json:"seq"`
	TS       int64     `json:"ts"`
	Title    string    `json:"title"`
	Products []Product `json:"products"`
	Pinned   *Product  `json:"pinned"`
	Sale     *Sale     `json:"sale"`
	// Chat and Comments (the last 50 visible, oldest first) are filled by
	// the edge from the chat store. They come before viewers, which stays
	// the last field (room's shared snapshot encoding splices it).
	Chat     *ChatSettings `json:"chat"`
	Comments []Comment     `json:"comments"`
	// Auction is the scheduled or live auction, or nil; also before viewers.
	Auction *Auction `json:"auction"`
	Viewers int64    `json:"viewers"`
}

// Event is a sequenced room event (pinned, unpinned, sale, catalog). Only the
// fields of its type are set.
type Event struct {
	Type     string    `json:"type"`
	Room     string    `json:"room"`
	Seq      uint64    `json:"seq"`
	TS       int64     `json:"ts"`
	Product  *Product  `json:"product,omitempty"`
	Sale     *Sale     `json:"sale,omitempty"`
	Products []Product `json:"products,omitempty"`
}

// Stock is the volatile stock message.
type Stock struct {
	Type      string `json:"type"`
	Room      string `json:"room"`
	TS        int64  `json:"ts"`
	Product   string `json:"product"`
	Remaining int64  `json:"remaining"`
	V         int64  `json:"v"`
}

// Viewers is the volatile viewer-count message.
type Viewers struct {
	Type  string `json:"type"`
	Room  string `json:"room"`
	TS    int64  `json:"ts"`
	Count int64  `json:"count"`
}

// Purchase is the volatile "someone just bought" ticker message.
type Purchase struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	TS      int64  `json:"ts"`
	Product string `json:"product"`
	Qty     int64  `json:"qty"`
	Buyer   string `json:"buyer"`
}

// RoomClosed is the last message a viewer gets from a deleted room.
type RoomClosed struct {
	Type string `json:"type"`
	Room string `json:"room"`
	TS   int64  `json:"ts"`
}

// Millis is t in Unix milliseconds.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// Marshal encodes v, which must be one of this package's message structs or a
// map; these cannot fail to encode.
func Marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("protocol: encoding a message: " + err.Error())
	}
	return b
}

// EncodeEvent encodes a sequenced event. A catalog carries its products
// even when there are none ("products":[], as the Redis scripts write
// it); the other types carry only their own fields.
func EncodeEvent(ev Event) []byte {
	b := Marshal(ev)
	if ev.Type == TypeCatalog && len(ev.Products) == 0 {
		b = append(b[:len(b)-1], `,"products":[]}`...)
	}
	return b
}

// Reply encodes a successful reply; fields may be nil.
func Reply(id string, ts int64, fields map[string]any) []byte {
	_, t := fields["type"]
	_, i := fields["id"]
	_, o := fields["ok"]
	_, s := fields["ts"]
	if !t && !i && !o && !s {
		// The head written by hand, the fields spliced after it: a reply is
		// the answer to every request (a bid, a comment), and a map of all
		// of it cost a sort and twice the encoding.
		b := append(make([]byte, 0, 96), `{"type":"reply","id":`...)
		if verbatimJSON(id) {
			b = append(append(append(b, '"'), id...), '"')
		} else {
			b = append(b, Marshal(id)...)
		}
		b = append(b, `,"ok":true,"ts":`...)
		b = strconv.AppendInt(b, ts, 10)
		if len(fields) == 0 {
			return append(b, '}')
		}
		if flat, ok := appendFlat(append(b, ','), fields); ok {
			return append(flat, '}')
		}
		f := Marshal(fields)
		return append(append(b, ','), f[1:]...)
	}
	m := make(map[string]any, len(fields)+4)
	for k, v := range fields {
		m[k] = v
	}
	m["type"] = TypeReply
	m["id"] = id
	m["ok"] = true
	m["ts"] = ts
	return Marshal(m)
}

// appendFlat appends fields as JSON members (no braces), sorted by key as
// encoding/json sorts them, when every value is an integer, a bool or a
// string that encoding/json would write as it is; else ok is false.
func appendFlat(b []byte, fields map[string]any) (_ []byte, ok bool) {
	if len(fields) > 8 {
		return b, false
	}
	var keys [8]string
	n := 0
	for k := range fields {
		if !verbatimJSON(k) {
			return b, false
		}
		keys[n] = k
		n++
	}
	slices.Sort(keys[:n])
	for i, k := range keys[:n] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), k...), `":`...)
		switch v := fields[k].(type) {
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case bool:
			b = strconv.AppendBool(b, v)
		case string:
			if !verbatimJSON(v) {
				return b, false
			}
			b = append(append(append(b, '"'), v...), '"')
		default:
			return b, false
		}
	}
	return b, true
}

// verbatimJSON: encoding/json writes s between quotes as it is (printable
// ASCII, no quote, backslash or HTML character).
func verbatimJSON(s string) bool {
	for i := range len(s) {
		switch c := s[i]; {
		case c < 0x20, c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// ReplyError encodes a failed reply.
func ReplyError(id string, ts int64, e *Error) []byte {
	return Marshal(struct {
		Type  string `json:"type"`
		ID    string `json:"id"`
		OK    bool   `json:"ok"`
		TS    int64  `json:"ts"`
		Error *Error `json:"error"`
	}{TypeReply, id, false, ts, e})
}

// ErrorMessage encodes an error message (not tied to a request).
func ErrorMessage(ts int64, e *Error) []byte {
	return Marshal(struct {
		Type    string `json:"type"`
		TS      int64  `json:"ts"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Retry   int64  `json:"retry_after_ms,omitempty"`
	}{TypeError, ts, e.Code, e.Message, e.RetryAfterMS})
}

// Pong encodes the answer to a ping.
func Pong(id string, ts int64) []byte {
	return Marshal(struct {
		Type string `json:"type"`
		ID   string `json:"id,omitempty"`
		TS   int64  `json:"ts"`
	}{TypePong, id, ts})
}

// Envelopes carry room messages between nodes through a broker: a
// sequenced event is "S<seq>\n<json>", a volatile message is
// "V<key>\n<json>", where key names what the message conflates with
// ("viewers", "stock:<product>", "purchase"). The format is plain text so a
// Redis Lua script can build it.

// SeqEnvelope wraps an encoded event.
func SeqEnvelope(seq uint64, msg []byte) []byte {
	b := make([]byte, 0, len(msg)+24)
	b = append(b, 'S')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '\n')
	return append(b, msg...)
}

// VolatileEnvelope wraps an encoded volatile message.
func VolatileEnvelope(key string, msg []byte) []byte {
	b := make([]byte, 0, len(msg)+len(key)+2)
	b = append(b, 'V')
	b = append(b, key...)
	b = append(b, '\n')
	return append(b, msg...)
}

// Envelope is a decoded envelope. Msg aliases the input.
type Envelope struct {
	Seq uint64 // 0 for a volatile message
	Key string // "" for a sequenced event
	Msg []byte
}

// ParseEnvelope decodes an envelope.
func ParseEnvelope(b []byte) (Envelope, bool) {
	nl := -1
	for i, c := range b {
		if c == '\n' {
			nl = i
			break
		}
	}
	if nl < 1 || nl == len(b)-1 {
		return Envelope{}, false
	}
	head, msg := b[1:nl], b[nl+1:]
	switch b[0] {
	case 'S':
		seq, err := strconv.ParseUint(string(head), 10, 64)
		if err != nil || seq == 0 {
			return Envelope{}, false
		}
		return Envelope{Seq: seq, Msg: msg}, true
	case 'V':
		if len(head) == 0 {
			return Envelope{}, false
		}
		return Envelope{Key: string(head), Msg: msg}, true
	}
	return Envelope{}, false
}

// StockKey is the conflation key of a product's stock messages.
func StockKey(product string) string { return "stock:" + product }

// Conflation keys of the other volatile messages.
const (
	ViewersKey  = "viewers"
	PurchaseKey = "purchase"
	// ClosedKey marks a room_closed message. It travels as a volatile
	// envelope (it has no seq: the room's seq ends with it) but is never
	// conflated or throttled: a hub that sees it removes the room.
	ClosedKey = "closed"
)
