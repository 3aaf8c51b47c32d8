package room

import (
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// snapCache is a room's last encoded snapshot. Joins of the room at the
// same seq within Config.SnapshotShareWindow queue the same bytes instead
// of encoding their own: a join storm, or sockets re-joining a room with a
// large catalog, costs one encoding (and one buffer, however many queues
// hold it) rather than one per join.
//
// Shared bytes carry the ts and viewers of their encoding, up to the window
// old: ts only bounds a client's clock offset from below, so an older one is
// harmless, and viewers is sent again within a second when it changes.
// Stock is not covered by seq (purchases change it without an event), so a
// join given shared bytes also gets a stock message for every product whose
// version moved since they were encoded.
type snapCache struct {
	seq  uint64
	at   time.Time
	msg  []byte
	ids  []string // the products' ids and versions in msg
	vers []int64
}

// sendSnapshotLocked queues snap for c, shared when it can be; r.mu and
// c.mu are held.
func (h *Hub) sendSnapshotLocked(r *hubRoom, c *Conn, snap *protocol.Snapshot) {
	now := time.Now()
	sc := &r.snap
	if sc.msg == nil || sc.seq != snap.Seq || now.Sub(sc.at) >= h.cfg.SnapshotShareWindow || !sc.sameCatalog(snap.Products) {
		snap.Viewers = r.viewersLocked()
		sc.msg = nil
		msg := protocol.Marshal(snap)
		h.metrics.snapshotEncodes.Inc()
		if h.cfg.SnapshotShareWindow > 0 {
			sc.seq, sc.at, sc.msg = snap.Seq, now, msg
			sc.ids, sc.vers = sc.ids[:0], sc.vers[:0]
			for _, p := range snap.Products {
				sc.ids = append(sc.ids, p.ID)
				sc.vers = append(sc.vers, p.V)
			}
		}
		c.sendLocked(msg)
		return
	}
	c.sendLocked(sc.msg)
	for i, p := range snap.Products {
		if p.V != sc.vers[i] {
			c.sendVolatileOwnLocked(r.id, protocol.StockKey(p.ID), protocol.Marshal(protocol.Stock{
				Type: protocol.TypeStock, Room: r.id, TS: snap.TS, Product: p.ID, Remaining: p.Remaining, V: p.V,
			}))
		}
	}
}

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
