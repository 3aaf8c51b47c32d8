// Package chat owns a room's crowd: comments, reactions and moderation
// (mutes, bans, slow mode, closing chat, the announcement, the block list).
// It is the core of the "Chat" and "Moderation" sections of docs/PROTOCOL.md;
// the edge (server) authorizes, decodes and maps errors, the hub (room)
// fans out.
//
// # Store
//
// A Store does every operation as one atomic step. MemoryStore keeps the
// state of one node; RedisStore keeps it in Redis, under the room's hash tag
// {room:<id>}, so every node of a cluster enforces the same mutes, bans,
// settings, block list and slow mode. Both pass one contract suite.
//
// Comments are volatile messages (no seq) with ids of their own: a counter
// per room, so ids are decimal integers, as strings, growing in the one
// order every node sees (in Redis the post script numbers, stores the
// recent history and publishes in one step). comment_deleted and chat are
// room events: they take the room's seq from the same counter, go to the
// same history and the same channel, in the same envelope as the shop's
// events (pinned, sale, catalog), so a join with since replays them. In
// memory the chat store emits through the shop's sequencer (EventLog, which
// inventory.MemoryStore implements); in Redis its scripts do what
// inventory's scripts do on the same keys (see keys.go).
//
// # Handles
//
// A person appears in public as an Author whose id is a handle:
// base64url(HMAC-SHA256(key, room + "\x00" + sub)) cut to 16 characters
// (96 bits). It is stable for a user within a room, different in every
// room, and the sub cannot be recovered from it without the key. Moderation
// names users by handle, so the store keeps its state by handle and never
// needs the sub. The key is a random 32-byte secret per cluster, created
// once in Redis (LoadHandleKey; SET NX, so every node gets the same) or per
// process in memory mode (RandomKey), where all chat state dies with the
// process anyway. It is deliberately not derived from the JWT secret:
// rotating that secret must not silently lift every ban.
//
// # Roles
//
// The edge gives each author the role it has in the room: admin, creator
// (of this room), moderator (of this room) or viewer. Moderator+ (the
// first three) are exempt from chat_closed, slow mode and the block list,
// and are never refused as muted or banned; the store records the role of
// every handle it sees (Post, Seen) so that muting or banning a handle
// known to be moderator+ is forbidden, while a handle never seen may be
// moderated (the user may come later).
//
// # Messages the hub must route
//
// Besides room events, stores publish volatile envelopes with these keys
// (protocol.VolatileEnvelope): CommentKey(handle) for each comment (never
// conflated; the author's own connections always get it), ReactionsKey for
// the summed reactions (at most one per ReactionInterval per room across
// the cluster), and BanKey(handle), whose message is the error the banned
// user's connections get before they leave the room: it must go to those
// connections only, never to the room.
//
// All methods of the stores are safe for concurrent use.
package chat
