package server

import (
	"bytes"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/liveserver/liveserver/protocol"
)

// A burst of failures logs one line; the next line, a second later, says
// how many were left out.
func TestFailureLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	l := newFailureLog(slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, nil)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 125 {
				l.failedAs(protocol.CodeUnavailable, errors.New("redis down"))
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	lines := strings.Count(buf.String(), "\n")
	mu.Unlock()
	if lines != 1 {
		t.Fatalf("%d lines for a burst of 1000 failures, want 1:\n%s", lines, buf.String())
	}
	l.next.Store(0) // as if a second had passed
	l.failedAs(protocol.CodeUnavailable, errors.New("redis down"))
	// Every failure is on a line or counted on one. (A failure that comes
	// while a line is being written may be counted on that line rather
	// than the next.)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	total := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		total++
		if _, after, ok := strings.Cut(line, "also_failed_since_last_line="); ok {
			n, err := strconv.Atoi(strings.Fields(after)[0])
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	if total != 1001 || strings.Count(out, "\n") != 2 {
		t.Fatalf("1001 failures logged as %d (want 2 lines):\n%s", total, out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
