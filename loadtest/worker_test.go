package main

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// fakeGroup records what the coordinator asks of a group.
type fakeGroup struct {
	mu       sync.Mutex
	calls    []string
	stats    *Stats
	finished bool
}

func (f *fakeGroup) note(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}
func (f *fakeGroup) wait(context.Context, string) error { return nil }
func (f *fakeGroup) published(room int, seq uint64, nano int64) {
	f.note("pub " + itoa(room) + " " + itoa(int(seq)) + " " + itoa(int(nano)))
}
func (f *fakeGroup) final(room int, seq uint64) { f.note("final " + itoa(room) + " " + itoa(int(seq))) }
func (f *fakeGroup) startSale(at int64)         { f.note("sale " + itoa(int(at))) }
func (f *fakeGroup) drop(at int64)              { f.note("drop " + itoa(int(at))) }
func (f *fakeGroup) progress() progress         { return progress{} }
func (f *fakeGroup) finish(context.Context) (*Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = true
	// As from a worker: through JSON.
	b, err := json.Marshal(f.stats)
	if err != nil {
		return nil, err
	}
	var st Stats
	return &st, json.Unmarshal(b, &st)
}

func TestHandleCommand(t *testing.T) {
	t.Parallel()
	f := &fakeGroup{}
	for _, l := range []string{"pub 3 17 123456789", "final 3 17", "bogus 1", "", "pub"} {
		handleCommand(f, l)
	}
	handleCommand(f, "sale 1700000000000")
	handleCommand(f, "drop 42")
	// sale and drop run in their own goroutines (they wait for phaseReady).
	deadline := time.Now().Add(2 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.calls)
		f.mu.Unlock()
		if n == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	got := slices.Clone(f.calls)
	slices.Sort(got[3:])
	want := []string{"pub 3 17 123456789", "final 3 17", "pub 0 0 0", "drop 42", "sale 1700000000000"}
	if !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestFinishGroupsMergesWorkers checks the parent's merge of its workers'
// results, histograms included.
func TestFinishGroupsMergesWorkers(t *testing.T) {
	t.Parallel()
	mk := func(conns, delivered int64, lat ...time.Duration) *Stats {
		h := newHist()
		for _, d := range lat {
			recordDuration(h, d)
		}
		return &Stats{Conns: conns, Connected: conns, Delivered: delivered, Disconnects: map[string]int64{"4000": 1},
			Hists: map[string]*hdrhistogram.Histogram{histEvent: h}}
	}
	g1 := &fakeGroup{stats: mk(10, 100, time.Millisecond, 2*time.Millisecond)}
	g2 := &fakeGroup{stats: mk(20, 300, 100*time.Millisecond)}
	c := &coordinator{cfg: &Config{Drain: time.Second}}
	c.setStage("test")
	st, err := c.finishGroups([]group{g1, g2})
	if err != nil {
		t.Fatal(err)
	}
	if !g1.finished || !g2.finished {
		t.Error("not every group finished")
	}
	q := quantiles(st.hist(histEvent))
	if st.Conns != 30 || st.Delivered != 400 || st.Disconnects["4000"] != 2 || q.Count != 3 || q.Max < 99 || q.Min > 1.01 {
		t.Errorf("merged: conns %d delivered %d disconnects %v latency %+v", st.Conns, st.Delivered, st.Disconnects, q)
	}
	r := &Report{Scenario: scenarioViewers}
	r.fill(st)
	if r.LatencyMS != q || r.LatencyOf != "event delivery" {
		t.Errorf("report latency %+v (%s)", r.LatencyMS, r.LatencyOf)
	}
}
