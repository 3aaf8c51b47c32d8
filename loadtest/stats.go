package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1us to 10 minutes, with 3
// significant digits; every histogram of the tester has this geometry so
// that they merge without loss.
const (
	histLowest  = 1
	histHighest = int64(10 * time.Minute / time.Microsecond)
	histDigits  = 3
	histShards  = 16
)

// Names of the histograms in Stats.Hists.
const (
	histJoin     = "join"     // dial to snapshot
	histEvent    = "event"    // publish (creator's send) to receipt by a viewer
	histPurchase = "purchase" // buy sent to its reply
	histRecover  = "recover"  // the storm's drop to caught up
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

func recordDuration(h *hdrhistogram.Histogram, d time.Duration) {
	us := int64(d / time.Microsecond)
	us = max(histLowest, min(us, histHighest))
	_ = h.RecordValue(us) // cannot fail: the value is in range
}

// recorder is a latency histogram that many goroutines record into: one
// histogram per shard, each under its own lock, merged when read.
type recorder struct {
	shards [histShards]recorderShard
}

type recorderShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [48]byte // keeps shards on separate cache lines
}

func newRecorder() *recorder {
	r := &recorder{}
	for i := range r.shards {
		r.shards[i].h = newHist()
	}
	return r
}

// record adds one latency; key picks the shard (a connection index).
func (r *recorder) record(key int, d time.Duration) {
	s := &r.shards[uint(key)%histShards]
	s.mu.Lock()
	recordDuration(s.h, d)
	s.mu.Unlock()
}

// merged returns a new histogram with every shard's values.
func (r *recorder) merged() *hdrhistogram.Histogram {
	h := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		h.Merge(s.h)
		s.mu.Unlock()
	}
	return h
}

// counter is an int64 that many goroutines add to, sharded like recorder.
type counter struct {
	shards [histShards]struct {
		n atomic.Int64
		_ [56]byte
	}
}

func (c *counter) add(key int, n int64) { c.shards[uint(key)%histShards].n.Add(n) }

func (c *counter) load() int64 {
	var t int64
	for i := range c.shards {
		t += c.shards[i].n.Load()
	}
	return t
}

// atomicMax keeps the largest value stored.
func atomicMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// atomicMinNonZero keeps the smallest non-zero value stored.
func atomicMinNonZero(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if (old != 0 && old <= v) || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// Quantiles summarizes a histogram, in milliseconds.
type Quantiles struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func quantiles(h *hdrhistogram.Histogram) Quantiles {
	if h == nil || h.TotalCount() == 0 {
		return Quantiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Quantiles{
		Count: h.TotalCount(),
		Min:   ms(h.Min()),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// Stats are the figures of one group of connections (one process). Stats
// of several worker processes merge into one with Merge; they travel from a
// worker to its parent as JSON, the histograms as hdrhistogram snapshots.
type Stats struct {
	Conns         int64 `json:"conns"`          // connections this group was to open
	Connected     int64 `json:"connected"`      // joined (snapshot received)
	ConnectFailed int64 `json:"connect_failed"` // gave up on the first join
	Messages      int64 `json:"messages"`       // server messages received
	Delivered     int64 `json:"delivered"`      // room events (with seq) applied in order
	Gaps          int64 `json:"gaps"`           // seq jumps seen, plus streams left behind at the end
	GapEvents     int64 `json:"gap_events"`     // events skipped by the jumps
	Duplicates    int64 `json:"duplicates"`     // events with a seq already applied
	Missing       int64 `json:"missing"`        // events never received by connections open at the end
	Behind        int64 `json:"behind"`         // connections open at the end that missed the last events
	Unmatched     int64 `json:"unmatched"`      // events received whose publish time the tester never learned
	Resyncs       int64 `json:"resyncs"`        // joins with since sent after a gap

	Errors      int64            `json:"errors"`
	ErrorKinds  map[string]int64 `json:"error_kinds,omitempty"`
	Disconnects map[string]int64 `json:"disconnects,omitempty"` // unexpected closes by close code
	Violations  map[string]int64 `json:"violations,omitempty"`  // protocol deviations seen

	FirstEventNano int64 `json:"first_event_ns,omitempty"`
	LastEventNano  int64 `json:"last_event_ns,omitempty"`

	// flashsale
	Buyers         int64            `json:"buyers,omitempty"`   // buyers that sent a buy
	Attempts       int64            `json:"attempts,omitempty"` // buy messages sent
	Answers        map[string]int64 `json:"answers,omitempty"`  // each buyer's final answer: ok or an error code
	Retried        map[string]int64 `json:"retried,omitempty"`  // answers that were retried, by code
	OrderIDs       []string         `json:"order_ids,omitempty"`
	FirstBuyNano   int64            `json:"first_buy_ns,omitempty"`
	LastAnswerNano int64            `json:"last_answer_ns,omitempty"`
	LastOKNano     int64            `json:"last_ok_ns,omitempty"`
	OffsetMaxMS    float64          `json:"offset_max_ms,omitempty"` // largest |server - local clock| seen

	// storm
	Dropped           int64            `json:"dropped,omitempty"`
	Recovered         int64            `json:"recovered,omitempty"`
	Reconnects        int64            `json:"reconnects,omitempty"` // reconnect attempts
	ReconnectFailures int64            `json:"reconnect_failures,omitempty"`
	ReconnectErrors   map[string]int64 `json:"reconnect_errors,omitempty"` // failed attempts by kind (not errors: a storm expects some)
	ViaSnapshot       int64            `json:"via_snapshot,omitempty"`
	ViaReplay         int64            `json:"via_replay,omitempty"`
	LastRecoveredNano int64            `json:"last_recovered_ns,omitempty"`

	// the first join of every viewer: from the first dial to the last
	// snapshot received
	FirstDialNano  int64 `json:"first_dial_ns,omitempty"`
	LastJoinedNano int64 `json:"last_joined_ns,omitempty"`

	Hists map[string]*hdrhistogram.Histogram `json:"-"`
}

// Merge adds o into s.
func (s *Stats) Merge(o *Stats) error {
	s.Conns += o.Conns
	s.Connected += o.Connected
	s.ConnectFailed += o.ConnectFailed
	s.Messages += o.Messages
	s.Delivered += o.Delivered
	s.Gaps += o.Gaps
	s.GapEvents += o.GapEvents
	s.Duplicates += o.Duplicates
	s.Missing += o.Missing
	s.Behind += o.Behind
	s.Unmatched += o.Unmatched
	s.Resyncs += o.Resyncs
	s.Errors += o.Errors
	s.ErrorKinds = addCounts(s.ErrorKinds, o.ErrorKinds)
	s.Disconnects = addCounts(s.Disconnects, o.Disconnects)
	s.Violations = addCounts(s.Violations, o.Violations)
	s.FirstEventNano = minNonZero(s.FirstEventNano, o.FirstEventNano)
	s.LastEventNano = max(s.LastEventNano, o.LastEventNano)

	s.Buyers += o.Buyers
	s.Attempts += o.Attempts
	s.Answers = addCounts(s.Answers, o.Answers)
	s.Retried = addCounts(s.Retried, o.Retried)
	s.OrderIDs = append(s.OrderIDs, o.OrderIDs...)
	s.FirstBuyNano = minNonZero(s.FirstBuyNano, o.FirstBuyNano)
	s.LastAnswerNano = max(s.LastAnswerNano, o.LastAnswerNano)
	s.LastOKNano = max(s.LastOKNano, o.LastOKNano)
	s.OffsetMaxMS = max(s.OffsetMaxMS, o.OffsetMaxMS)

	s.Dropped += o.Dropped
	s.Recovered += o.Recovered
	s.Reconnects += o.Reconnects
	s.ReconnectFailures += o.ReconnectFailures
	s.ReconnectErrors = addCounts(s.ReconnectErrors, o.ReconnectErrors)
	s.ViaSnapshot += o.ViaSnapshot
	s.ViaReplay += o.ViaReplay
	s.LastRecoveredNano = max(s.LastRecoveredNano, o.LastRecoveredNano)
	s.FirstDialNano = minNonZero(s.FirstDialNano, o.FirstDialNano)
	s.LastJoinedNano = max(s.LastJoinedNano, o.LastJoinedNano)

	for name, h := range o.Hists {
		if s.Hists == nil {
			s.Hists = map[string]*hdrhistogram.Histogram{}
		}
		dst := s.Hists[name]
		if dst == nil {
			dst = newHist()
			s.Hists[name] = dst
		}
		if dropped := dst.Merge(h); dropped != 0 {
			return fmt.Errorf("merging histogram %s: %d values dropped", name, dropped)
		}
	}
	return nil
}

// hist returns the named histogram, empty when absent.
func (s *Stats) hist(name string) *hdrhistogram.Histogram {
	if h := s.Hists[name]; h != nil {
		return h
	}
	return newHist()
}

func addCounts(dst, src map[string]int64) map[string]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]int64, len(src))
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

func minNonZero(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// statsJSON is the wire form of Stats: the histograms as snapshots.
type statsJSON struct {
	*statsPlain
	Hists map[string]*hdrhistogram.Snapshot `json:"hists,omitempty"`
}

type statsPlain Stats // without the methods, so no recursion

// MarshalJSON encodes the stats with their histograms (Export).
func (s *Stats) MarshalJSON() ([]byte, error) {
	w := statsJSON{statsPlain: (*statsPlain)(s)}
	for _, name := range slices.Sorted(maps.Keys(s.Hists)) {
		if w.Hists == nil {
			w.Hists = map[string]*hdrhistogram.Snapshot{}
		}
		w.Hists[name] = s.Hists[name].Export()
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes stats, validating and importing their histograms.
func (s *Stats) UnmarshalJSON(b []byte) error {
	w := statsJSON{statsPlain: (*statsPlain)(s)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	s.Hists = nil
	for name, snap := range w.Hists {
		if err := snap.Validate(); err != nil {
			return fmt.Errorf("histogram %s: %w", name, err)
		}
		if snap.LowestTrackableValue != histLowest || snap.HighestTrackableValue != histHighest || snap.SignificantFigures != histDigits {
			return fmt.Errorf("histogram %s: geometry %d..%d/%d, want %d..%d/%d", name,
				snap.LowestTrackableValue, snap.HighestTrackableValue, snap.SignificantFigures, histLowest, histHighest, histDigits)
		}
		if s.Hists == nil {
			s.Hists = map[string]*hdrhistogram.Histogram{}
		}
		s.Hists[name] = hdrhistogram.Import(snap)
	}
	return nil
}
