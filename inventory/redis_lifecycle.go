package inventory

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	scriptDeleteRoom = roomScript("delete_room.lua")
	scriptTrimOrders = roomScript("trim_orders.lua")
)

// trimBatch bounds the orders one trim script drops, so it holds Redis for
// a short while only; a trim repeats until less than a batch is left.
const trimBatch = 500

// DeleteRoom implements Store (see delete_room.lua). A sale the room had
// leaves the cluster's index of pending transitions too.
func (s *RedisStore) DeleteRoom(ctx context.Context, room string) error {
	r, err := s.run(ctx, "delete_room", scriptDeleteRoom, room, s.requestKey(room), requestTTLms)
	if err != nil {
		return err
	}
	if r.reason != "" {
		return refusal(room, "", r)
	}
	if saleID := str(r.vals, 0); saleID != "" {
		member := indexMember(room, saleID)
		s.disarm(member)
		if err := s.schedule(ctx, member, 0); err != nil {
			// Its tick finds no room and removes it.
			s.log.Debug("removing a deleted room's sale from the index failed; a poll will", "room", room, "err", err)
		}
	}
	return nil
}

// trimOrders drops a room's orders past the retention, batch by batch.
func (s *RedisStore) trimOrders(ctx context.Context, room string) error {
	for {
		r, err := s.run(ctx, "trim_orders", scriptTrimOrders, room, "", s.retention.Milliseconds(), trimBatch)
		if err != nil {
			return err
		}
		if num(r.vals, 0) < trimBatch {
			return nil
		}
	}
}

// retentionLoop runs until Close: every retentionSweep it trims the order
// log of every room in Redis, deleted rooms included. Every node runs it;
// trimming is idempotent, so several nodes at once only repeat work.
func (s *RedisStore) retentionLoop() {
	defer s.wg.Done()
	t := time.NewTicker(retentionSweep(s.retention))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if err := s.sweepOrders(); err != nil {
			s.log.Warn("trimming order logs failed; retrying at the next sweep", "err", err)
		}
	}
}

// sweepOrders finds the order streams with SCAN (on every master of a
// Redis Cluster) and trims each.
func (s *RedisStore) sweepOrders() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	each := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, s.names.RoomKeyPattern("orders"), 1000).Iterator()
		for it.Next(ctx) {
			room, ok := s.names.RoomOfKey(it.Val(), "orders")
			if !ok {
				continue
			}
			if err := s.trimOrders(ctx, room); err != nil {
				return err
			}
		}
		return it.Err()
	}
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, each)
	case *redis.Client:
		return each(ctx, c)
	}
	return nil
}
