// Package testutil holds the helpers the project's tests share. It is
// imported from _test.go files only.
package testutil

import (
	"testing"
	"time"
)

// WaitLong bounds every wait of Eventually: long enough for a loaded
// 2-CPU machine running the race detector, short enough that a condition
// that never holds fails the test rather than its timeout.
const WaitLong = 10 * time.Second

// Eventually polls cond every 10ms until it holds, or fails the test with
// what after WaitLong. It proves that something happens, never how fast
// (benchmarks prove speed). It must be called from the test's goroutine.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(WaitLong)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not true within %s", what, WaitLong)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// EventuallyNil is Eventually for a check that tells why it fails: it
// polls f until it returns nil, or fails the test with the last error.
func EventuallyNil(tb testing.TB, what string, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(WaitLong)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: still failing after %s: %v", what, WaitLong, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
