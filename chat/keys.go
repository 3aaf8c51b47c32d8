package chat

// Redis key and channel names, all in this one place so they can move to
// the project's shared package of names. Every key of a room has the hash
// tag {room:<id>}: the chat's keys share a slot with the shop's, so one
// script can number an event and change chat state atomically.
//
// Shared with inventory (same names, same meaning; inventory/redis.go):
// meta (a hash whose field seq is the room's event counter; the room exists
// while it exists), hist (the history list of envelopes) and the channel
// events. The chat's own keys start with "chat:".

// roomBase is the prefix of every key of room.
func roomBase(prefix, room string) string { return prefix + "{room:" + room + "}:" }

// Shop keys the chat's scripts share with inventory's.
func metaKey(prefix, room string) string { return roomBase(prefix, room) + "meta" }
func histKey(prefix, room string) string { return roomBase(prefix, room) + "hist" }

// eventsChannel is the room's pub/sub channel (room.RedisBroker subscribes).
func eventsChannel(prefix, room string) string { return roomBase(prefix, room) + "events" }

// The chat's keys of a room.
func chatKey(prefix, room, name string) string { return roomBase(prefix, room) + "chat:" + name }

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
func handleKeyName(prefix string) string { return prefix + "chat:handle-key" }
