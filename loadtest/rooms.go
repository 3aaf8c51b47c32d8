package main

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
)

// roomCounts splits n viewers over rooms: even (counts differ by at most 1)
// or skewed, where room k gets a share proportional to 1/(k+1)^s (zipf-like:
// room 0 is the hot one). Counts add up to n exactly (largest remainder).
func roomCounts(n, rooms int, spread string, s float64) []int {
	counts := make([]int, rooms)
	if rooms == 0 || n <= 0 {
		return counts
	}
	if spread != spreadSkewed {
		for k := range counts {
			counts[k] = n / rooms
			if k < n%rooms {
				counts[k]++
			}
		}
		return counts
	}
	w := make([]float64, rooms)
	var sum float64
	for k := range w {
		w[k] = 1 / math.Pow(float64(k+1), s)
		sum += w[k]
	}
	given := 0
	frac := make([]float64, rooms)
	for k := range w {
		exact := float64(n) * w[k] / sum
		counts[k] = int(exact)
		frac[k] = exact - float64(counts[k])
		given += counts[k]
	}
	// Hand out the rest by largest remainder; ties go to the lower room,
	// so counts stay non-increasing.
	for ; given < n; given++ {
		best := 0
		for k := range frac {
			if frac[k] > frac[best] {
				best = k
			}
		}
		counts[best]++
		frac[best] = -1
	}
	return counts
}

// assignRooms gives every viewer index its room index. The order is a fixed
// shuffle, the same in every process of a run, so that the join order, the
// node (index % nodes) and the worker (index % workers) of a viewer are
// independent of its room.
func assignRooms(n, rooms int, spread string, s float64) []int {
	counts := roomCounts(n, rooms, spread, s)
	out := make([]int, 0, n)
	for k, c := range counts {
		for range c {
			out = append(out, k)
		}
	}
	r := rand.New(rand.NewPCG(0x5eed, uint64(n)))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// pubTable maps a room's seq to the time the tester published the event
// (the creator's send time, Unix nanoseconds). It is a ring: a slot holds
// the latest seq that maps to it. Safe for concurrent use without locks:
// readers check the slot's seq before and after reading the time.
type pubTable struct {
	mask  uint64
	seqs  []atomic.Uint64
	nanos []atomic.Int64
}

func newPubTable(size int) *pubTable {
	size = max(size, 64)
	size = 1 << bits.Len(uint(size-1)) // power of two
	return &pubTable{mask: uint64(size - 1), seqs: make([]atomic.Uint64, size), nanos: make([]atomic.Int64, size)}
}

func (t *pubTable) put(seq uint64, nano int64) {
	i := seq & t.mask
	t.seqs[i].Store(0)
	t.nanos[i].Store(nano)
	t.seqs[i].Store(seq)
}

func (t *pubTable) get(seq uint64) (int64, bool) {
	i := seq & t.mask
	if seq == 0 || t.seqs[i].Load() != seq {
		return 0, false
	}
	n := t.nanos[i].Load()
	if t.seqs[i].Load() != seq {
		return 0, false
	}
	return n, true
}

// roomState is what a group of connections knows of one room.
type roomState struct {
	name   string
	pub    *pubTable
	latest atomic.Uint64 // highest seq the tester knows was published
	final  atomic.Uint64 // the room's last seq once publishing stopped
	ended  atomic.Bool   // final is set
}

func (r *roomState) published(seq uint64, nano int64) {
	r.pub.put(seq, nano)
	for {
		old := r.latest.Load()
		if seq <= old || r.latest.CompareAndSwap(old, seq) {
			return
		}
	}
}

func (r *roomState) setFinal(seq uint64) {
	r.final.Store(seq)
	r.ended.Store(true)
}

// pubTableSize sizes the rings so that a run's events fit.
func pubTableSize(cfg *Config) int {
	n := cfg.Rate*cfg.deadline().Seconds()*1.2 + 64
	return int(min(n, 1<<16))
}
