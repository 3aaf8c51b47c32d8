package room

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// The chat's fan-out (docs/PROTOCOL.md, "Chat"). The chat store publishes
// comments, reactions and bans as volatile envelopes with keys of their own
// (protocol.CommentKey, ReactionsKey, BanKey); HandleMessage routes them
// here before the volatile throttle, because none of them may be conflated:
// every comment is delivered (or sampled out) on its own, every reactions
// message holds the counts since the previous one, and a ban goes only to
// the banned handle's connections. comment_deleted and chat are room events
// (with seq) and need nothing here.
//
// Load shedding: a room whose comments arrive faster than
// Config.ChatFanoutRate a second is sampled. The decision is made on the
// comments' own "at" (the store's clock, the same on every node), so every
// node that sees the room's comments decides alike. Sampling starts when a
// token bucket of one second's worth (rate tokens, refilled at rate a
// second) runs dry: a steady stream at the rate, bunched by jitter, never
// starts it, a sustained excess does (at 10x the rate within a tenth of a
// second, at 1.1x within ten seconds), announced at once by chat_mode
// sampled:true. While sampled, ordinary viewers get comment N iff
// N % k == 0, with k = ceil(the larger of the last 1 s window's and this
// window's count / rate), about rate a second, the same subset on every
// node. The author's own connections and members with All (creator,
// moderator, admin) get every comment. Sampling ends after two closed
// windows at or below the rate (chat_mode sampled:false).
//
// A node that starts watching a room mid-stream starts with a full bucket
// and may start sampling a little later than the others; they agree again
// once the room's comments slow to the rate.

// DefaultChatFanoutRate is Config.ChatFanoutRate's default: comments a
// second per room delivered to every viewer.
const DefaultChatFanoutRate = 50

// Member is who a subscriber is in the room's chat.
type Member struct {
	// Handle is the subscriber's author handle in the room ("" for none).
	Handle string
	// All: the room's creator, a moderator or an admin: gets every comment
	// while the room is sampled, and a ban of its handle does not remove it
	// (the store refuses to ban moderator+ anyway).
	All bool
}

// chatRoom is a room's chat fan-out state, under hubRoom.mu.
type chatRoom struct {
	byHandle map[string][]*sub // joined or joining subscribers by handle
	all      map[*sub]struct{} // subscribers with Member.All

	sampled bool
	credit  int64 // the bucket, in thousandths of a comment (rate*1000 is full)
	last    int64 // at (Unix ms) of the last comment counted in credit
	window  int64 // the current window: Unix seconds of the comments' at
	cur     int   // comments in the current window
	prev    int   // comments in the window before (0 if it was not the one before)
	quiet   int   // consecutive closed windows at or below the rate
}

// maxChatBuffered bounds the comments kept for a joining subscriber.
const maxChatBuffered = 256

// setMemberLocked records who s is in the room's chat; r.mu is held.
func (r *hubRoom) setMemberLocked(s *sub, m Member) {
	r.unindexLocked(s)
	s.member = m
	cr := &r.chat
	if m.Handle != "" {
		if cr.byHandle == nil {
			cr.byHandle = make(map[string][]*sub)
		}
		cr.byHandle[m.Handle] = append(cr.byHandle[m.Handle], s)
	}
	if m.All {
		if cr.all == nil {
			cr.all = make(map[*sub]struct{})
		}
		cr.all[s] = struct{}{}
	}
}

// unindexLocked forgets s in the room's chat indexes; r.mu is held.
func (r *hubRoom) unindexLocked(s *sub) {
	cr := &r.chat
	if h := s.member.Handle; h != "" {
		subs := cr.byHandle[h]
		for i, o := range subs {
			if o == s {
				subs = append(subs[:i], subs[i+1:]...)
				break
			}
		}
		if len(subs) == 0 {
			delete(cr.byHandle, h)
		} else {
			cr.byHandle[h] = subs
		}
	}
	delete(cr.all, s)
}

// JoinMember is Join for a subscriber who is m in the room's chat.
func (h *Hub) JoinMember(ctx context.Context, c *Conn, roomID string, since *uint64, reply []byte, m Member) error {
	return h.join0(ctx, c, roomID, since, reply, m)
}

// Joined reports whether c has joined (or is joining) the room.
func (h *Hub) Joined(c *Conn, roomID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subLocked(roomID) != nil
}

// chatMessage routes a volatile envelope of the chat; it reports false for
// any other key.
func (h *Hub) chatMessage(r *hubRoom, key string, msg []byte) bool {
	if handle, ok := protocol.CommentAuthor(key); ok {
		h.comment(r, handle, msg)
		return true
	}
	if handle, ok := protocol.BannedHandle(key); ok {
		h.ban(r, handle, msg)
		return true
	}
	if key == protocol.ReactionsKey {
		r.mu.Lock()
		r.queueAllLocked(msg)
		r.mu.Unlock()
		return true
	}
	return false
}

// queueAllLocked queues msg, in order, to every joined subscriber.
func (r *hubRoom) queueAllLocked(msg []byte) {
	f := &r.fan
	f.start(r.writers)
	for _, s := range r.subs {
		if !s.pending {
			s.c.mu.Lock()
			s.c.queueLocked(msg, f.now, f)
			s.c.mu.Unlock()
		}
	}
	f.flush()
}

// commentHead is what the hub reads of a comment message.
type commentHead struct {
	Comment struct {
		ID string `json:"id"`
		At int64  `json:"at"`
	} `json:"comment"`
}

func parseCommentHead(msg []byte) (id uint64, at int64, ok bool) {
	var ch commentHead
	if json.Unmarshal(msg, &ch) != nil {
		return 0, 0, false
	}
	id, err := strconv.ParseUint(ch.Comment.ID, 10, 64)
	return id, ch.Comment.At, err == nil
}

// comment fans a comment out: to every joined subscriber, or, while the
// room is sampled, to those its id picks, the author's own and those with
// All. Joining subscribers keep it until their join completes (see
// chatJoinedLocked).
func (h *Hub) comment(r *hubRoom, handle string, msg []byte) {
	id, at, ok := parseCommentHead(msg)
	if !ok {
		h.log.Warn("dropping a malformed comment", "room", r.id)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	everyone, mode := r.chat.admit(id, at, h.cfg.ChatFanoutRate)
	if mode != nil {
		h.announceLocked(r, *mode)
	}
	f := &r.fan
	f.start(r.writers)
	send := func(s *sub) {
		if r.subs[s.c] != s {
			return // indexed, but its join has not begun (or a ban took it out)
		}
		if s.pending {
			if len(s.chatBuf) < maxChatBuffered {
				s.chatBuf = append(s.chatBuf, bufferedComment{id, msg})
			}
			return
		}
		s.c.mu.Lock()
		s.c.queueLocked(msg, f.now, f)
		s.c.mu.Unlock()
	}
	if everyone {
		for _, s := range r.subs {
			send(s)
		}
	} else {
		for s := range r.chat.all {
			send(s)
		}
		for _, s := range r.chat.byHandle[handle] {
			if !s.member.All {
				send(s)
			}
		}
	}
	f.flush()
}

type bufferedComment struct {
	id  uint64
	msg []byte
}

// admit counts a comment at atMs (Unix ms) and reports whether every
// subscriber gets it, and the chat_mode to announce first, if the mode
// changes.
func (cr *chatRoom) admit(id uint64, atMs int64, rate int) (everyone bool, mode *bool) {
	if cr.advance(atMs/1000, rate) {
		mode = new(bool) // sampled:false
	}
	cr.cur++
	full := int64(rate) * 1000
	if d := atMs - cr.last; d > 0 {
		cr.credit = min(full, cr.credit+min(d, 1000)*int64(rate))
		cr.last = atMs
	}
	if cr.credit >= 1000 {
		cr.credit -= 1000
	} else if !cr.sampled {
		cr.sampled, cr.quiet = true, 0
		t := true
		mode = &t
	}
	if !cr.sampled {
		return true, mode
	}
	k := uint64((max(cr.prev, cr.cur) + rate - 1) / rate)
	return k <= 1 || id%k == 0, mode
}

// advance moves the current window to w, closing the ones before, and
// reports whether that ends sampling.
func (cr *chatRoom) advance(w int64, rate int) (ended bool) {
	if w <= cr.window {
		return false
	}
	if cr.cur <= rate {
		cr.quiet++
	} else {
		cr.quiet = 0
	}
	gap := w - cr.window - 1 // windows without a comment
	cr.quiet += int(min(gap, 2))
	cr.prev = cr.cur
	if gap > 0 {
		cr.prev = 0
	}
	cr.cur, cr.window = 0, w
	if cr.sampled && cr.quiet >= 2 {
		cr.sampled = false
		return true
	}
	return false
}

// announceLocked queues chat_mode to every joined subscriber; r.mu is held.
func (h *Hub) announceLocked(r *hubRoom, sampled bool) {
	r.queueAllLocked(h.chatMode(r.id, sampled))
}

func (h *Hub) chatMode(room string, sampled bool) []byte {
	return protocol.Marshal(protocol.ChatModeMsg{Type: protocol.TypeChatMode, Room: room, TS: protocol.Millis(time.Now()),
		Sampled: sampled, Rate: h.cfg.ChatFanoutRate})
}

// chatJoinedLocked completes s's join for the chat: it queues the comments
// that arrived while s was joining and are newer than the snapshot's, and,
// if the room is sampled, a chat_mode saying so. r.mu and s.c.mu are held.
func (h *Hub) chatJoinedLocked(r *hubRoom, s *sub, snap *protocol.Snapshot) {
	var last uint64
	if n := len(snap.Comments); n > 0 {
		last, _ = strconv.ParseUint(snap.Comments[n-1].ID, 10, 64)
	}
	for _, bc := range s.chatBuf {
		if bc.id > last {
			s.c.sendLocked(bc.msg)
		}
	}
	s.chatBuf = nil
	if r.chat.sampled {
		s.c.sendOwnLocked(h.chatMode(r.id, true))
	}
}

// ban removes the handle's subscribers from the room, on this node, each
// after msg (the banned error). Members with All stay.
func (h *Hub) ban(r *hubRoom, handle string, msg []byte) {
	r.mu.Lock()
	var out []*Conn
	for _, s := range r.chat.byHandle[handle] {
		if s.member.All || r.subs[s.c] != s {
			continue // moderator+, or not in the room (any more)
		}
		s.c.Send(msg)
		out = append(out, s.c)
	}
	for _, c := range out {
		// Nothing more of the room reaches it; Leave below does the rest.
		delete(r.subs, c)
	}
	r.mu.Unlock()
	// This runs on the broker's goroutine, which must not wait on the
	// broker (a join elsewhere may hold the subscription lock, waiting for
	// this very goroutine to confirm its subscribe): a room left empty
	// keeps its broker subscription until sweepChat ends it.
	for _, c := range out {
		h.leave(c, r.id)
	}
}

// sweepChat ends the sampling of rooms whose comments stopped (no comment
// arrives to close the windows). It looks one window behind the local
// clock, so a node whose clock runs ahead of the store's does not close a
// window that comments are still arriving in.
//
// It also ends the broker subscriptions of rooms a ban left empty (see
// ban).
func (h *Hub) sweepChat() {
	w := time.Now().Unix() - 1
	h.mu.RLock()
	for _, r := range h.rooms {
		r.mu.Lock()
		if r.chat.sampled && r.chat.advance(w, h.cfg.ChatFanoutRate) {
			h.announceLocked(r, false)
		}
		r.mu.Unlock()
	}
	h.mu.RUnlock()
	h.subMu.Lock()
	var idle []string
	for id := range h.brokerSubs {
		h.mu.RLock()
		_, alive := h.rooms[id]
		h.mu.RUnlock()
		if !alive {
			idle = append(idle, id)
		}
	}
	h.subMu.Unlock()
	for _, id := range idle {
		h.maybeUnsubscribe(id) // checks again, under the lock
	}
}

// SampledRooms is the number of rooms whose comments are sampled here.
func (h *Hub) SampledRooms() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, r := range h.rooms {
		r.mu.Lock()
		if r.chat.sampled {
			n++
		}
		r.mu.Unlock()
	}
	return n
}

// SetMembers sets who c is in the chat of every room it joined, as m
// says for each room (after its identity changed on an auth message).
func (h *Hub) SetMembers(c *Conn, m func(room string) Member) {
	c.mu.Lock()
	subs := append([]*sub(nil), c.rooms...)
	c.mu.Unlock()
	for _, s := range subs {
		h.mu.RLock()
		r := h.rooms[s.room]
		h.mu.RUnlock()
		if r == nil {
			continue
		}
		r.mu.Lock()
		if r.subs[s.c] == s {
			r.setMemberLocked(s, m(s.room))
		}
		r.mu.Unlock()
	}
}
