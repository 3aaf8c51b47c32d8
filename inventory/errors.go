package inventory

import "github.com/liveserver/liveserver/protocol"

// The refusals every store gives, built here once so that MemoryStore and
// RedisStore (whose scripts name a refusal by a reason, see refusal in
// redis.go) answer the same case with the same code and message.

func errNoRoom(room string) error {
	return protocol.Errorf(protocol.CodeNotFound, "room %q does not exist", room)
}

func errNoProduct(product string) *protocol.Error {
	return protocol.Errorf(protocol.CodeNotFound, "product %q is not in the catalog", product)
}

func errSaleExists(state string) error {
	return protocol.Errorf(protocol.CodeBadRequest, "room already has a %s sale; stop it first", state)
}

func errNoSale() error {
	return protocol.Errorf(protocol.CodeNotFound, "no sale is scheduled or live")
}

func errSaleNotLive() *protocol.Error {
	return protocol.Errorf(protocol.CodeSaleNotLive, "the flash sale of this product has not started")
}

func errLimit(perUser int64) *protocol.Error {
	return protocol.Errorf(protocol.CodeLimitExceeded, "at most %d per customer in this sale", perUser)
}

func errSaleSoldOut() *protocol.Error {
	return protocol.Errorf(protocol.CodeSoldOut, "not enough left in the sale")
}

func errSoldOut() *protocol.Error {
	return protocol.Errorf(protocol.CodeSoldOut, "not enough stock")
}

func errBadAfter(after string) error {
	return protocol.Errorf(protocol.CodeBadRequest, "after: no order %q in this room", after)
}

func errBadQty() error {
	return protocol.Errorf(protocol.CodeBadRequest, "qty must be from 1 to %d", protocol.MaxQty)
}
