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
	// A sharded broker (Redis Cluster) calls it from one goroutine per
	// master, so for rooms on different masters concurrently.
	HandleMessage(room string, data []byte)
	// HandleReconnect is called after the broker lost its link and
	// subscribed again: messages may have been lost meanwhile.
	HandleReconnect()
}

// MemoryBroker is the Broker of a single node. Publish only queues: one
// dispatcher goroutine hands messages to the handler in publication order,
// so a publisher (a purchase holding its room's lock) never waits for a
// fan-out to thousands of connections. The queue is bounded; when it is full
// Publish waits, which slows publishers down rather than losing messages.
// Like the RedisBroker, it delivers only the rooms subscribed when the
// dispatcher takes a message.
type MemoryBroker struct {
	queue    chan published
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	runOnce  sync.Once

	mu   sync.RWMutex
	subs map[string]bool
}

type published struct {
	room string
	data []byte
}

var _ Broker = (*MemoryBroker)(nil)

// memoryQueue is how many messages may wait for the dispatcher.
const memoryQueue = 16384

// NewMemoryBroker returns a broker for one node; Close stops it.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{queue: make(chan published, memoryQueue), stop: make(chan struct{}), done: make(chan struct{}), subs: make(map[string]bool)}
}

// Run implements Broker: it starts the dispatcher, which ends in Close.
func (b *MemoryBroker) Run(h BrokerHandler) error {
	b.runOnce.Do(func() {
		go func() {
			defer close(b.done)
			for {
				select {
				case m := <-b.queue:
					if b.subscribed(m.room) {
						h.HandleMessage(m.room, m.data)
					}
				case <-b.stop:
					return
				}
			}
		}()
	})
	return nil
}

// Publish implements Broker.
func (b *MemoryBroker) Publish(ctx context.Context, room string, data []byte) error {
	select {
	case b.queue <- published{room, data}:
		return nil
	case <-b.stop:
		return nil // shutting down: nobody is listening any more
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe implements Broker: messages the dispatcher takes from now on
// are delivered.
func (b *MemoryBroker) Subscribe(_ context.Context, room string) error {
	select {
	case <-b.stop:
		return ErrBrokerClosed
	default:
	}
	b.mu.Lock()
	b.subs[room] = true
	b.mu.Unlock()
	return nil
}

// Unsubscribe implements Broker.
func (b *MemoryBroker) Unsubscribe(_ context.Context, room string) error {
	b.mu.Lock()
	delete(b.subs, room)
	b.mu.Unlock()
	return nil
}

func (b *MemoryBroker) subscribed(room string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.subs[room]
}

// Close stops the dispatcher and waits for it; queued messages are dropped.
// It is idempotent.
func (b *MemoryBroker) Close() error {
	b.stopOnce.Do(func() { close(b.stop) })
	b.runOnce.Do(func() { close(b.done) }) // never run: nothing to wait for
	<-b.done
	return nil
}
