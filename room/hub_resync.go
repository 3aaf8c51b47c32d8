package room

import "context"

var _ RoomResyncer = (*Hub)(nil)

// HandleResync implements RoomResyncer: it resynchronizes the viewers of
// the given rooms on this node with a fresh snapshot, as HandleReconnect
// does for every room. A sharded broker calls it for the rooms of one
// shard whose subscription was made again (a lost link, a moved slot, a
// promoted replica): their messages may have been lost meanwhile.
func (h *Hub) HandleResync(rooms []string) {
	for _, id := range rooms {
		h.mu.RLock()
		r := h.rooms[id]
		h.mu.RUnlock()
		if r == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.FetchTimeout)
		h.resync(ctx, r)
		cancel()
	}
}
