package room

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/protocol"
)

// ShardedRedisBroker is the Broker of a cluster on Redis Cluster. A room's
// channel is a shard channel (SSUBSCRIBE, SPUBLISH: Redis 7) in the room's
// slot, the hash tag {room:<id>} of all its keys, so an event travels only
// through the master that owns the room, and the room's scripts publish it
// there (internal/rscript). The node holds one subscription connection per
// master it needs: the masters of the rooms it has viewers in.
//
// Slots move (resharding) and masters fail (a replica is promoted). A
// shard's receive loop notices a lost or silent link, an error answer
// (MOVED), or a channel the server dropped (a master sends sunsubscribe
// when a slot leaves it); one maintainer goroutine then places every such
// channel anew on its slot's current master, and also checks the placement
// every PingInterval against a reloaded slot map. It sends one SSUBSCRIBE
// per channel: one command may not cross slots, and go-redis's own
// resubscription after a reconnect sends them all in one, so a shard whose
// link breaks is closed and replaced rather than left to go-redis.
//
// Every subscription the broker makes on its own, not for a Subscribe
// call, is a possible gap: when Redis confirms it, the room is
// resynchronized (RoomResyncer, or HandleReconnect for a handler without
// it) on the shard's receive goroutine, before the shard's next message is
// delivered, so no event overtakes the fresh snapshot.
//
// The maintainer and one receive goroutine per shard are started by Run and
// end in Close. It does not close the Redis client.
type ShardedRedisBroker struct {
	redisLink
	rdb  *redis.ClusterClient
	wake chan struct{} // capacity 1: the maintainer should place channels now
	wg   sync.WaitGroup

	// subMu serializes what changes subscriptions (Subscribe, Unsubscribe,
	// the maintainer), so go-redis sees them in order. Lock order: subMu,
	// then mu. Nothing waits for a confirmation while holding either.
	subMu   sync.Mutex
	mu      sync.Mutex
	h       BrokerHandler
	running bool
	closed  bool
	want    map[string]bool          // channels the hub subscribed
	at      map[string]*shard        // where a wanted channel is subscribed; absent: to be placed
	shards  map[string]*shard        // the live shards, by master address
	pending map[string]chan struct{} // channels whose confirmation Subscribe awaits
}

// shard is one subscription connection, to one master. Its fields but ps
// and addr are guarded by the broker's mu.
type shard struct {
	addr    string
	ps      *redis.PubSub
	chans   map[string]bool
	retired bool // closed by the broker, or lost: its channels go elsewhere
}

var _ Broker = (*ShardedRedisBroker)(nil)

// RoomResyncer is implemented by a BrokerHandler that can resynchronize
// some rooms only (the Hub): a sharded broker that lost one shard's link,
// or whose room moved to another shard, resyncs those rooms, not all.
type RoomResyncer interface {
	HandleResync(rooms []string)
}

// NewShardedRedisBroker returns a broker on the Redis Cluster rdb; call
// Run to start it and Close to stop it. cfg is as for NewRedisBroker.
func NewShardedRedisBroker(rdb *redis.ClusterClient, cfg RedisBrokerConfig) *ShardedRedisBroker {
	return &ShardedRedisBroker{
		redisLink: newRedisLink(cfg, "Times a Redis pub/sub link (one shard's, on Redis Cluster) was lost or a room's channel moved to another shard, and subscribed again (each resynchronizes the rooms concerned)."),
		rdb:       rdb,
		wake:      make(chan struct{}, 1),
		want:      make(map[string]bool),
		at:        make(map[string]*shard),
		shards:    make(map[string]*shard),
		pending:   make(map[string]chan struct{}),
	}
}

// Run implements Broker: it starts the maintainer; shards start as rooms
// are subscribed.
func (b *ShardedRedisBroker) Run(h BrokerHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	if b.running {
		return errors.New("room: ShardedRedisBroker.Run called twice")
	}
	b.h, b.running = h, true
	b.wg.Add(1)
	go b.maintain()
	return nil
}

// Publish implements Broker.
func (b *ShardedRedisBroker) Publish(ctx context.Context, room string, data []byte) error {
	start := time.Now()
	err := b.rdb.SPublish(ctx, b.channel(room), data).Err()
	b.observe("publish", start)
	if err != nil {
		return protocol.DependencyFailed(ctx, "publish", err)
	}
	return nil
}

// Subscribe implements Broker: it returns once the master of the room's
// slot confirmed the subscription, so every message published afterwards
// is delivered.
func (b *ShardedRedisBroker) Subscribe(ctx context.Context, room string) error {
	ch := b.channel(room)
	start := time.Now()
	b.subMu.Lock()
	b.mu.Lock()
	if b.closed || !b.running {
		b.mu.Unlock()
		b.subMu.Unlock()
		return ErrBrokerClosed
	}
	if sh := b.at[ch]; sh != nil && !sh.retired {
		b.mu.Unlock()
		b.subMu.Unlock()
		return nil // subscribed already
	}
	wait := make(chan struct{})
	b.pending[ch] = wait
	b.want[ch] = true
	b.mu.Unlock()
	err := b.placeLocked(ctx, ch)
	b.subMu.Unlock()
	if err == nil {
		if err = b.confirmed(ctx, wait, start); err == nil {
			return nil
		}
	}
	b.forget(ch, wait)
	return protocol.DependencyFailed(ctx, "subscribe", err)
}

// forget drops a channel whose subscription failed, so the maintainer
// does not place it for a room the hub does not know it serves.
func (b *ShardedRedisBroker) forget(ch string, wait chan struct{}) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	if b.pending[ch] != wait {
		b.mu.Unlock()
		return // subscribed again meanwhile
	}
	delete(b.pending, ch)
	b.mu.Unlock()
	b.unsubscribeLocked(ch)
}

// Unsubscribe implements Broker.
func (b *ShardedRedisBroker) Unsubscribe(ctx context.Context, room string) error {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	ch := b.channel(room)
	b.mu.Lock()
	delete(b.pending, ch)
	b.mu.Unlock()
	start := time.Now()
	err := b.unsubscribeLocked(ch)
	b.observe("unsubscribe", start)
	if err != nil {
		return protocol.DependencyFailed(ctx, "unsubscribe", err)
	}
	return nil
}

// unsubscribeLocked forgets ch and unsubscribes it from its shard, which
// is closed when it has no channel left. subMu is held.
func (b *ShardedRedisBroker) unsubscribeLocked(ch string) error {
	b.mu.Lock()
	delete(b.want, ch)
	sh := b.at[ch]
	delete(b.at, ch)
	empty := false
	if sh != nil {
		delete(sh.chans, ch)
		empty = len(sh.chans) == 0 && !sh.retired
	}
	b.mu.Unlock()
	switch {
	case sh == nil:
		return nil
	case empty:
		b.retire(sh)
		return nil
	}
	ctx, cancel := context.WithTimeout(b.ctx, time.Second)
	defer cancel()
	// go-redis forgets ch even when it cannot tell Redis; a shard whose
	// link is down is replaced, without ch, anyway.
	return sh.ps.SUnsubscribe(ctx, ch)
}

// placeLocked subscribes ch on the current master of its slot, unless it
// is subscribed there already. subMu is held. Redis's confirmation comes
// to the shard's receive loop.
func (b *ShardedRedisBroker) placeLocked(ctx context.Context, ch string) error {
	master, err := b.rdb.MasterForKey(ctx, ch)
	if err != nil {
		return err
	}
	addr := master.Options().Addr
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrBrokerClosed
	}
	old := b.at[ch]
	if old != nil && old.addr == addr && !old.retired {
		b.mu.Unlock()
		return nil
	}
	if old != nil {
		// The slot moved: leave the old master.
		delete(old.chans, ch)
		delete(b.at, ch)
	}
	sh := b.shards[addr]
	b.mu.Unlock()
	if old != nil && !old.retired {
		b.mu.Lock()
		empty := len(old.chans) == 0
		b.mu.Unlock()
		if empty {
			b.retire(old)
		} else {
			uctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = old.ps.SUnsubscribe(uctx, ch)
			cancel()
		}
	}

	if sh == nil {
		ps := b.rdb.SSubscribe(b.ctx) // connects with its first channel, to that channel's master
		if err := ps.SSubscribe(ctx, ch); err != nil {
			_ = ps.Close()
			return err
		}
		sh = &shard{addr: addr, ps: ps, chans: map[string]bool{ch: true}}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			_ = ps.Close()
			return ErrBrokerClosed
		}
		b.shards[addr] = sh
		b.at[ch] = sh
		b.mu.Unlock()
		b.wg.Add(1)
		go b.loop(sh)
		return nil
	}
	b.mu.Lock()
	sh.chans[ch] = true
	b.at[ch] = sh
	b.mu.Unlock()
	if err := sh.ps.SSubscribe(ctx, ch); err != nil {
		// The link is in doubt; go-redis would resubscribe ch on it with
		// all the others in one command. Replace the shard.
		b.lost(sh, err)
		return err
	}
	return nil
}

// retire closes a shard the broker no longer uses; its loop ends.
func (b *ShardedRedisBroker) retire(sh *shard) {
	b.mu.Lock()
	sh.retired = true
	if b.shards[sh.addr] == sh {
		delete(b.shards, sh.addr)
	}
	b.mu.Unlock()
	_ = sh.ps.Close()
}

// lost retires a shard whose link failed and hands its channels to the
// maintainer, which subscribes them again (and so resyncs their rooms).
func (b *ShardedRedisBroker) lost(sh *shard, why error) {
	b.mu.Lock()
	if sh.retired {
		b.mu.Unlock()
		return
	}
	n := len(sh.chans)
	for ch := range sh.chans {
		if b.at[ch] == sh {
			delete(b.at, ch)
		}
	}
	clear(sh.chans)
	b.mu.Unlock()
	b.retire(sh)
	if b.ctx.Err() == nil {
		b.log.Warn("redis pub/sub link of a shard lost; subscribing its rooms again", "shard", sh.addr, "rooms", n, "err", why)
		b.reconnects.Inc()
		b.kick()
	}
}

// kick wakes the maintainer.
func (b *ShardedRedisBroker) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Close stops the maintainer and every shard. It is idempotent.
func (b *ShardedRedisBroker) Close() error {
	b.cancel()
	b.subMu.Lock()
	b.mu.Lock()
	b.closed = true
	shards := make([]*shard, 0, len(b.shards))
	for _, sh := range b.shards {
		shards = append(shards, sh)
	}
	b.mu.Unlock()
	b.subMu.Unlock()
	for _, sh := range shards {
		b.retire(sh)
	}
	b.wg.Wait()
	return nil
}

// maintain places the channels that have no shard (after a lost link or
// a moved slot) as soon as it is woken, retrying every 100 ms until all
// are placed, and checks every channel's placement against a reloaded
// slot map every PingInterval (a failover or a resharding that broke no
// connection of this node).
func (b *ShardedRedisBroker) maintain() {
	defer b.wg.Done()
	t := time.NewTicker(b.ping)
	defer t.Stop()
	for {
		check := false
		select {
		case <-b.ctx.Done():
			return
		case <-b.wake:
		case <-t.C:
			check = true
		}
		for attempt := 0; !b.placeAll(check || attempt > 0); attempt++ {
			if attempt == 0 || attempt%50 == 0 {
				b.log.Warn("redis pub/sub: rooms not subscribed yet; retrying", "attempt", attempt+1)
			}
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// placeAll places the unplaced channels, or all when every is true
// (which first asks go-redis to reload the slot map). It reports whether
// every wanted channel is placed.
func (b *ShardedRedisBroker) placeAll(every bool) bool {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	var chans []string
	for ch := range b.want {
		if every || b.at[ch] == nil {
			chans = append(chans, ch)
		}
	}
	b.mu.Unlock()
	if len(chans) == 0 {
		return true
	}
	if every {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		b.rdb.ReloadState(ctx)
		cancel()
	}
	ok := true
	for _, ch := range chans {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		err := b.placeLocked(ctx, ch)
		cancel()
		if err != nil {
			if b.ctx.Err() != nil {
				return true
			}
			ok = false
		}
	}
	// A master whose every room moved away (the server dropped them) keeps
	// no connection.
	b.mu.Lock()
	var idle []*shard
	for _, sh := range b.shards {
		if len(sh.chans) == 0 {
			idle = append(idle, sh)
		}
	}
	b.mu.Unlock()
	for _, sh := range idle {
		b.retire(sh)
	}
	return ok
}

// loop owns receiving on one shard: it delivers messages, completes
// Subscribe calls, resyncs the rooms the broker subscribed on its own,
// notices channels the server dropped, and pings a silent link. It ends
// when the shard is retired or the link fails (the shard is then
// replaced).
func (b *ShardedRedisBroker) loop(sh *shard) {
	defer b.wg.Done()
	quiet := silence{heard: time.Now()}
	for {
		msg, err := sh.ps.ReceiveTimeout(b.ctx, b.recvTimeout())
		if b.ctx.Err() != nil || b.isRetired(sh) {
			return
		}
		if err != nil {
			if isTimeout(err) {
				if b.timedOut(&quiet, sh.ps) {
					b.lost(sh, errors.New("link silent"))
					return
				}
				continue
			}
			// A broken link, or an error answer (MOVED: a subscription on a
			// master that no longer owns the slot).
			b.lost(sh, err)
			return
		}
		quiet.heardNow()
		switch m := msg.(type) {
		case *redis.Message:
			b.deliver(b.h, m)
		case *redis.Subscription:
			switch m.Kind {
			case "ssubscribe":
				b.mu.Lock()
				wait := b.pending[m.Channel]
				delete(b.pending, m.Channel)
				mine := b.at[m.Channel] == sh
				b.mu.Unlock()
				if wait != nil {
					close(wait)
				} else if mine {
					b.resync(m.Channel)
				}
			case "sunsubscribe":
				b.mu.Lock()
				moved := b.at[m.Channel] == sh && b.want[m.Channel]
				if moved {
					delete(b.at, m.Channel)
					delete(sh.chans, m.Channel)
				}
				b.mu.Unlock()
				if moved {
					// The server dropped it: its slot left this master.
					// Forget it here too (or go-redis would subscribe it
					// again on this link) and let the maintainer place it.
					ctx, cancel := context.WithTimeout(b.ctx, time.Second)
					_ = sh.ps.SUnsubscribe(ctx, m.Channel)
					cancel()
					b.log.Info("redis pub/sub: a room's slot moved to another master; subscribing it there", "shard", sh.addr)
					b.reconnects.Inc()
					b.kick()
				}
			}
		}
	}
}

func (b *ShardedRedisBroker) isRetired(sh *shard) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return sh.retired
}

// resync resynchronizes the room of ch, whose messages may have been lost
// while it was not subscribed.
func (b *ShardedRedisBroker) resync(ch string) {
	room, ok := b.names.RoomOfEvents(ch)
	if !ok {
		return
	}
	if r, ok := b.h.(RoomResyncer); ok {
		r.HandleResync([]string{room})
		return
	}
	b.h.HandleReconnect()
}
