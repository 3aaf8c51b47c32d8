package main

import (
	"io"
	"strings"
	"testing"
)

func TestBidTimesPeakAtTheEnd(t *testing.T) {
	const start, end = 1_000_000, 1_060_000 // a 60 s auction
	ts := bidTimes(2000, start, end)
	last3s := 0
	for i, x := range ts {
		if x < start || x >= end {
			t.Fatalf("bid time %d outside [%d, %d)", x, start, end)
		}
		if i > 0 && x < ts[i-1] {
			t.Fatalf("bid times not sorted at %d", i)
		}
		if x >= end-3000 {
			last3s++
		}
	}
	// An exponential of mean 3 s before the end: 63% in the last 3 s.
	if last3s < 1100 || last3s > 1400 {
		t.Errorf("%d of 2000 bids in the last 3 s, want about 1260", last3s)
	}
	// A short auction: the mean is a quarter of it.
	for _, x := range bidTimes(100, 0, 5000) {
		if x < 0 || x >= 5000 {
			t.Fatalf("bid time %d outside a 5 s auction", x)
		}
	}
}

func newTestChatConn(author int) *chatConn {
	s := &chatRun{pub: newPubTable(64), hComment: newRecorder(), hAnnounce: newRecorder(), userB: []byte("viewer-x-")}
	cc := &chatConn{s: s, author: author}
	cc.wconn = &wconn{room: "r", roomB: []byte("r")}
	if author >= 0 {
		cc.tag = []byte("lt " + itoa(author) + " ")
		cc.ownGot = map[uint64]bool{}
	}
	return cc
}

func commentMsg(id, text string) []byte {
	return []byte(`{"type":"comment","room":"r","ts":1,"comment":{"id":"` + id + `","author":{"id":"h7","name":"j***","role":"viewer"},"text":"` + text + `","at":1}}`)
}

func TestChatConnOrder(t *testing.T) {
	cc := newTestChatConn(3)
	cc.s.pub.put(1, 10)
	for _, m := range [][]byte{
		commentMsg("1", "lt 3 0 hi"), commentMsg("2", "lt 30 0 hi"), commentMsg("2", "x"), commentMsg("1", "x"),
		commentMsg("5", "lt 3 1 hi"), commentMsg("x", "x"),
	} {
		cc.onMessage(m, scanFields(m), 100)
	}
	if got := cc.got.Load(); got != 3 || cc.dups != 1 || cc.disorder != 1 || cc.badIDs != 1 {
		t.Errorf("got %d, dups %d, out of order %d, bad ids %d; want 3, 1, 1, 1", got, cc.dups, cc.disorder, cc.badIDs)
	}
	// Own comments by their tag ("lt 30 " is another author's).
	if len(cc.ownGot) != 2 || !cc.ownGot[1] || !cc.ownGot[5] {
		t.Errorf("own comments seen %v, want 1 and 5", cc.ownGot)
	}
	// 1 had its send time, 2 and 5 wait for theirs; 2 comes, 5 never does.
	if len(cc.pending) != 2 {
		t.Fatalf("pending %v, want 2 and 5", cc.pending)
	}
	cc.s.pub.put(2, 20)
	cc.resolve(true)
	if n := cc.s.hComment.merged().TotalCount(); n != 2 || cc.unmatched != 1 {
		t.Errorf("latencies %d, unmatched %d; want 2, 1", n, cc.unmatched)
	}
}

func TestChatConnUserIDLeak(t *testing.T) {
	cc := newTestChatConn(-1)
	m := []byte(`{"type":"comment","room":"r","comment":{"id":"1","author":{"id":"viewer-x-4","name":"a","role":"viewer"},"text":"t","at":1}}`)
	cc.onMessage(m, scanFields(m), 1)
	if cc.leaks != 1 {
		t.Errorf("a user id in a broadcast was not counted")
	}
}

func TestChatConnReactionsRate(t *testing.T) {
	react := func(cc *chatConn, ts string) {
		m := []byte(`{"type":"reactions","room":"r","ts":` + ts + `,"counts":{"heart":3,"fire":1}}`)
		cc.onMessage(m, scanFields(m), 1)
	}
	ok := newTestChatConn(-1)
	for _, ts := range []string{"1000", "1250", "1500", "1750", "2000", "2250", "2499"} {
		react(ok, ts)
	}
	if ok.burst != 0 || ok.reactSum != 28 || ok.reactMsgs != 7 {
		t.Errorf("4 a second: burst %d, sum %d, messages %d; want 0, 28, 7", ok.burst, ok.reactSum, ok.reactMsgs)
	}
	fast := newTestChatConn(-1)
	for _, ts := range []string{"1000", "1100", "1200", "1300", "1400"} {
		react(fast, ts)
	}
	if fast.burst != 1 || fast.maxIn1s() != 5 {
		t.Errorf("5 within 400 ms: burst %d", fast.burst)
	}
}

func TestChatModeSampled(t *testing.T) {
	cc := newTestChatConn(-1)
	for _, m := range [][]byte{
		[]byte(`{"type":"chat_mode","room":"r","ts":1,"sampled":true,"rate":50}`),
		[]byte(`{"type":"chat_mode","room":"r","ts":2,"sampled":false,"rate":50}`),
	} {
		cc.onMessage(m, scanFields(m), 42)
	}
	if !cc.sampledSeen() || cc.sampledAt != 42 || cc.sampled {
		t.Errorf("sampled seen %v at %d, sampled now %v", cc.sampledSeen(), cc.sampledAt, cc.sampled)
	}
}

func TestAuctionConnBidMessages(t *testing.T) {
	ac := &auctionConn{a: &auctionRun{}}
	ac.wconn = &wconn{room: "r", roomB: []byte("r")}
	for _, m := range []string{
		`{"type":"bid","room":"r","ts":1,"auction":"a","current":1000,"leader":{"id":"h","name":"n","role":"viewer"},"bids":1,"ends_at":50,"v":1}`,
		`{"type":"bid","room":"r","ts":1,"auction":"a","current":1200,"leader":null,"bids":3,"ends_at":60,"v":3}`,
		`{"type":"bid","room":"r","ts":1,"auction":"a","current":1100,"leader":null,"bids":2,"ends_at":55,"v":2}`,
		`{"type":"auction","room":"r","seq":4,"ts":1,"auction":{"id":"a","state":"ended","bids":3,"ends_at":60,"result":{"outcome":"sold","amount":1200,"winner":{"id":"h","name":"n","role":"viewer"},"order":"o"}}}`,
	} {
		ac.onMessage([]byte(m), scanFields([]byte(m)), 1)
	}
	if ac.vBack != 1 || ac.lastV != 3 || ac.current.Load() != 1200 || ac.endsAt.Load() != 60 {
		t.Errorf("v back %d, last v %d, current %d, ends_at %d", ac.vBack, ac.lastV, ac.current.Load(), ac.endsAt.Load())
	}
	if ac.final == nil || ac.final.Result == nil || ac.final.Result.Amount != 1200 || !ac.finalSeen.Load() {
		t.Errorf("final %+v", ac.final)
	}
}

func TestCrowdFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "chat", "-viewers", "10", "-comment-rate", "50"}, "needs at least as many authors"},
		{[]string{"-scenario", "chat", "-viewers", "100", "-reactors", "5", "-reaction-rate", "100"}, "reactors"},
		{[]string{"-scenario", "chat", "-workers", "2"}, "runs in one process"},
		{[]string{"-scenario", "auction", "-viewers", "10", "-bidders", "11"}, "-bidders"},
		{[]string{"-scenario", "auction", "-duration", "2s"}, "5s to 10m"},
		{[]string{"-scenario", "auction", "-extend", "2m"}, "-extend"},
		{[]string{"-scenario", "auction", "-auction-rooms", "-1"}, "-auction-rooms"},
		{[]string{"-scenario", "auction", "-viewers", "10", "-auction-rooms", "11"}, "-auction-rooms"},
	} {
		_, err := parseConfig(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
	// With -auction-rooms, -bidders (default 100) is not used.
	if _, err := parseConfig([]string{"-scenario", "auction", "-viewers", "20", "-auction-rooms", "20"}, io.Discard); err != nil {
		t.Errorf("-auction-rooms 20 with 20 viewers: %v", err)
	}
	c, err := parseConfig([]string{"-scenario", "chat", "-viewers", "10000", "-comment-rate", "500"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.chatAuthors() != 1000 || c.chatReactors() != 200 {
		t.Errorf("authors %d, reactors %d; want 1000, 200", c.chatAuthors(), c.chatReactors())
	}
}
