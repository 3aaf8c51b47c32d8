package main

import "sync/atomic"

// seqTracker follows the seq of one room's events on one connection and
// finds gaps (docs/PROTOCOL.md, Ordering and resume). It is owned by the
// connection's reader goroutine; last is atomic only so that the group can
// poll it while draining.
type seqTracker struct {
	last   atomic.Uint64 // last seq applied
	synced bool          // a snapshot or a replay start set last
	// resyncing: a gap was seen and a join with since was sent; until its
	// reply, events other than the next one are stale and ignored.
	resyncing bool
}

type seqVerdict int

const (
	seqNext     seqVerdict = iota // the expected event: applied
	seqGap                        // seq skipped events: not applied
	seqDup                        // seq already applied: ignored
	seqStale                      // while resyncing, not the next one: ignored
	seqUnsynced                   // no snapshot yet: a protocol violation
)

// reset sets the position, after a snapshot.
func (t *seqTracker) reset(seq uint64) {
	t.last.Store(seq)
	t.synced = true
	t.resyncing = false
}

// observe classifies an event's seq and applies it when it is the next one.
// For a gap, missed is how many events were skipped.
func (t *seqTracker) observe(seq uint64) (v seqVerdict, missed uint64) {
	if !t.synced {
		return seqUnsynced, 0
	}
	last := t.last.Load()
	switch {
	case seq == last+1:
		t.last.Store(seq)
		return seqNext, 0
	case t.resyncing:
		return seqStale, 0
	case seq <= last:
		return seqDup, 0
	}
	return seqGap, seq - last - 1
}
