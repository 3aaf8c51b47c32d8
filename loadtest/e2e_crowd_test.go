package main

import (
	"strings"
	"testing"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/server"
)

// The chat and auction scenarios against real nodes: one in memory, and
// three on a real redis-server (tokens minted with the cluster's secret).

const crowdSecret = "loadtest-e2e-secret-0123456789abcdef"

// startCluster starts n nodes on one fresh redis-server and returns their
// URLs, comma-separated.
func startCluster(t *testing.T, n int) string {
	t.Helper()
	rs := redistest.Start(t)
	var urls []string
	for range n {
		urls = append(urls, startServer(t, server.Config{RedisURL: rs.URL(), JWTSecret: crowdSecret, MsgRate: -1}))
	}
	return strings.Join(urls, ",")
}

func checkChat(t *testing.T, code int, r *Report, out string, sampled bool) {
	t.Helper()
	if code != 0 || r == nil || r.Chat == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	c := r.Chat
	if c.Verdict != "PASS" || c.Comments == 0 || c.OutOfOrder != 0 || c.Duplicates != 0 || c.Unknown != 0 || !c.CreatorComplete {
		t.Errorf("chat %+v", c)
	}
	if c.AuthorsMissingOwn != 0 || c.UserIDLeaks != 0 {
		t.Errorf("authors missing own comments %d, user id leaks %d", c.AuthorsMissingOwn, c.UserIDLeaks)
	}
	if !sampled && (c.Complete != c.Checked || c.Sampled != 0) {
		t.Errorf("without sampling: %d of %d connections complete, %d sampled", c.Complete, c.Checked, c.Sampled)
	}
	if !sampled && r.CommentMS.Count != c.Comments*c.Checked {
		t.Errorf("comment latency samples %d, want %d comments x %d connections", r.CommentMS.Count, c.Comments, c.Checked)
	}
	if c.ReactionsSent == 0 || c.ReactionMsgs == 0 || c.ReactionsCounted == 0 || c.ReactionOverRate != 0 {
		t.Errorf("reactions: sent %d, counted %d in %d messages, over rate %d", c.ReactionsSent, c.ReactionsCounted, c.ReactionMsgs, c.ReactionOverRate)
	}
	if c.StockChanges == 0 || c.StockMsgsMean == 0 {
		t.Errorf("stock: %d changes, %.1f messages per viewer", c.StockChanges, c.StockMsgsMean)
	}
	if r.LatencyMS != r.CommentMS {
		t.Errorf("the scenario's latency is not the comment delivery's")
	}
}

func TestE2EChat(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	code, r, out := runLoadtest(t, "-scenario", "chat", "-url", url, "-viewers", "40", "-comment-rate", "15",
		"-reaction-rate", "100", "-stock-rate", "5", "-duration", "3s", "-slo-errors", "0")
	checkNoLeaks(t)
	checkChat(t, code, r, out, false)
}

// TestE2EChatSampled posts above the node's default -chat-fanout-rate
// (50/s): every viewer is told it gets a sample; authors still get every
// own comment and the creator every comment. (The 1 s announcement is a
// target measured in BENCHMARKS.md, not asserted here: -announce-within.)
func TestE2EChatSampled(t *testing.T) {
	// 120 tokens from one address: no HTTP rate limit.
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1, HTTPRatePerIP: -1})
	code, r, out := runLoadtest(t, "-scenario", "chat", "-url", url, "-viewers", "120", "-authors", "100",
		"-comment-rate", "80", "-reaction-rate", "50", "-stock-rate", "2", "-duration", "3s",
		"-announce-within", "20s", "-slo-errors", "0")
	checkNoLeaks(t)
	checkChat(t, code, r, out, true)
	if c := r.Chat; !c.SamplingExpected || c.Sampled != c.Checked-1 || c.SampleMean >= float64(c.Comments) {
		t.Errorf("sampling: expected %v, %d of %d viewers told, %.0f of %d comments each", c.SamplingExpected, c.Sampled, c.Checked-1, c.SampleMean, c.Comments)
	}
}

func TestE2EChatCluster(t *testing.T) {
	urls := startCluster(t, 3)
	code, r, out := runLoadtest(t, "-scenario", "chat", "-url", urls, "-secret", crowdSecret, "-viewers", "30",
		"-comment-rate", "10", "-reaction-rate", "60", "-stock-rate", "5", "-duration", "3s", "-slo-errors", "0")
	checkNoLeaks(t)
	checkChat(t, code, r, out, false)
}

func checkAuction(t *testing.T, code int, r *Report, out string, bidders int64) {
	t.Helper()
	// Until the auctions (branch w-auction) are merged, the server refuses
	// auction_start as an unknown type; the scenario itself is then
	// checked only by the unit tests.
	if r != nil && r.Auction == nil && strings.Contains(strings.Join(r.Failures, "\n"), "auction_start: reply: bad_request") {
		t.Skip("this server has no auctions yet: auction_start is bad_request")
	}
	if code != 0 || r == nil || r.Auction == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	a := r.Auction
	if a.Verdict != "PASS" || a.Outcome != "sold" || a.Orders != 1 || a.Amount != a.HighestBid || a.WinnerUser != a.ExpectedWinner {
		t.Errorf("auction %+v", a)
	}
	if a.Bidders != bidders || a.Accepted == 0 || a.FinalBids != a.Accepted || a.AcceptedPerSec <= 0 {
		t.Errorf("bidders %d, accepted %d, the auction's bids %d, %.1f/s", a.Bidders, a.Accepted, a.FinalBids, a.AcceptedPerSec)
	}
	if a.LateAnswers["auction_not_live"] == 0 || a.AcceptedAfter != 0 {
		t.Errorf("late bids %v, accepted after the end %d", a.LateAnswers, a.AcceptedAfter)
	}
	if a.SawEnd != a.Watchers || a.Disagree != 0 || a.VBack != 0 || a.CurrentBack != 0 || a.BidMsgsMean == 0 {
		t.Errorf("watchers %d, saw the end %d, disagree %d, v back %d, current fell %d, bid messages %.1f",
			a.Watchers, a.SawEnd, a.Disagree, a.VBack, a.CurrentBack, a.BidMsgsMean)
	}
	if r.BidMS.Count == 0 || r.LatencyMS != r.BidMS {
		t.Errorf("bid latency samples %d", r.BidMS.Count)
	}
	for node, n := range a.Remaining {
		if n != auctionStock-1 {
			t.Errorf("node %s: remaining %d, want %d", node, n, auctionStock-1)
		}
	}
}

func TestE2EAuction(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	code, r, out := runLoadtest(t, "-scenario", "auction", "-url", url, "-viewers", "30", "-bidders", "20",
		"-bids", "3", "-duration", "5s", "-extend", "1s", "-late-bids", "5", "-slo-errors", "0")
	checkNoLeaks(t)
	checkAuction(t, code, r, out, 20)
}

func TestE2EAuctionCluster(t *testing.T) {
	urls := startCluster(t, 3)
	code, r, out := runLoadtest(t, "-scenario", "auction", "-url", urls, "-secret", crowdSecret, "-viewers", "30",
		"-bidders", "20", "-bids", "3", "-duration", "5s", "-extend", "1s", "-late-bids", "5", "-slo-errors", "0")
	checkNoLeaks(t)
	checkAuction(t, code, r, out, 20)
}

// The non-colliding mode: 8 rooms on two nodes on Redis, an auction and
// one bidder each raising its own lead back to back, 12 more watchers.
// Every bid is accepted; every room sells to its bidder at its highest
// bid, with one order, and its watchers agree.
func TestE2EAuctionRooms(t *testing.T) {
	rs := redistest.Start(t)
	var urls []string
	for range 2 {
		urls = append(urls, startServer(t, server.Config{RedisURL: rs.URL(), JWTSecret: crowdSecret, MsgRate: -1, HTTPRatePerIP: -1}))
	}
	const rooms = 8
	code, r, out := runLoadtest(t, "-scenario", "auction", "-url", strings.Join(urls, ","), "-secret", crowdSecret,
		"-viewers", "20", "-auction-rooms", itoa(rooms), "-duration", "5s", "-extend", "0s", "-late-bids", "3", "-slo-errors", "0")
	checkNoLeaks(t)
	if code != 0 || r == nil || r.Auction == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	a := r.Auction
	if a.Verdict != "PASS" || a.Rooms != rooms || r.Rooms != rooms || a.Outcomes["sold"] != rooms || a.RightWinners != rooms || a.Orders != rooms {
		t.Errorf("auctions %+v", a)
	}
	if a.Bidders != rooms || a.Accepted < 10*rooms || a.FinalBids != a.Accepted || a.AcceptedPerSec <= 0 || len(a.Answers) != 1 || a.Answers["ok"] != a.Accepted {
		t.Errorf("bidders %d, answers %v, accepted %d, the auctions' bids %d, %.1f/s; want only accepted bids, 10 a room at least",
			a.Bidders, a.Answers, a.Accepted, a.FinalBids, a.AcceptedPerSec)
	}
	if r.BidMS.Count != a.Accepted || r.LatencyMS != r.BidMS {
		t.Errorf("bid latency samples %d, accepted %d", r.BidMS.Count, a.Accepted)
	}
	if a.LateAnswers["auction_not_live"] != 3 || a.AcceptedAfter != 0 || a.ExtendedN != 0 {
		t.Errorf("late bids %v, accepted after the end %d, extended %d", a.LateAnswers, a.AcceptedAfter, a.ExtendedN)
	}
	if a.Watchers != 20 || a.SawEnd != a.Watchers || a.Disagree != 0 || a.VBack != 0 || a.CurrentBack != 0 || a.BidMsgsMean == 0 {
		t.Errorf("watchers %d, saw the end %d, disagree %d, v back %d, current fell %d, bid messages %.1f",
			a.Watchers, a.SawEnd, a.Disagree, a.VBack, a.CurrentBack, a.BidMsgsMean)
	}
}
