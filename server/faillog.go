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

func (l *failureLog) failed(err error) {
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(failureLogEvery)) {
		l.suppressed.Add(1)
		return
	}
	if n := l.suppressed.Swap(0); n > 0 {
		l.log.Warn(l.msg, "err", err, "also_failed_since_last_line", n)
		return
	}
	l.log.Warn(l.msg, "err", err)
}
