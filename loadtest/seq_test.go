package main

import "testing"

func TestSeqTracker(t *testing.T) {
	t.Parallel()
	type step struct {
		seq    uint64
		want   seqVerdict
		missed uint64
		last   uint64 // after the step
	}
	var tr seqTracker
	if v, _ := tr.observe(1); v != seqUnsynced {
		t.Fatalf("an event before the snapshot: %v, want seqUnsynced", v)
	}
	tr.reset(10) // snapshot at seq 10
	for i, s := range []step{
		{11, seqNext, 0, 11},
		{12, seqNext, 0, 12},
		{12, seqDup, 0, 12},
		{5, seqDup, 0, 12},
		{15, seqGap, 2, 12}, // 13 and 14 skipped; 15 not applied
		{13, seqNext, 0, 13},
		{20, seqGap, 6, 13},
	} {
		v, missed := tr.observe(s.seq)
		if v != s.want || missed != s.missed || tr.last.Load() != s.last {
			t.Fatalf("step %d: observe(%d) = %v, %d, last %d; want %v, %d, last %d", i, s.seq, v, missed, tr.last.Load(), s.want, s.missed, s.last)
		}
	}
	// Resyncing after a gap: stale events (before the resync's reply)
	// are ignored, the next one is applied.
	tr.resyncing = true
	for _, seq := range []uint64{20, 21, 13} {
		if v, _ := tr.observe(seq); v != seqStale {
			t.Fatalf("resyncing: observe(%d) = %v, want seqStale", seq, v)
		}
	}
	if v, _ := tr.observe(14); v != seqNext || tr.last.Load() != 14 {
		t.Fatalf("resyncing: the next event was not applied")
	}
	// A snapshot moves the position and ends a resync.
	tr.reset(100)
	if tr.resyncing {
		t.Fatal("reset kept resyncing")
	}
	if v, missed := tr.observe(102); v != seqGap || missed != 1 {
		t.Fatalf("after reset(100), observe(102) = %v, %d", v, missed)
	}
}
