package chat

import (
	"strings"
	"testing"
)

// Every key a chat script touches must be in the room's Redis Cluster slot:
// its hash tag (the first {...}) must be the room's, as inventory's keys.
func TestKeysShareTheRoomSlot(t *testing.T) {
	t.Parallel()
	h, _ := NewHandles(RandomKey())
	keys := chatKeys("liveserver:", "room_1-A", h.Handle("room_1-A", "u"), "reactions:node-1:42")
	keys = append(keys, eventsChannel("liveserver:", "room_1-A"))
	for _, k := range keys {
		open := strings.IndexByte(k, '{')
		end := strings.IndexByte(k[open+1:], '}')
		if open < 0 || end < 0 || k[open:open+end+2] != "{room:room_1-A}" {
			t.Errorf("key %q has not the room's hash tag", k)
		}
	}
	if metaKey("p:", "r") != "p:{room:r}:meta" || histKey("p:", "r") != "p:{room:r}:hist" || eventsChannel("p:", "r") != "p:{room:r}:events" {
		t.Error("the shop's key names moved: they must be inventory's")
	}
}
