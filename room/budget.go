package room

import (
	"math"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The node's budget of queued output.
//
// Like NATS (max_pending per client) and Centrifuge (a byte-bounded queue
// per client), every connection has its own limit, MaxQueueBytes, counting
// every message it has not been sent yet. That alone bounds a node's queued
// memory only by connections x MaxQueueBytes (19,000 x 4 MiB), so the node
// also has a budget, MaxNodeQueueBytes, on the bytes queued that one
// connection holds alone: replies, errors, pongs, the stock messages of its
// joins. Messages fanned out to a room (events, stock, viewers, the shared
// snapshot) are one buffer however many queues hold them, so they are not
// charged to it: a 260 KB catalog event queued for 10,000 viewers is 260 KB
// of memory, and charging it 10,000 times would close healthy viewers in
// every large fan-out. What they retain is bounded by MaxQueueBytes per room
// instead (every queue of a room holds a suffix of the same stream).
//
// When an enqueue finds the node over its budget, the connection is closed
// as a slow consumer (4000) if its own backlog is at least its fair share,
// the budget divided by the connections with a backlog: the largest
// backlogs go, the short queues of clients that read never do. Some
// connection is always over its share while the node is over budget, and a
// connection under its share can add at most its share, so the node's own
// bytes stay under twice the budget.
type queueBudget struct {
	max        int64
	total      atomic.Int64 // own bytes queued on the node
	backlogged atomic.Int64 // connections with own bytes queued
}

// defaultNodeQueueBytes is a quarter of the Go memory limit (GOMEMLIMIT)
// when one is set, else 512 MiB.
func defaultNodeQueueBytes() int64 {
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim != math.MaxInt64 {
		return lim / 4
	}
	return 512 << 20
}

// over reports whether a connection holding own bytes must not add n more.
func (b *queueBudget) over(own, n int) bool {
	if b.total.Load()+int64(n) <= b.max {
		return false
	}
	holders := b.backlogged.Load()
	if own == 0 {
		holders++
	}
	return int64(own+n) >= b.max/max(holders, 1)
}

// chargeOwnLocked adds n own bytes of c to the node's total.
func (c *Conn) chargeOwnLocked(n int) {
	if c.own == 0 {
		c.hub.budget.backlogged.Add(1)
	}
	c.own += n
	c.hub.budget.total.Add(int64(n))
}

// releaseOwnLocked takes n own bytes of c, sent or dropped, off the total.
func (c *Conn) releaseOwnLocked(n int) {
	c.own -= n
	c.hub.budget.total.Add(-int64(n))
	if c.own == 0 {
		c.hub.budget.backlogged.Add(-1)
	}
}

// dropOwnLocked releases everything c holds, for a queue being dropped.
func (c *Conn) dropOwnLocked() {
	if c.own > 0 {
		c.releaseOwnLocked(c.own)
	}
	c.ownq = nil
}

// dequeuedLocked is called by take for each ordered message it takes: an
// own message is the oldest of ownq (both are in queue order), found by
// its buffer.
func (c *Conn) dequeuedLocked(msg []byte) {
	if len(c.ownq) > 0 && len(msg) > 0 && len(c.ownq[0]) == len(msg) && &c.ownq[0][0] == &msg[0] {
		c.ownq[0] = nil
		c.ownq = c.ownq[1:]
		if len(c.ownq) == 0 {
			c.ownq = nil
		}
		c.releaseOwnLocked(len(msg))
	}
}

// replaceOwnVolLocked conflates v with msg, moving the budget's charge.
func (c *Conn) replaceOwnVolLocked(v *volatileMsg, msg []byte, own bool) {
	if v.own {
		c.releaseOwnLocked(len(v.msg))
	}
	v.msg, v.own = msg, own
	if own {
		c.chargeOwnLocked(len(msg))
	}
}

// sendOwnLocked queues an ordered message this connection holds alone.
func (c *Conn) sendOwnLocked(msg []byte) bool {
	if c.closing || len(msg) == 0 {
		return false
	}
	if c.hub.budget.over(c.own, len(msg)) {
		c.closeOverBudgetLocked()
		return false
	}
	if !c.queueLocked(msg, time.Now(), nil) {
		return false
	}
	c.ownq = append(c.ownq, msg)
	c.chargeOwnLocked(len(msg))
	return true
}

// sendVolatileOwnLocked is sendVolatileLocked for a message this
// connection holds alone.
func (c *Conn) sendVolatileOwnLocked(room, key string, msg []byte) {
	c.putVolatileLocked(room, key, msg, time.Now(), nil, true)
}

// closeOverBudgetLocked closes c as a slow consumer because the node is
// over its budget and c's backlog is among the largest.
func (c *Conn) closeOverBudgetLocked() {
	c.hub.metrics.budgetClosed.Inc()
	c.hub.log.Info("closing a slow consumer: the node's queued output is over -max-node-queue-bytes", "conn", c.id, "own_bytes", c.own)
	c.closeSlowLocked()
}

// QueuedBytes is the bytes queued on this node that one connection holds
// alone, what MaxNodeQueueBytes bounds.
func (h *Hub) QueuedBytes() int64 { return h.budget.total.Load() }

// registerBudgetGauge exports the node's own queued bytes.
func registerBudgetGauge(reg prometheus.Registerer, b *queueBudget) {
	if reg == nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "liveserver_queued_bytes",
		Help: "Bytes queued for clients that one connection holds alone (replies, errors, its joins' stock messages), what -max-node-queue-bytes bounds; room messages shared by many queues are not counted.",
	}, func() float64 { return float64(b.total.Load()) }))
}
