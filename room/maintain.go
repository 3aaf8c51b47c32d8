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
			h.sweepChat()
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
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.FetchTimeout)
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

// maxMaintenanceGoroutines bounds the goroutines sweep starts (pings and
// closes of stalled connections). A ping to a live peer takes one round
// trip; to a dead one, PingTimeout. Without a bound, 19,000 connections that
// went silent together (a network blip) would start 19,000 goroutines in one
// sweep; with it, the rest wait for a later sweep (one a second), which only
// delays finding a dead peer.
const maxMaintenanceGoroutines = 1024

// semaphore is a counting semaphore, as tailscale's syncs.Semaphore.
type semaphore chan struct{}

func newSemaphore(n int) semaphore { return make(semaphore, n) }

// tryAcquire takes a slot if one is free.
func (s semaphore) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s semaphore) release() { <-s }

// sweep closes connections whose write has stalled past WriteTimeout and
// pings those silent for PingInterval. It picks them under h.mu and starts
// their goroutines after releasing it; each holds a slot of h.pings and is
// waited for in Close. Stalled connections come first: a slot short, a
// ping can wait more easily than a close.
func (h *Hub) sweep() {
	now := time.Now().UnixNano()
	stallLimit := int64(h.cfg.WriteTimeout)
	pingAfter := int64(h.cfg.PingInterval)
	var stalled, silent []*Conn
	h.mu.RLock()
	for c := range h.conns {
		if from := c.ws.WriteStart(); from != 0 {
			// A write in progress is the stall limit's to judge, not a
			// ping's: a ping would queue behind the write, and its
			// timeout (PingTimeout, from now) could drop a stalled
			// connection before the stall limit closes it with 4000.
			if now-from > stallLimit {
				stalled = append(stalled, c)
			}
		} else if now-c.lastRead.Load() > pingAfter {
			silent = append(silent, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range stalled {
		if !h.pings.tryAcquire() {
			return // the next sweep finds it again
		}
		h.metrics.slowClosed.Inc()
		h.log.Info("closing a connection whose writes stalled", "conn", c.id)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer h.pings.release()
			c.ws.CloseNow() // unblocks the stalled write; the writer then ends
		}()
	}
	for _, c := range silent {
		if !c.pinging.CompareAndSwap(false, true) {
			continue // its last ping is still out
		}
		if !h.pings.tryAcquire() {
			c.pinging.Store(false)
			return
		}
		h.wg.Add(1)
		go h.ping(c)
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
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.FetchTimeout)
		h.resync(ctx, r)
		cancel()
	}
}

// ping runs in its own goroutine, started by sweep with a slot of h.pings;
// it ends within PingTimeout, or at once when the hub closes.
func (h *Hub) ping(c *Conn) {
	defer h.wg.Done()
	defer h.pings.release()
	defer c.pinging.Store(false)
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.PingTimeout)
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

// Close stops the hub at once: it cancels the hub's context (ending
// repairs, resyncs and pings in flight), stops the rooms' timers, ends the
// maintenance loop and the writer pool, closes the broker if the hub made
// it, drops every connection still open (without a close handshake: their
// read loops then end; Shutdown is the graceful way), and waits for the
// hub's goroutines. It is idempotent.
func (h *Hub) Close() {
	h.closing.Store(true)
	h.stopOnce.Do(func() {
		h.cancel()
		close(h.stop)
		h.mu.RLock()
		for _, r := range h.rooms {
			r.mu.Lock()
			r.stopTimerLocked()
			r.mu.Unlock()
		}
		conns := make([]*Conn, 0, len(h.conns))
		for c := range h.conns {
			conns = append(conns, c)
		}
		h.mu.RUnlock()
		if c, ok := h.broker.(io.Closer); ok && h.ownBroker {
			c.Close()
		}
		for _, c := range conns {
			c.ws.CloseNow()
		}
	})
	h.wg.Wait()
}
