package room

import (
	"context"
	"io"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// maintain runs until Shutdown or Close: it sends viewer counts, pings
// silent connections and closes connections whose writes stalled.
func (h *Hub) maintain() {
	defer h.wg.Done()
	viewers := time.NewTicker(h.cfg.ViewersInterval)
	defer viewers.Stop()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	reported := map[string]bool{} // rooms in the last report
	for {
		select {
		case <-h.stop:
			return
		case <-viewers.C:
			h.reportViewers(reported)
		case <-sweep.C:
			h.sweep()
			h.retryStale()
		}
	}
}

func (h *Hub) reportViewers(reported map[string]bool) {
	h.mu.RLock()
	local := make(map[string]int64, len(h.rooms)+len(reported))
	for id, r := range h.rooms {
		r.mu.Lock()
		local[id] = r.count
		r.mu.Unlock()
	}
	h.mu.RUnlock()
	for id := range reported {
		if _, ok := local[id]; !ok {
			local[id] = 0 // tell the cluster this node left the room
		}
	}
	clear(reported)
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.FetchTimeout)
	totals, err := h.cfg.Presence.Report(ctx, local)
	cancel()
	if err != nil {
		h.log.Warn("reporting viewer counts failed", "err", err)
		return
	}
	now := protocol.Millis(time.Now())
	h.mu.RLock()
	defer h.mu.RUnlock()
	for id, n := range local {
		if n > 0 {
			reported[id] = true
		}
		r := h.rooms[id]
		if r == nil {
			continue
		}
		r.mu.Lock()
		r.reported = n
		r.total = totals[id]
		v := r.viewersLocked()
		if v != r.totalSent {
			r.totalSent = v
			msg := protocol.Marshal(protocol.Viewers{Type: protocol.TypeViewers, Room: id, TS: now, Count: v})
			for _, s := range r.subs {
				if !s.pending {
					s.c.mu.Lock()
					s.c.sendVolatileLocked(id, protocol.ViewersKey, msg)
					s.c.mu.Unlock()
				}
			}
		}
		r.mu.Unlock()
	}
}

// sweep closes connections whose write has stalled past WriteTimeout and
// pings those silent for PingInterval.
func (h *Hub) sweep() {
	now := time.Now().UnixNano()
	stallLimit := int64(h.cfg.WriteTimeout)
	pingAfter := int64(h.cfg.PingInterval)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.conns {
		if from := c.ws.WriteStart(); from != 0 && now-from > stallLimit {
			h.metrics.slowClosed.Inc()
			h.log.Info("closing a connection whose writes stalled", "conn", c.id)
			go c.ws.CloseNow() // unblocks the stalled write; the writer then ends
			continue
		}
		if now-c.lastRead.Load() > pingAfter && c.pinging.CompareAndSwap(false, true) {
			go h.ping(c)
		}
	}
}

// retryStale resyncs the rooms whose resync failed.
func (h *Hub) retryStale() {
	h.mu.RLock()
	var stale []*hubRoom
	for _, r := range h.rooms {
		r.mu.Lock()
		if r.stale {
			stale = append(stale, r)
		}
		r.mu.Unlock()
	}
	h.mu.RUnlock()
	for _, r := range stale {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.FetchTimeout)
		h.resync(ctx, r)
		cancel()
	}
}

// ping runs in its own goroutine, which ends within PingTimeout.
func (h *Hub) ping(c *Conn) {
	defer c.pinging.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.PingTimeout)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		c.ws.CloseNow()
		return
	}
	c.MarkRead()
}

// Shutdown closes every connection with 1001, spreading the closes over
// most of the time ctx leaves (so clients do not all reconnect at once),
// waits for them to end, and stops the hub. Connections still open when
// ctx ends are dropped. It is idempotent.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing.Store(true)
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()

	window := time.Second
	if dl, ok := ctx.Deadline(); ok {
		window = time.Until(dl) * 8 / 10
	}
	step := time.Duration(0)
	if len(conns) > 1 {
		step = window / time.Duration(len(conns))
	}
	start := time.Now()
	for i, c := range conns {
		c.Close(protocol.CloseGoingAway, "server shutting down", nil)
		if step > 0 {
			// Sleep in slices of at least 10ms rather than per connection.
			if wait := time.Duration(i+1)*step - time.Since(start); wait > 10*time.Millisecond {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
			}
		}
	}
	var err error
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
			c.ws.CloseNow()
		}
	}
	h.Close()
	return err
}

// Close stops the hub's goroutine at once, without closing connections.
func (h *Hub) Close() {
	h.closing.Store(true)
	h.stopOnce.Do(func() {
		close(h.stop)
		if c, ok := h.broker.(io.Closer); ok && h.ownBroker {
			c.Close()
		}
	})
	h.wg.Wait()
}
