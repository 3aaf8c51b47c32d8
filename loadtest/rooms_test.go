package main

import (
	"slices"
	"sync"
	"testing"
)

func TestRoomCounts(t *testing.T) {
	t.Parallel()
	sum := func(c []int) (n int) {
		for _, v := range c {
			n += v
		}
		return n
	}
	even := roomCounts(103, 10, spreadEven, 1)
	if sum(even) != 103 || slices.Max(even)-slices.Min(even) > 1 {
		t.Errorf("even: %v", even)
	}
	sk := roomCounts(10000, 10, spreadSkewed, 1)
	if sum(sk) != 10000 {
		t.Errorf("skewed counts add up to %d", sum(sk))
	}
	for k := 1; k < len(sk); k++ {
		if sk[k] > sk[k-1] {
			t.Errorf("skewed counts must not increase: %v", sk)
		}
	}
	// Zipf s=1 over 10 rooms: room 0 has 1/H(10) = 34.1%, room 9 3.4%.
	if sk[0] < 3400 || sk[0] > 3430 || sk[9] < 335 || sk[9] > 350 {
		t.Errorf("skewed: %v", sk)
	}
	if flat := roomCounts(100, 4, spreadSkewed, 0); !slices.Equal(flat, []int{25, 25, 25, 25}) {
		t.Errorf("skew 0 is even: %v", flat)
	}
	if few := roomCounts(3, 5, spreadSkewed, 1); sum(few) != 3 {
		t.Errorf("fewer viewers than rooms: %v", few)
	}
}

func TestAssignRooms(t *testing.T) {
	t.Parallel()
	a := assignRooms(1000, 7, spreadSkewed, 1.2)
	b := assignRooms(1000, 7, spreadSkewed, 1.2)
	if !slices.Equal(a, b) {
		t.Fatal("the assignment differs between calls: workers would disagree")
	}
	counts := make([]int, 7)
	for _, r := range a {
		counts[r]++
	}
	if !slices.Equal(counts, roomCounts(1000, 7, spreadSkewed, 1.2)) {
		t.Errorf("assignment counts %v", counts)
	}
	// Node and worker shares mix rooms: with 2 nodes, both serve room 0.
	perNode := [2]int{}
	for i, r := range a {
		if r == 0 {
			perNode[i%2]++
		}
	}
	if perNode[0] < counts[0]/3 || perNode[1] < counts[0]/3 {
		t.Errorf("room 0's viewers by node %v: the shuffle should spread them", perNode)
	}
}

func TestPubTable(t *testing.T) {
	t.Parallel()
	p := newPubTable(100) // rounds up to 128
	if len(p.seqs) != 128 {
		t.Fatalf("size %d, want 128", len(p.seqs))
	}
	if _, ok := p.get(0); ok {
		t.Error("seq 0 found in an empty table")
	}
	p.put(5, 500)
	if n, ok := p.get(5); !ok || n != 500 {
		t.Errorf("get(5) = %d, %v", n, ok)
	}
	p.put(5+128, 900) // wraps onto 5's slot
	if _, ok := p.get(5); ok {
		t.Error("an overwritten seq is still found")
	}
	if n, ok := p.get(133); !ok || n != 900 {
		t.Errorf("get(133) = %d, %v", n, ok)
	}
	// A writer and readers at once (run with -race).
	p = newPubTable(256)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := uint64(1); s < 2000; s++ {
				if w == 0 {
					p.put(s, int64(s)*10)
				} else if n, ok := p.get(s); ok && n != int64(s)*10 {
					t.Errorf("get(%d) = %d", s, n)
					return
				}
			}
		}()
	}
	wg.Wait()
	r := &roomState{pub: newPubTable(64)}
	r.published(3, 30)
	r.published(2, 20)
	if r.latest.Load() != 3 {
		t.Errorf("latest %d, want 3", r.latest.Load())
	}
}
