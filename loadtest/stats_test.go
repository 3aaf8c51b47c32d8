package main

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func TestRecorderMergesShards(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	want := newHist()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; i < 2000; i++ {
				d := time.Duration(rng.IntN(500_000)) * time.Microsecond
				r.record(w*1000+i, d)
				mu.Lock()
				recordDuration(want, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	got := r.merged()
	if got.TotalCount() != 16000 || !got.Equals(want) {
		t.Fatalf("merged %d values, %v; want the same histogram as one fed everything (%d, %v)",
			got.TotalCount(), quantiles(got), want.TotalCount(), quantiles(want))
	}
}

func TestRecordDurationClamps(t *testing.T) {
	t.Parallel()
	h := newHist()
	recordDuration(h, -time.Second)
	recordDuration(h, time.Hour)
	if h.TotalCount() != 2 || h.Min() != histLowest || !h.ValuesAreEquivalent(h.Max(), histHighest) {
		t.Errorf("count %d min %d max %d: out-of-range values must be clamped, not dropped", h.TotalCount(), h.Min(), h.Max())
	}
}

func TestQuantiles(t *testing.T) {
	t.Parallel()
	h := newHist()
	for i := 1; i <= 1000; i++ {
		recordDuration(h, time.Duration(i)*time.Millisecond)
	}
	q := quantiles(h)
	near := func(got, want float64) bool { return got >= want*0.999 && got <= want*1.001 }
	if q.Count != 1000 || !near(q.P50, 500) || !near(q.P90, 900) || !near(q.P99, 990) || !near(q.P999, 999) || !near(q.Max, 1000) || !near(q.Min, 1) {
		t.Errorf("quantiles = %+v", q)
	}
	if z := quantiles(newHist()); z != (Quantiles{}) {
		t.Errorf("quantiles of an empty histogram = %+v, want zero", z)
	}
}

func sampleStats(seed uint64, n int) (*Stats, []time.Duration) {
	rng := rand.New(rand.NewPCG(seed, seed))
	h := newHist()
	var vals []time.Duration
	for i := 0; i < n; i++ {
		d := time.Duration(rng.IntN(2_000_000)) * time.Microsecond
		vals = append(vals, d)
		recordDuration(h, d)
	}
	return &Stats{Hists: map[string]*hdrhistogram.Histogram{histEvent: h}}, vals
}

// TestStatsMerge checks what the parent does with its workers' results:
// decode each (histograms imported from their snapshots) and merge.
func TestStatsMerge(t *testing.T) {
	t.Parallel()
	a, va := sampleStats(1, 3000)
	b, vb := sampleStats(2, 5000)
	a.Conns, a.Connected, a.Delivered, a.Gaps, a.Errors = 10, 9, 100, 1, 2
	b.Conns, b.Connected, b.Delivered, b.Gaps, b.Errors = 20, 20, 250, 0, 3
	a.ErrorKinds = map[string]int64{"join_timeout": 1, "disconnect_4000": 1}
	b.ErrorKinds = map[string]int64{"disconnect_4000": 3}
	a.Disconnects = map[string]int64{"4000": 1}
	b.Disconnects = map[string]int64{"4000": 3, "1001": 2}
	a.Answers = map[string]int64{"ok": 4, "sold_out": 6}
	b.Answers = map[string]int64{"ok": 6}
	a.OrderIDs, b.OrderIDs = []string{"o1", "o2"}, []string{"o3"}
	a.FirstBuyNano, b.FirstBuyNano = 500, 300
	a.LastAnswerNano, b.LastAnswerNano = 900, 1200
	a.LastRecoveredNano, b.LastRecoveredNano = 7, 0
	b.Hists[histJoin] = newHist()
	recordDuration(b.Hists[histJoin], 3*time.Millisecond)

	total := &Stats{}
	for _, s := range []*Stats{a, b} {
		raw, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var decoded Stats
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatal(err)
		}
		if err := total.Merge(&decoded); err != nil {
			t.Fatal(err)
		}
	}

	want := newHist()
	for _, d := range append(va, vb...) {
		recordDuration(want, d)
	}
	if got := total.hist(histEvent); !got.Equals(want) {
		t.Errorf("merged event histogram %v, want %v", quantiles(got), quantiles(want))
	}
	if got := total.hist(histJoin); got.TotalCount() != 1 {
		t.Errorf("join histogram has %d values, want 1 (only in b)", got.TotalCount())
	}
	if total.Conns != 30 || total.Connected != 29 || total.Delivered != 350 || total.Gaps != 1 || total.Errors != 5 {
		t.Errorf("sums: %+v", total)
	}
	if total.ErrorKinds["disconnect_4000"] != 4 || total.ErrorKinds["join_timeout"] != 1 ||
		total.Disconnects["4000"] != 4 || total.Disconnects["1001"] != 2 || total.Answers["ok"] != 10 || total.Answers["sold_out"] != 6 {
		t.Errorf("maps: errors %v disconnects %v answers %v", total.ErrorKinds, total.Disconnects, total.Answers)
	}
	if len(total.OrderIDs) != 3 || total.FirstBuyNano != 300 || total.LastAnswerNano != 1200 || total.LastRecoveredNano != 7 {
		t.Errorf("orders %v first buy %d last answer %d last recovered %d", total.OrderIDs, total.FirstBuyNano, total.LastAnswerNano, total.LastRecoveredNano)
	}
}

func TestStatsUnmarshalRejectsForeignHistograms(t *testing.T) {
	t.Parallel()
	other := hdrhistogram.New(1, 1000, 2)
	other.RecordValue(5)
	raw, _ := json.Marshal(map[string]any{"conns": 1, "hists": map[string]any{histEvent: other.Export()}})
	var s Stats
	if err := json.Unmarshal(raw, &s); err == nil || !strings.Contains(err.Error(), "geometry") {
		t.Errorf("a histogram of another geometry was accepted: %v", err)
	}
	bad := newHist().Export()
	bad.Counts[3] = -1
	raw, _ = json.Marshal(map[string]any{"hists": map[string]any{histEvent: bad}})
	if err := json.Unmarshal(raw, &s); err == nil {
		t.Error("a histogram with a negative count was accepted")
	}
}

func TestCounterAndAtomics(t *testing.T) {
	t.Parallel()
	var c counter
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.add(w*7+i, 1)
			}
		}()
	}
	wg.Wait()
	if c.load() != 4000 {
		t.Errorf("counter = %d, want 4000", c.load())
	}
	var s Stats
	s.FirstBuyNano = minNonZero(0, 5)
	if s.FirstBuyNano != 5 || minNonZero(5, 0) != 5 || minNonZero(3, 5) != 3 {
		t.Error("minNonZero")
	}
}
