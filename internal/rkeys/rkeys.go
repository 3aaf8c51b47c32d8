// Package rkeys owns the names liveserver gives to Redis keys and pub/sub
// channels: every package that talks to Redis (inventory, room, server)
// takes its names from here, so that the nodes of a cluster, and their
// Lua scripts, agree on them.
//
// Every name starts with the cluster's prefix, which the server's
// configuration passes in (Config.RedisKeyPrefix, DefaultPrefix unless
// set); two prefixes on one Redis are two clusters that see nothing of
// each other. A room's keys and its events channel share the hash tag
// {room:<id>}, so one script touches one Redis Cluster slot:
//
//	<prefix>{room:<id>}:meta        hash: title, seq, ticker time
//	<prefix>{room:<id>}:products ... the other keys of RoomKeys, in order
//	<prefix>{room:<id>}:req:<uuid>  a creator action's answer, kept a minute
//	<prefix>{room:<id>}:idem:<n>:<user>:<id>  a purchase's answer
//	<prefix>{room:<id>}:bid:<n>:<user>:<id>   a bid's answer
//	<prefix>{room:<id>}:events      pub/sub channel of the room's envelopes
//	<prefix>{room:<id>}:viewers     hash of node -> viewer count
//	<prefix>{room:<id>}:chat:<name> the room's chat (package chat)
//	<prefix>sale-timers             sorted set of pending sale transitions
//	<prefix>auction-timers          sorted set of pending auction instants
//	<prefix>dev-token-secret        the development-mode token secret
//	<prefix>node-mode               the mode the cluster's nodes run in
//	<prefix>chat:handle-key         the key of users' chat handles
//
// What travels on the events channel is a protocol envelope
// (protocol.SeqEnvelope, protocol.VolatileEnvelope), built by the memory
// store in Go and by every room script through internal/rscript/envelope.lua; a contract
// test in inventory checks that both encode the same bytes.
//
// Names is plain data, safe for concurrent use.
package rkeys

import (
	"strconv"
	"strings"
)

// DefaultPrefix is the prefix of a server configured without one.
const DefaultPrefix = "liveserver:"

// Names are the Redis names of one cluster.
type Names struct{ prefix string }

// New returns the names under prefix, used as it is ("" is no prefix).
func New(prefix string) Names { return Names{prefix: prefix} }

// Prefix is the prefix every name starts with.
func (n Names) Prefix() string { return n.prefix }

// roomBase is the start of every name of a room.
func (n Names) roomBase(room string) string { return n.prefix + "{room:" + room + "}:" }

// roomKeys are the suffixes of a room's keys, in the order in which the
// room scripts unpack KEYS (inventory/lua/common.lua).
var roomKeys = []string{"meta", "products", "pinfo", "price", "stock", "ver",
	"sale", "saleusers", "hist", "orders", "orderidx",
	// The current auction (a hash), the ended ones' records by id (a hash)
	// and their ids by end (a sorted set), see inventory/lua/auction_common.lua.
	"auction", "auctions", "auctions:ended"}

// RoomKeys are the KEYS of a room script: the room's keys in the order
// lua/common.lua unpacks them, then the request's own key (Request or
// Idempotency) when req is not "".
func (n Names) RoomKeys(room, req string) []string {
	b := n.roomBase(room)
	// One string holds them all, each key a slice of it: one allocation,
	// not one per key (every purchase and bid names them).
	size := 0
	for _, s := range roomKeys {
		size += len(b) + len(s)
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, s := range roomKeys {
		sb.WriteString(b)
		sb.WriteString(s)
	}
	all := sb.String()
	k := make([]string, 0, len(roomKeys)+1)
	i := 0
	for _, s := range roomKeys {
		j := i + len(b) + len(s)
		k = append(k, all[i:j])
		i = j
	}
	if req != "" {
		k = append(k, req)
	}
	return k
}

// RoomKey is one of a room's keys by its suffix in RoomKeys ("orders").
func (n Names) RoomKey(room, suffix string) string { return n.roomBase(room) + suffix }

// Request is the key of one creator action's answer, whose unique id is
// reqID: a script that go-redis retries after a lost reply answers the same.
func (n Names) Request(room, reqID string) string { return n.roomBase(room) + "req:" + reqID }

// Idempotency is the key of a purchase's answer, one per room, user and
// request id; the user's length keeps "a:b"+"c" apart from "a"+"b:c".
func (n Names) Idempotency(room, user, id string) string {
	return n.roomBase(room) + "idem:" + strconv.Itoa(len(user)) + ":" + user + ":" + id
}

// Events is the pub/sub channel of a room's envelopes.
func (n Names) Events(room string) string { return n.roomBase(room) + "events" }

// RoomOfEvents is the room whose Events channel is ch; ok is false for
// any other channel.
func (n Names) RoomOfEvents(ch string) (room string, ok bool) {
	r, ok := strings.CutPrefix(ch, n.prefix+"{room:")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(r, "}:events")
}

// Viewers is the hash of a room's viewer counts by node.
func (n Names) Viewers(room string) string { return n.roomBase(room) + "viewers" }

// BidIdempotency is the key of a bid's answer, one per room, user and
// request id, apart from purchases' (Idempotency).
func (n Names) BidIdempotency(room, user, id string) string {
	return n.roomBase(room) + "bid:" + strconv.Itoa(len(user)) + ":" + user + ":" + id
}

// AuctionTimers is the sorted set of pending auction instants (a start or
// an end), "<room>:<auction id>" by instant. It is outside every room's
// slot.
func (n Names) AuctionTimers() string { return n.prefix + "auction-timers" }

// SaleTimers is the sorted set of pending sale transitions,
// "<room>:<sale id>" by instant. It is outside every room's slot.
func (n Names) SaleTimers() string { return n.prefix + "sale-timers" }

// DevSecret is the key of the cluster's development-mode token secret.
func (n Names) DevSecret() string { return n.prefix + "dev-token-secret" }

// NodeMode is the key in which the cluster records the mode its nodes run
// in (development or with a secret), so a node started in another mode
// refuses to join.
func (n Names) NodeMode() string { return n.prefix + "node-mode" }

// RoomKeyPattern is a SCAN pattern matching the key with suffix (as in
// RoomKey) of every room under the prefix.
func (n Names) RoomKeyPattern(suffix string) string {
	return globEscape(n.prefix) + "{room:*}:" + globEscape(suffix)
}

// RoomOfKey is the room whose key with suffix (as in RoomKey) is key; ok
// is false for any other key.
func (n Names) RoomOfKey(key, suffix string) (room string, ok bool) {
	r, ok := strings.CutPrefix(key, n.prefix+"{room:")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(r, "}:"+suffix)
}

// globEscape quotes the characters Redis's glob patterns give a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ChatKey is one of a room's chat keys (package chat), in the room's slot
// beside the shop's keys: "<prefix>{room:<id>}:chat:<name>".
func (n Names) ChatKey(room, name string) string { return n.roomBase(room) + "chat:" + name }

// ChatHandleKey holds the cluster's key for users' chat handles (outside
// every room's slot).
func (n Names) ChatHandleKey() string { return n.prefix + "chat:handle-key" }
