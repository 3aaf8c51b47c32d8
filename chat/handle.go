package chat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"sync"
)

// HandleLen is the length of a handle: 16 base64url characters, 96 bits.
const HandleLen = 16

// KeyLen is the length of a handle key.
const KeyLen = 32

// Handles makes the per-room handles of users. It is safe for concurrent
// use.
type Handles struct {
	key []byte
	// macs keeps keyed HMACs: every bid and comment names its author, and
	// a new HMAC per call (its key schedule, two hashes) was 4% of a node
	// answering bids.
	macs sync.Pool
}

// NewHandles returns Handles with key, which must be KeyLen bytes; every
// node of a cluster must use the same key.
func NewHandles(key []byte) (*Handles, error) {
	if len(key) != KeyLen {
		return nil, errors.New("chat: a handle key must be 32 bytes")
	}
	h := &Handles{key: append([]byte(nil), key...)}
	h.macs.New = func() any { return hmac.New(sha256.New, h.key) }
	return h, nil
}

// RandomKey returns a new random handle key.
func RandomKey() []byte {
	k := make([]byte, KeyLen)
	_, _ = rand.Read(k) // never fails (crypto/rand.Read crashes instead)
	return k
}

// Handle is the handle of user sub in room.
func (h *Handles) Handle(room, sub string) string {
	m := h.macs.Get().(hash.Hash)
	defer h.macs.Put(m)
	m.Reset()
	m.Write([]byte(room))
	m.Write([]byte{0}) // room ids have no NUL: ("a","bc") and ("ab","c") differ
	m.Write([]byte(sub))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0])[:HandleLen*6/8])
}

// Author is the author object of user sub with the token's name claim and
// its role in room.
func (h *Handles) Author(room, sub, name, role string) Author {
	return Author{ID: h.Handle(room, sub), Name: DisplayName(name, sub), Role: role}
}
