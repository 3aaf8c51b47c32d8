package server

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// failureLog logs unexpected request failures (a Redis outage, a timeout),
// at most one line a second with the number of failures it left out since
// the previous line. During an outage every request fails; a line per
// failure would cost more than the request and serialize every handler on
// the log's writer.
type failureLog struct {
	log        *slog.Logger
	msg        string       // the lines' message
	next       atomic.Int64 // unix nanos before which failures are only counted
	suppressed atomic.Int64
}

const failureLogEvery = time.Second

func newFailureLog(log *slog.Logger) *failureLog {
	return &failureLog{log: log, msg: "request failed"}
}

// failed logs (or counts) one failure.
func (l *failureLog) failed(err error) { l.failedAs("", err) }

// failedAs logs (or counts) one failed request answered with code, which
// its line names.
func (l *failureLog) failedAs(code string, err error) {
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(failureLogEvery)) {
		l.suppressed.Add(1)
		return
	}
	args := make([]any, 0, 6)
	if code != "" {
		args = append(args, "code", code)
	}
	args = append(args, "err", err)
	if n := l.suppressed.Swap(0); n > 0 {
		args = append(args, "also_failed_since_last_line", n)
	}
	l.log.Warn(l.msg, args...)
}
