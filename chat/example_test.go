package chat_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/inventory"
)

// A node in memory mode: the chat emits its room events through the shop's
// sequencer and publishes to the same broker (here a recorder).
func Example() {
	ctx := context.Background()
	broker := newRecorder()
	shop := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: broker})
	defer shop.Close()
	chats := chat.NewMemoryStore(chat.MemoryConfig{Events: shop, Publisher: broker})
	handles, _ := chat.NewHandles(chat.RandomKey())

	shop.PutRoom(ctx, "spring", inventory.RoomSpec{Title: "Spring drop"})
	ann := handles.Author("spring", "user-42", "Ann", chat.RoleViewer)
	c, _ := chats.Post(ctx, chat.Post{Room: "spring", Author: ann, Text: " does it come in blue? "})
	fmt.Printf("comment %s by %s: %q\n", c.ID, c.Author.Name, c.Text)

	chats.Mute(ctx, "spring", ann.ID, time.Minute, true) // and purge
	_, err := chats.Post(ctx, chat.Post{Room: "spring", Author: ann, Text: "hello?"})
	var ce *chat.Error
	if errors.As(err, &ce) {
		fmt.Println(ce.Code, ce.Until > 0)
	}
	evs, _, _ := shop.Since(ctx, "spring", 0)
	fmt.Printf("seq %d: %s\n", evs[0].Seq, evs[0].Msg[:39])
	// Output:
	// comment 1 by Ann: "does it come in blue?"
	// muted true
	// seq 1: {"type":"comment_deleted","room":"sprin
}
