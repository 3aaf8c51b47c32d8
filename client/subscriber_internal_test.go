package client

import (
	"encoding/json"
	"testing"

	"github.com/liveserver/liveserver/protocol"
)

// feed applies one server message as the read loop does.
func feed(t *testing.T, s *Subscriber, msg string) bool {
	t.Helper()
	var h header
	if err := json.Unmarshal([]byte(msg), &h); err != nil {
		t.Fatal(err)
	}
	gap, err := s.apply(h, []byte(msg))
	if err != nil {
		t.Fatalf("apply %s: %v", msg, err)
	}
	return gap
}

// TestApplyOrdering covers what a real node rarely shows: messages before
// the snapshot, duplicates, a seq gap, stale stock, and event types of
// protocol 1.1 that only advance seq.
func TestApplyOrdering(t *testing.T) {
	s := &Subscriber{Room: "r"}
	p1 := `{"id":"p1","name":"Tote","price":1999,"currency":"USD","image":"/i.svg","remaining":10,"v":4}`
	if feed(t, s, `{"type":"stock","room":"r","product":"p1","remaining":9,"v":5}`) {
		t.Fatal("a gap before the snapshot")
	}
	if _, ok := s.State(); ok {
		t.Fatal("state before the snapshot")
	}
	feed(t, s, `{"type":"snapshot","room":"r","seq":5,"title":"T","products":[`+p1+`],"pinned":null,"sale":null,"viewers":3}`)
	feed(t, s, `{"type":"stock","room":"r","product":"p1","remaining":8,"v":6}`)
	feed(t, s, `{"type":"stock","room":"r","product":"p1","remaining":9,"v":5}`) // stale: ignored
	if gap := feed(t, s, `{"type":"pinned","room":"r","seq":5,"product":`+p1+`}`); gap {
		t.Fatal("a duplicate is not a gap")
	}
	if gap := feed(t, s, `{"type":"unpinned","room":"r","seq":7}`); !gap {
		t.Fatal("seq 7 after 5 is a gap")
	}
	st, _ := s.State()
	if st.Seq != 5 || st.Pinned != nil || st.Stock["p1"] != (Stock{8, 6}) {
		t.Fatalf("after a duplicate and a gap: %+v", st)
	}
	feed(t, s, `{"type":"pinned","room":"r","seq":6,"product":`+p1+`}`) // its v 4 is older than 6
	feed(t, s, `{"type":"auction","room":"r","seq":7,"auction":{"id":"a"}}`)
	feed(t, s, `{"type":"sale","room":"r","seq":8,"sale":{"id":"s","product":"p1","state":"live"}}`)
	st, _ = s.State()
	if st.Seq != 8 || st.Pinned == nil || st.Pinned.Remaining != 8 || st.Pinned.V != 6 || st.Sale == nil || st.Sale.State != protocol.SaleLive {
		t.Fatalf("after the replay: %+v pinned %+v", st, st.Pinned)
	}
	if got := s.Stats(); got.Gaps != 1 || got.Events != 3 || got.Snapshots != 1 {
		t.Fatalf("stats %+v", got)
	}
	// A new snapshot replaces everything but keeps newer stock.
	feed(t, s, `{"type":"snapshot","room":"r","seq":9,"title":"T2","products":[`+p1+`],"pinned":null,"sale":null,"viewers":1}`)
	st, _ = s.State()
	if st.Seq != 9 || st.Title != "T2" || st.Sale != nil || st.Products[0].Remaining != 8 {
		t.Fatalf("after a second snapshot: %+v", st)
	}
	// The state handed out is a copy.
	st.Products[0].Remaining = 0
	if again, _ := s.State(); again.Products[0].Remaining != 8 {
		t.Fatal("State shares memory with the subscriber")
	}
}
