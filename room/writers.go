package room

import (
	"runtime"
	"sync"
	"time"

	"github.com/liveserver/liveserver/internal/wsock"
)

// writerPool writes for connections whose sockets take the bytes at once.
// Fanning one event out to 10,000 viewers used to start 10,000 writer
// goroutines, each scheduled once to make one write(2) and end; here a few
// long-lived workers (one per CPU) walk a ready list instead and write each
// connection's frame with a non-blocking write (internal/wsock; where the
// platform has none, every frame takes the slow path). A connection whose
// socket does not take the whole frame at once (its peer reads slowly), or
// whose socket is busy with a control frame, or that is closing, is handed
// to a goroutine of its own (Conn.writeLoop) until its queue is empty
// again, so a slow peer never holds a worker.
//
// A connection is on a ready list, in a worker's hands or in its own writer
// goroutine only while Conn.writing is set: one writer at a time, always.
type writerPool struct {
	shards []*writerShard
}

type writerShard struct {
	mu      sync.Mutex
	ready   []*Conn
	running bool // a worker serves this shard; false before Run and after Close
	idle    bool // the worker waits for wake
	wake    chan struct{}

	spare []*Conn // the worker's: the previous batch, reused as the next ready list
}

func newWriterPool() *writerPool {
	p := &writerPool{shards: make([]*writerShard, runtime.GOMAXPROCS(0))}
	for i := range p.shards {
		p.shards[i] = &writerShard{wake: make(chan struct{}, 1)}
	}
	return p
}

// start runs one worker per shard until stop is closed.
func (p *writerPool) start(wg *sync.WaitGroup, stop <-chan struct{}) {
	for _, sh := range p.shards {
		sh.mu.Lock()
		sh.running = true
		sh.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh.run(stop)
		}()
	}
}

// schedule puts c, whose writing flag the caller has just set, on its
// shard's ready list.
func (p *writerPool) schedule(c *Conn) { p.shards[c.id%uint64(len(p.shards))].add(c) }

// add puts connections of this shard, each with its writing flag set, on
// the ready list; when no worker runs (before Run, after Close) each gets a
// writer goroutine of its own instead.
func (sh *writerShard) add(cs ...*Conn) {
	sh.mu.Lock()
	if !sh.running {
		sh.mu.Unlock()
		for _, c := range cs {
			go c.writeListed() // the caller may hold c.mu: claim there
		}
		return
	}
	sh.ready = append(sh.ready, cs...)
	wake := sh.idle
	sh.idle = false
	sh.mu.Unlock()
	if wake {
		sh.wake <- struct{}{} // one send per idle spell: never blocks
	}
}

// fanout is the scratch of one fan-out (under hubRoom.mu): the clock read
// once for every queue, and the connections it made ready, by shard, handed
// to the pool at the end with one lock per shard rather than one per
// connection (the workers take the same locks on the other core).
type fanout struct {
	now     time.Time
	pool    *writerPool
	byShard [][]*Conn
}

// start begins a fan-out whose connections go to p.
func (f *fanout) start(p *writerPool) {
	f.now, f.pool = time.Now(), p
	if len(f.byShard) != len(p.shards) {
		f.byShard = make([][]*Conn, len(p.shards))
	}
}

// add keeps c, whose writing flag was just set, for flush.
func (f *fanout) add(c *Conn) {
	i := c.id % uint64(len(f.byShard))
	f.byShard[i] = append(f.byShard[i], c)
}

// flush hands the connections made ready to the pool.
func (f *fanout) flush() {
	for i, cs := range f.byShard {
		if len(cs) > 0 {
			f.pool.shards[i].add(cs...)
		}
		clear(cs)
		if cap(cs) > maxKeptReady {
			cs = nil
		}
		f.byShard[i] = cs[:0]
	}
}

func (sh *writerShard) run(stop <-chan struct{}) {
	buf := newFrameBuf()
	for {
		select {
		case <-stop:
			sh.stopRunning()
			return
		default:
		}
		sh.mu.Lock()
		if len(sh.ready) == 0 {
			sh.idle = true
			sh.mu.Unlock()
			select {
			case <-sh.wake:
			case <-stop:
				sh.stopRunning()
				return
			}
			continue
		}
		batch := sh.ready
		sh.ready = sh.spare[:0]
		sh.mu.Unlock()
		for i, c := range batch {
			buf = c.writeTurn(buf, true)
			batch[i] = nil
		}
		if cap(batch) > maxKeptReady {
			batch = nil
		}
		sh.spare = batch[:0]
	}
}

// maxKeptReady bounds the ready list a worker keeps between bursts.
const maxKeptReady = 64 << 10

// stopRunning hands whatever is still ready to goroutines of its own, so no
// connection waits on a worker that has gone.
func (sh *writerShard) stopRunning() {
	sh.mu.Lock()
	sh.running = false
	left := sh.ready
	sh.ready = nil
	sh.mu.Unlock()
	for _, c := range left {
		go c.writeListed()
	}
}

// maxTurnFrames is how many frames a worker writes for one connection
// before it moves on to the next ready one (fairness under a steady flow).
const maxTurnFrames = 4

// writeTurn is a worker's turn at c (or a Reply's): it writes what is
// queued while the socket takes every frame whole and at once, and
// otherwise hands c to a writer goroutine of its own. listed: c comes from
// a ready list, and the turn is claimed first (see Conn.Reply). It returns
// the frame buffer, a new one if the old one went with c.
func (c *Conn) writeTurn(buf []byte, listed bool) []byte {
	for i := range maxTurnFrames {
		var frame []byte
		var n int
		var closing bool
		if i == 0 && listed {
			c.mu.Lock()
			if !c.listed {
				c.mu.Unlock()
				return buf // a Reply took the turn
			}
			c.listed = false
			frame, n, closing = c.takeLocked(buf)
			c.mu.Unlock()
		} else {
			frame, n, closing = c.take(buf)
		}
		if n == 0 {
			if closing {
				go c.writeLoop(nil) // the close handshake waits for the peer
			}
			return frame
		}
		done, err := c.ws.WriteBatch(frame, false)
		if err != nil {
			// Not here: CloseNow waits for a close handshake already under
			// way (up to 15 s), and a worker serves many connections.
			go c.writeFailed()
			return keepBuf(frame, buf)
		}
		if !done {
			// The socket is full, or a control frame is being written: the
			// rest of the frame is left with the socket, and the frame
			// buffer and the writing go to a goroutine of its own.
			go c.finishWrite(frame, n)
			return newFrameBuf()
		}
		c.sent(n, len(frame)-wsock.Headroom)
		buf = keepBuf(frame, buf)
	}
	// More may be queued: back to the end of the line, still writing.
	c.mu.Lock()
	c.listed = true
	c.mu.Unlock()
	c.hub.writers.schedule(c)
	return buf
}

// finishWrite is the writer goroutine of a connection whose frame of n
// messages did not go at once: it waits until the socket has written the
// rest (Flush), then carries on as the connection's writer.
func (c *Conn) finishWrite(frame []byte, n int) {
	c.hub.metrics.handoffs.Inc()
	if err := c.ws.Flush(); err != nil {
		c.writeFailed()
		return
	}
	c.sent(n, len(frame)-wsock.Headroom)
	c.writeLoop(frame)
}

// keepBuf returns frame to reuse as the next frame buffer unless it grew
// past maxKeptBuffer.
func keepBuf(frame, old []byte) []byte {
	if cap(frame) <= maxKeptBuffer {
		return frame
	}
	return old[:0]
}
