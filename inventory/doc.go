// Package inventory owns the authoritative state of every room's shop: the
// catalog and its live stock, the pinned product, the flash sale, purchases
// with their idempotency keys, live auctions and their bids (auction.go), the
// order log, and the room's numbered event sequence with its bounded history.
// These live together because they change together: a purchase that sells
// out a sale ends it, a catalog replace clears a pin, an auction holds a unit
// of stock and its end appends the winner's order, and every change must
// take the next seq atomically.
//
// A Store does each operation as one atomic step and publishes the events it
// causes, as protocol envelopes, to its Publisher (MemoryStore) or through
// Redis (RedisStore). Both implement Store and Auctioneer, pass the same
// contract suites, refuse with the same errors (errors.go, auction.go) and
// publish the same envelopes (contract tests compare the Lua scripts' bytes
// with the memory store's). A RedisStore's key and channel names come from internal/rkeys.
// All methods are safe for concurrent use.
package inventory
