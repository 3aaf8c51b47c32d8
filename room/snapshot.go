package room

import (
	"bytes"
	"strconv"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// snapCache is a room's last encoded snapshot. Joins of the room at the
// same seq and viewer count within Config.SnapshotShareWindow queue the
// same bytes instead of encoding their own: sockets re-joining a room with a
// large catalog (the count does not change on a re-join) cost one encoding
// and one buffer, however many queues hold it. A join at the same seq with
// another count (a join storm) gets a copy of the bytes with its count
// spliced in (the snapshot's last field), cheaper than encoding and
// shared in turn.
//
// Shared bytes carry the ts of their encoding, up to the window old: ts
// only bounds a client's clock offset from below, so an older one is
// harmless. Stock is not covered by seq (purchases change it without an
// event), so a join given shared bytes also gets a stock message for every
// product whose version moved since they were encoded, and bids (no event
// either) the leading bid as a bid message when the auction's bids moved.
type snapCache struct {
	seq     uint64
	viewers int64
	at      time.Time
	msg     []byte
	head    int      // len of msg up to the viewers count
	ids     []string // the products' ids and versions in msg
	vers    []int64
	// comment is the id of the last comment in msg: comments are not room
	// events (they take no seq), so a new one makes the encoding stale.
	comment string
	bids    int64 // the bids of the auction in msg
}

// sendSnapshotLocked queues snap for c, shared when it can be; r.mu and
// c.mu are held.
func (h *Hub) sendSnapshotLocked(r *hubRoom, c *Conn, snap *protocol.Snapshot) {
	now := time.Now()
	viewers := r.viewersLocked()
	sc := &r.snap
	if sc.msg == nil || sc.seq != snap.Seq || now.Sub(sc.at) >= h.cfg.SnapshotShareWindow || !sc.sameCatalog(snap.Products) || sc.comment != lastCommentID(snap) {
		snap.Viewers = viewers
		msg := protocol.Marshal(snap)
		h.metrics.snapshotEncodes.Inc()
		*sc = snapCache{ids: sc.ids[:0], vers: sc.vers[:0]}
		if i := bytes.LastIndex(msg, viewersField); h.cfg.SnapshotShareWindow > 0 && i > 0 {
			sc.seq, sc.viewers, sc.at, sc.msg, sc.head = snap.Seq, viewers, now, msg, i+len(viewersField)
			sc.comment = lastCommentID(snap)
			for _, p := range snap.Products {
				sc.ids = append(sc.ids, p.ID)
				sc.vers = append(sc.vers, p.V)
			}
			if snap.Auction != nil {
				sc.bids = snap.Auction.Bids
			}
		}
		c.sendLocked(msg)
		return
	}
	if sc.viewers != viewers {
		msg := make([]byte, sc.head, sc.head+24)
		copy(msg, sc.msg[:sc.head])
		msg = strconv.AppendInt(msg, viewers, 10)
		sc.msg, sc.viewers = append(msg, '}'), viewers
	}
	c.sendLocked(sc.msg)
	for i, p := range snap.Products {
		if p.V != sc.vers[i] {
			c.sendVolatileOwnLocked(r.id, protocol.StockKey(p.ID), protocol.Marshal(protocol.Stock{
				Type: protocol.TypeStock, Room: r.id, TS: snap.TS, Product: p.ID, Remaining: p.Remaining, V: p.V,
			}))
		}
	}
	if b := protocol.BidState(r.id, snap.TS, snap.Auction); b != nil && b.Bids != sc.bids {
		c.sendVolatileOwnLocked(r.id, protocol.BidKey(b.Auction), protocol.Marshal(b))
	}
}

// viewersField precedes the count, the last field of an encoded snapshot.
var viewersField = []byte(`,"viewers":`)

// sameCatalog reports whether products are those of the cached encoding,
// in order (a catalog change takes a seq, so at the same seq they are;
// this guards against a store that breaks that).
func (sc *snapCache) sameCatalog(products []protocol.Product) bool {
	if len(products) != len(sc.ids) {
		return false
	}
	for i, p := range products {
		if p.ID != sc.ids[i] {
			return false
		}
	}
	return true
}

// lastCommentID is the id of the snapshot's last comment, "" if none.
func lastCommentID(snap *protocol.Snapshot) string {
	if n := len(snap.Comments); n > 0 {
		return snap.Comments[n-1].ID
	}
	return ""
}
