package inventory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Purchases and bids go to Redis in pipelines, each through its own
// batcher (so a flash sale's burst of purchases does not queue the bids of
// an auction's last seconds behind it, nor the other way round).
//
// Redis runs the buy script in 17-40 µs, yet one command per pooled
// connection, sent and read by the buyer's own goroutine, held that
// connection for 15-85 ms on a node busy with a flash sale: among
// thousands of runnable goroutines (fan-out writers, handlers) the one
// that sent the command is scheduled late to read its reply. A pool of 200
// connections then drained ~2,400 purchases a second and the rest of a
// burst waited past the request timeout. A batcher pays that scheduling
// delay once per pipeline instead of once per purchase: long-lived
// goroutines each take every queued purchase (up to buyBatchMax), send
// them as one pipeline of EVALSHA on one connection, and hand each caller
// its own reply. Each purchase is still its own atomic script: nothing
// about idempotency, limits, the order stream or the published messages
// changes (Redis may run other clients' commands between two of them, as
// before). Under light load a batch is a single purchase: nothing waits
// for a batch to fill, there is no timer. The same holds for bids: a
// batcher runs one script (the buy script, or auction_bid.lua), and its
// calls are that script's keys and args.

const (
	// defaultBuyPipelines is how many pipelines of purchases a node keeps
	// in flight at most. More than "a few" because a pipeline's time on a
	// node busy with a flash sale is mostly its goroutine waiting to be
	// scheduled (an execution trace of a 19,500-buyer sale showed the
	// pipeline goroutines runnable but not running ~85% of the time, in
	// Redis or on the wire ~10%), not Redis's: the pipelines in flight,
	// times buyBatchMax, must hold a whole burst. Measured on 2 CPUs with
	// 19,500 buyers: 4 pipelines of 256 answered ~5,000 purchases a second,
	// 16 to 64 pipelines of 1,024 ~6,000; with 5,000 buyers, 4x256 ~7,000
	// and 32x1,024 ~11,000. An idle pipeline is a parked goroutine; past
	// the client's pipeline pool (10) a pipeline takes a connection of the
	// main pool.
	defaultBuyPipelines = 32
	// buyBatchMax caps a pipeline. Redis reads a client's commands 16 KiB
	// (about 20 purchases) at a time and serves other clients in between,
	// so a long pipeline does not hold up the other nodes' commands; 1,024
	// purchases are ~25 ms of Redis time and ~1 MiB on the wire.
	buyBatchMax = 1024
)

// errStoreClosed answers a purchase made after (or pending at) Close; like
// a Redis failure, it reaches the client as unavailable (the request had
// time left: see protocol.DependencyFailed).
var errStoreClosed = errors.New("store closed")

// buyCall is one queued purchase.
type buyCall struct {
	ctx  context.Context
	keys []string
	args []any
	// res has room for the one answer, so the batcher never waits for a
	// caller that already left (its context ended). A call made with submit
	// has done instead, which the batcher calls.
	res  chan buyResult
	done func(v []any, err error)
}

// answer gives c its one answer.
func (c *buyCall) answer(v []any, err error) {
	if c.done != nil {
		c.done(v, err)
		return
	}
	c.res <- buyResult{v: v, err: err}
}

type buyResult struct {
	v   []any
	err error
}

// buyBatcher queues purchases (or bids) and runs them in pipelines (see
// above).
type buyBatcher struct {
	rdb     redis.UniversalClient
	script  *redis.Script
	op      string // the round-trip metric's label of a pipeline
	observe func(op string, start time.Time)
	// waitReplicas > 0 ends every pipeline with WAIT (see execWait); set
	// before the first purchase.
	waitReplicas int
	waitTimeout  time.Duration

	mu     sync.Mutex
	queue  []*buyCall // oldest first
	closed bool
	wake   chan struct{} // holds a token while the queue may be non-empty
	done   chan struct{}
	wg     sync.WaitGroup
}

func newBuyBatcher(rdb redis.UniversalClient, script *redis.Script, pipelines int, op string, observe func(string, time.Time)) *buyBatcher {
	b := &buyBatcher{
		rdb: rdb, script: script, op: op, observe: observe,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	b.wg.Add(pipelines)
	for range pipelines {
		go b.loop()
	}
	return b
}

// do runs c (the script with its keys and args) in a pipeline and returns
// its reply. It returns ctx's error if ctx ends first (which the store
// answers overloaded: the node did not get to it in time): a purchase
// still queued then is never sent, one already sent may or may not have happened (as
// when a reply is lost; resending the same request id tells).
func (b *buyBatcher) do(c *buyCall) ([]any, error) {
	ctx := c.ctx
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.res = make(chan buyResult, 1)
	if !b.enqueue(c) {
		return nil, errStoreClosed
	}
	select {
	case r := <-c.res:
		return r.v, r.err
	case <-ctx.Done():
		select { // an answer that came at the same time wins
		case r := <-c.res:
			return r.v, r.err
		default:
			return nil, ctx.Err()
		}
	}
}

// submit queues c, whose done is set, without waiting: done is called once
// with the answer (a context that ends first is answered when the batcher
// takes the call, before anything is sent).
func (b *buyBatcher) submit(c *buyCall) {
	if err := c.ctx.Err(); err != nil {
		c.done(nil, err)
		return
	}
	if !b.enqueue(c) {
		c.done(nil, errStoreClosed)
	}
}

// enqueue adds c to the queue, unless the batcher is closed.
func (b *buyBatcher) enqueue(c *buyCall) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	b.signal()
	return true
}

// signal wakes one idle loop, if none is already due to look at the queue.
func (b *buyBatcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// close fails the queued purchases and waits for the loops, which finish
// the pipeline they are running. Purchases made afterwards fail at once.
func (b *buyBatcher) close() {
	b.mu.Lock()
	var pending []*buyCall
	if !b.closed {
		b.closed = true
		pending, b.queue = b.queue, nil
		close(b.done)
	}
	b.mu.Unlock()
	for _, c := range pending {
		c.answer(nil, errStoreClosed)
	}
	b.wg.Wait()
}

func (b *buyBatcher) loop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case <-b.wake:
		}
		for batch := b.take(); batch != nil; batch = b.take() {
			b.send(batch)
		}
	}
}

// take removes and returns the oldest queued purchases, up to buyBatchMax,
// or nil if none is queued. If more are left it wakes another loop, so a
// burst is spread over every pipeline.
func (b *buyBatcher) take() []*buyCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), buyBatchMax)
	if n == 0 {
		return nil
	}
	batch := make([]*buyCall, n)
	copy(batch, b.queue)
	left := copy(b.queue, b.queue[n:])
	clear(b.queue[left:])
	b.queue = b.queue[:left]
	if left > 0 {
		b.signal()
	}
	return batch
}

// send runs a batch as one pipeline and answers every call in it.
func (b *buyBatcher) send(batch []*buyCall) {
	// A caller whose context has ended gets its error without its purchase
	// being sent: nothing was taken. The pipeline may take as long as the
	// latest caller may wait (go-redis's read and write timeouts bound it
	// if one may wait forever), and is not cut short when the caller that
	// happens to come first leaves.
	live := make([]*buyCall, 0, len(batch))
	var deadline time.Time
	bounded := true
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.answer(nil, err)
			continue
		}
		if d, ok := c.ctx.Deadline(); !ok {
			bounded = false
		} else if d.After(deadline) {
			deadline = d
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.Background()
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}

	cmds := b.exec(ctx, live)
	// After a Redis restart (or SCRIPT FLUSH) the script cache is empty and
	// every EVALSHA answers NOSCRIPT without running: load the script and
	// send those purchases once more.
	var again []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		if err := b.script.Load(ctx, b.rdb).Err(); err == nil {
			retry := make([]*buyCall, len(again))
			for j, i := range again {
				retry[j] = live[i]
			}
			for j, cmd := range b.exec(ctx, retry) {
				cmds[again[j]] = cmd
			}
		}
	}
	for i, c := range live {
		v, err := cmds[i].Slice()
		c.answer(v, err)
	}
}

// exec sends one pipeline of the script, one EVALSHA per call, and
// returns the commands, each with its own reply or error (go-redis sets
// them all when the connection fails).
func (b *buyBatcher) exec(ctx context.Context, calls []*buyCall) []*redis.Cmd {
	if b.waitReplicas > 0 {
		return b.execWait(ctx, calls)
	}
	start := time.Now()
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = b.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // the commands hold the errors
	b.observe(b.op, start)
	return cmds
}

// defaultWaitTimeout bounds a WAIT: below the node's Redis read timeout
// (1s), which must cover the pipeline and the WAIT.
const defaultWaitTimeout = 500 * time.Millisecond

// ErrNotReplicated answers a write (a purchase, a bid, an auction's end)
// whose WAIT fell short: Redis ran it, but fewer replicas than required
// confirmed it in time, so a failover could still lose it. The caller gets
// unavailable; a retry with the same request id answers the real outcome
// (and waits again).
var ErrNotReplicated = errors.New("not confirmed by enough replicas in time")

// pipeliner is a client whose pipelines run on one connection: a
// *redis.Client (one Redis, a Sentinel-managed master, or one master of a
// Redis Cluster), as WAIT needs.
type pipeliner interface{ Pipeline() redis.Pipeliner }

// pipeWait sends the commands add queues and then WAIT replicas as one
// pipeline on c. It returns nil once that many replicas confirmed every
// write of the connection so far (the queued commands' included), else
// ErrNotReplicated or the WAIT's own error; the queued commands hold their
// replies either way.
func pipeWait(ctx context.Context, c pipeliner, replicas int, timeout time.Duration, add func(redis.Pipeliner)) error {
	pipe := c.Pipeline()
	add(pipe)
	wait := pipe.Do(ctx, "wait", replicas, timeout.Milliseconds())
	_, _ = pipe.Exec(ctx) // the commands hold the errors
	got, err := wait.Int64()
	if err != nil {
		return err
	}
	if got < int64(replicas) {
		return ErrNotReplicated
	}
	return nil
}

// execWait is exec followed, on the same connection, by WAIT
// waitReplicas: Redis's replication is asynchronous, and WAIT returns
// once that many replicas acknowledged every write of the connection so
// far, or after waitTimeout with how many did. A purchase is answered only
// if they suffice; else its reply becomes ErrNotReplicated. WAIT must
// follow the writes on their own connection, so on a Redis Cluster the
// batch is split by master, each part a pipeline on that master's client
// (a slot moving meanwhile answers MOVED: the purchase fails unavailable,
// and go-redis reloads the slot map for the retry).
//
// A replayed answer (the same request id) writes too (once in
// lua/common.lua renews its key), so its WAIT covers the original
// purchase's writes, which came before on the same master.
func (b *buyBatcher) execWait(ctx context.Context, calls []*buyCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	cc, ok := b.rdb.(*redis.ClusterClient)
	if !ok {
		b.waitOn(ctx, b.rdb, calls, cmds)
		return cmds
	}
	groups := map[*redis.Client][]int{}
	for i, c := range calls {
		master, err := cc.MasterForKey(ctx, c.keys[0])
		if err != nil {
			cmds[i] = redis.NewCmd(ctx)
			cmds[i].SetErr(err)
			continue
		}
		groups[master] = append(groups[master], i)
	}
	var wg sync.WaitGroup
	for master, idx := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := make([]*buyCall, len(idx))
			for j, i := range idx {
				part[j] = calls[i]
			}
			out := make([]*redis.Cmd, len(idx))
			b.waitOn(ctx, master, part, out)
			for j, i := range idx {
				cmds[i] = out[j]
			}
		}()
	}
	wg.Wait()
	for _, cmd := range cmds {
		if err := cmd.Err(); redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK") {
			cc.ReloadState(ctx)
			break
		}
	}
	return cmds
}

// waitOn sends calls and a WAIT as one pipeline on c, filling cmds.
func (b *buyBatcher) waitOn(ctx context.Context, c pipeliner, calls []*buyCall, cmds []*redis.Cmd) {
	start := time.Now()
	err := pipeWait(ctx, c, b.waitReplicas, b.waitTimeout, func(pipe redis.Pipeliner) {
		for i, call := range calls {
			cmds[i] = b.script.EvalSha(ctx, pipe, call.keys, call.args...)
		}
	})
	b.observe(b.op, start)
	if err == nil {
		return
	}
	for i, cmd := range cmds {
		if cmd.Err() == nil {
			// Ran, but not known to survive a failover.
			cmds[i] = redis.NewCmd(ctx)
			cmds[i].SetErr(err)
		}
	}
}
