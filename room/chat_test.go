package room

import "testing"

// The sampling decisions depend only on the comments' ids and windows, so
// every node that sees the same comments decides alike.
func TestChatSamplingDecisions(t *testing.T) {
	const rate = 3
	var a, b chatRoom
	var modes []bool
	delivered := 0
	for id := uint64(1); id <= 12; id++ {
		everyone, mode := a.admit(id, 100, rate)
		e2, m2 := b.admit(id, 100, rate)
		if everyone != e2 || (mode == nil) != (m2 == nil) {
			t.Fatalf("comment %d: two rooms decided differently", id)
		}
		if mode != nil {
			modes = append(modes, *mode)
		}
		if everyone {
			delivered++
		}
		if id <= rate && !everyone {
			t.Fatalf("comment %d of %d in the window was sampled out", id, rate)
		}
	}
	if len(modes) != 1 || !modes[0] {
		t.Fatalf("modes announced %v, want [true]", modes)
	}
	if delivered >= 12 || delivered < rate {
		t.Fatalf("delivered %d of 12 at rate %d", delivered, rate)
	}
	// The next window is still busy: still sampled, k from the last window.
	if everyone, mode := a.admit(13, 101, rate); mode != nil || everyone != (13%4 == 0) {
		t.Fatalf("comment 13 in the next window: everyone %v, mode %v", everyone, mode)
	}
	// Quiet windows: one closed window at or below the rate is not enough,
	// two are.
	if a.advance(102, rate) {
		t.Fatal("sampling ended after one quiet window")
	}
	if !a.advance(103, rate) || a.sampled {
		t.Fatal("sampling did not end after two quiet windows")
	}
	// Comments stopping altogether: the sweep's advance ends it.
	var c chatRoom
	for id := uint64(1); id <= 5; id++ {
		c.admit(id, 200, rate)
	}
	if !c.sampled {
		t.Fatal("5 comments at rate 3 not sampled")
	}
	if !c.advance(205, rate) {
		t.Fatal("a gap of windows did not end sampling")
	}
}
