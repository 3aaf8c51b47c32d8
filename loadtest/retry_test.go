package main

import (
	"testing"
	"time"
)

// An overloaded answer is retried no sooner than its retry_after_ms, with
// up to as much again of jitter (1s when the answer carries none).
func TestRetryAfter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 200 {
		d := retryAfter(40)
		if d < 40*time.Millisecond || d > 80*time.Millisecond {
			t.Fatalf("retryAfter(40) = %v, want 40ms to 80ms", d)
		}
		seen[d] = true
		if d := retryAfter(0); d < time.Second || d > 2*time.Second {
			t.Fatalf("retryAfter(0) = %v, want 1s to 2s", d)
		}
	}
	if len(seen) < 5 {
		t.Fatalf("retryAfter(40) took %d values in 200 draws: no jitter", len(seen))
	}
}
