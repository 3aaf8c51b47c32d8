package chat

import "github.com/liveserver/liveserver/internal/rkeys"

// Redis key and channel names, from the project's package of names
// (internal/rkeys), in the order the chat's scripts use. Every key of a room has the hash
// tag {room:<id>}: the chat's keys share a slot with the shop's, so one
// script can number an event and change chat state atomically.
//
// Shared with inventory (same names, same meaning; inventory/redis.go):
// meta (a hash whose field seq is the room's event counter; the room exists
// while it exists), hist (the history list of envelopes) and the channel
// events. The chat's own keys start with "chat:".

// Shop keys the chat's scripts share with inventory's.
func metaKey(prefix, room string) string { return rkeys.New(prefix).RoomKey(room, "meta") }
func histKey(prefix, room string) string { return rkeys.New(prefix).RoomKey(room, "hist") }

// eventsChannel is the room's pub/sub channel (room.RedisBroker subscribes).
func eventsChannel(prefix, room string) string { return rkeys.New(prefix).Events(room) }

// The chat's keys of a room.
func chatKey(prefix, room, name string) string { return rkeys.New(prefix).ChatKey(room, name) }

// chatKeys are the fixed keys of every chat script, in the order
// lua/common.lua unpacks them, followed by the user's key and the
// request's key.
func chatKeys(prefix, room, handle, req string) []string {
	if handle == "" {
		handle = "-"
	}
	if req == "" {
		req = "-"
	}
	return []string{
		metaKey(prefix, room),
		histKey(prefix, room),
		chatKey(prefix, room, "recent"),    // list of "<id>\t<handle>\t<comment json>", oldest first
		chatKey(prefix, room, "lastid"),    // the last comment id issued
		chatKey(prefix, room, "settings"),  // hash: enabled, slow, ann (JSON), blv (block list version)
		chatKey(prefix, room, "blocklist"), // list of terms
		chatKey(prefix, room, "mutes"),     // hash: handle -> until (Unix ms)
		chatKey(prefix, room, "bans"),      // set of handles
		chatKey(prefix, room, "roles"),     // hash: handle -> role, moderator+ only
		chatKey(prefix, room, "reactions"), // hash: kind -> pending count, _at -> last message (Unix ms)
		chatKey(prefix, room, "user:"+handle),
		chatKey(prefix, room, "req:"+req),
	}
}

// handleKeyName holds the cluster's handle key (outside every room's slot).
func handleKeyName(prefix string) string { return rkeys.New(prefix).ChatHandleKey() }
