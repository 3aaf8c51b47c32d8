package room

import (
	"context"
	"sync"
)

// Broker delivers room messages (protocol envelopes) to every liveserver
// node, at most once.
type Broker interface {
	// Run registers the handler that receives every message of a subscribed
	// room, and starts delivery. It is called once, before any other method.
	Run(h BrokerHandler) error
	Publish(ctx context.Context, room string, data []byte) error
	Subscribe(ctx context.Context, room string) error
	Unsubscribe(ctx context.Context, room string) error
}

// BrokerHandler receives what a Broker delivers. The Hub implements it.
type BrokerHandler interface {
	// HandleMessage is called for each message of a subscribed room, in the
	// order the broker received them for that room. It must not block long.
	HandleMessage(room string, data []byte)
	// HandleReconnect is called after the broker lost its link and
	// subscribed again: messages may have been lost meanwhile.
	HandleReconnect()
}

// MemoryBroker is the Broker of a single node: Publish calls the handler
// synchronously, so messages reach the hub in the order they were published.
type MemoryBroker struct {
	mu sync.RWMutex
	h  BrokerHandler
}

var _ Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns a broker for one node.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

// Run implements Broker.
func (b *MemoryBroker) Run(h BrokerHandler) error {
	b.mu.Lock()
	b.h = h
	b.mu.Unlock()
	return nil
}

// Publish implements Broker; it hands data to the handler before returning.
func (b *MemoryBroker) Publish(_ context.Context, room string, data []byte) error {
	b.mu.RLock()
	h := b.h
	b.mu.RUnlock()
	if h != nil {
		h.HandleMessage(room, data)
	}
	return nil
}

// Subscribe implements Broker; the hub filters rooms itself, so it does
// nothing.
func (b *MemoryBroker) Subscribe(context.Context, string) error { return nil }

// Unsubscribe implements Broker.
func (b *MemoryBroker) Unsubscribe(context.Context, string) error { return nil }
