package server

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
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
				l.failed(errors.New("redis down"))
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
	l.failed(errors.New("redis down"))
	if !strings.Contains(buf.String(), "also_failed_since_last_line=999") {
		t.Fatalf("second line does not count the 999 left out:\n%s", buf.String())
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
