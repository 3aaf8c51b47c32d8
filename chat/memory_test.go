package chat_test

import (
	"testing"

	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/inventory"
)

func newMemoryHarness(t *testing.T, nodes int) *harness {
	rec := newRecorder()
	inv := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: rec})
	t.Cleanup(func() { inv.Close() })
	s := chat.NewMemoryStore(chat.MemoryConfig{Events: inv, Publisher: rec})
	h := &harness{inv: inv, rec: rec}
	for range nodes {
		h.stores = append(h.stores, s)
	}
	return h
}

func TestMemoryContract(t *testing.T) {
	runContract(t, newMemoryHarness)
}
