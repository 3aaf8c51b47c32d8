package room

import (
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// closeRoom ends a deleted room on this node: every joined subscriber gets
// msg (room_closed) as the last message of the room and is unsubscribed;
// a join in progress fails with not_found. The room's broker subscription
// ends with its last subscriber, as on a leave.
func (h *Hub) closeRoom(roomID string, msg []byte) {
	h.mu.Lock()
	r := h.rooms[roomID]
	if r == nil {
		h.mu.Unlock()
		return
	}
	r.mu.Lock()
	for c, s := range r.subs {
		delete(r.subs, c)
		if s.counted {
			s.counted = false
			r.count--
		}
		if s.pending {
			// The join sees it is no longer subscribed and fails; its
			// Leave then drops the subscription and the reference.
			s.closed = true
			continue
		}
		c.mu.Lock()
		// A connection leaving at this moment has dropped its subscription
		// already; its Leave drops the reference and it gets no room_closed.
		if c.removeSubLocked(roomID) != nil {
			r.refs--
			c.sendLocked(msg) // one buffer for the room: not charged to the budget
		}
		c.mu.Unlock()
	}
	// What the hub knew of the room ends with it: a room created again
	// under the id starts at seq 0, and if joins in progress keep this
	// hubRoom alive, its next join must take the new room's seq.
	r.snap = snapCache{}
	r.chat = chatRoom{} // its members and sampling went with the room
	r.lastSeq, r.stale = 0, false
	r.stopTimerLocked() // its volatile messages went with it
	r.mu.Unlock()
	gone := r.refs == 0
	if gone {
		delete(h.rooms, roomID)
		h.metrics.rooms.Dec()
	}
	h.mu.Unlock()
	if gone {
		h.maybeUnsubscribe(roomID)
	}
}

// roomClosedMsg is the room_closed message a hub makes itself, for a room
// it finds gone without having received the store's message (one lost
// while the broker was disconnected).
func roomClosedMsg(roomID string) []byte {
	return protocol.Marshal(protocol.RoomClosed{Type: protocol.TypeRoomClosed, Room: roomID, TS: protocol.Millis(time.Now())})
}

// errRoomClosed fails a join that a room's deletion overtook.
func errRoomClosed(roomID string) error {
	return protocol.Errorf(protocol.CodeNotFound, "room %q was deleted", roomID)
}
