package demo_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveserver/liveserver/server"
)

type bidOutcome struct {
	OK      bool   `json:"ok"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Amount  int64  `json:"amount"`
	Leading bool   `json:"leading"`
	Current int64  `json:"current"`
	MinBid  int64  `json:"minBid"`
}

// bid sets the max-bid field (empty: none), clicks the bid button and
// returns the answer (liveDemo.lastBid).
func (tb *tab) bid(max string) bidOutcome {
	tb.t.Helper()
	tb.wait("bid button enabled", `!document.querySelector('[data-testid="bid-button"]').disabled`, 5*time.Second, nil)
	tb.eval(`liveDemo.lastBid = null, true`, nil)
	tb.do(
		chromedp.SetValue(chromedp.CSS(`[data-testid="auction-max"]`), max),
		chromedp.Click(chromedp.CSS(`[data-testid="bid-button"]`)),
	)
	var o bidOutcome
	tb.wait("bid answer", `!liveDemo.bidPending && liveDemo.lastBid`, 5*time.Second, &o)
	return o
}

type auctionState struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Current *int64 `json:"current"`
	Leader  *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"leader"`
	Bids   int64 `json:"bids"`
	EndsAt int64 `json:"ends_at"`
	Result *struct {
		Outcome string `json:"outcome"`
		Amount  int64  `json:"amount"`
		Order   string `json:"order"`
		Winner  *struct {
			ID string `json:"id"`
		} `json:"winner"`
	} `json:"result"`
}

// TestBrowserAuction runs a 10-second auction in Chromium against one
// node, with two viewers: Alice bids, Bob leads with a proxy bid (max),
// and with under two seconds left Alice bids again: the end moves later
// (anti-sniping, extend 3 s), Bob's proxy answers, Alice leads with a
// higher max and wins when the extended clock runs out. Each page shows
// "you're leading" or "outbid" as it goes, and the order appears in the
// orders API with the auction set.
func TestBrowserAuction(t *testing.T) {
	ts := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	shots := artifactsDir(t)
	b := browser(t, 90*time.Second)

	alice := openPage(t, b, "alice", ts.URL+"/demo/?room=demo&name=Alice", 420, 900)
	bob := openPage(t, b, "bob", ts.URL+"/demo/?room=demo&name=Bob", 420, 900, chromedp.WithNewBrowserContext())
	creator := openPage(t, b, "creator", ts.URL+"/demo/creator.html?room=demo", 1280, 1100)
	viewers := []*tab{alice, bob}

	// A little chat for the screenshots.
	for _, c := range []struct {
		tb   *tab
		text string
	}{{alice, "Is the tote up next?"}, {bob, "I want that tote!"}} {
		if o := c.tb.comment(c.text); !o.OK {
			t.Fatalf("%s: comment refused: %+v", c.tb.name, o)
		}
	}

	var stock0 int64
	creator.wait("stock of p1", `typeof liveDemo.stock.p1 === 'number' && liveDemo.stock.p1`, 5*time.Second, &stock0)

	// The creator starts a 10-second auction of the tote: from $10.00 in
	// $1.00 steps, extended to 3 s after any bid in its last 3 s.
	set := func(field, v string) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(chromedp.CSS(`[data-testid="auction-`+field+`"]`), v)
	}
	creator.do(set("product", "p1"), set("start-price", "10.00"), set("increment", "1.00"), set("duration", "10"),
		set("extend", "3"), set("reserve", ""), set("delay", "0"), chromedp.Click(chromedp.CSS(`[data-testid="auction-submit"]`)))
	var out outcome
	creator.wait("auction outcome", `liveDemo.lastOutcome && liveDemo.lastOutcome.action.startsWith('Start auction') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: auction_start failed: %s %s", out.Code, out.Message)
	}
	var start auctionState
	creator.wait("auction live", `liveDemo.auction && liveDemo.auction.state === 'live' && liveDemo.auction`, 5*time.Second, &start)
	creator.wait("unit held", fmt.Sprintf(`document.querySelector('[data-testid="stock-p1"]').dataset.remaining === '%d'`, stock0-1), 5*time.Second, nil)

	// Both viewers: the card, a countdown on the server's clock, a bid button
	// for the start price.
	for _, tb := range viewers {
		var ms int64
		tb.wait("auction card", fmt.Sprintf(`(() => { const c = document.querySelector('[data-testid="auction-card"]');
			const d = document.querySelector('[data-testid="auction-countdown"]');
			return !c.hidden && c.dataset.state === 'live' && c.dataset.auctionId === %q && Number(d.dataset.ms) > 0 &&
				/^0:(0\d|10)$/.test(d.textContent) && Number(d.dataset.ms); })()`, start.ID), 5*time.Second, &ms)
		if ms > 10_500 {
			t.Errorf("%s: countdown %d ms for a 10 s auction", tb.name, ms)
		}
		tb.wait("bid button", `document.querySelector('[data-testid="auction-name"]').textContent === 'Canvas Tote' &&
			document.querySelector('[data-testid="bid-button"]').textContent.includes('$10.00')`, 2*time.Second, nil)
	}

	// Alice bids the start price and leads.
	o := alice.bid("")
	if !o.OK || !o.Leading || o.Current != 1000 {
		t.Fatalf("alice: first bid %+v, want leading at 1000", o)
	}
	alice.wait("alice leads", `liveDemo.auctionStatus === 'leading' &&
		document.querySelector('[data-testid="auction-status"]').textContent.includes("You're leading")`, 3*time.Second, nil)
	bob.wait("bob sees the bid", `liveDemo.auction.current === 1000 &&
		document.querySelector('[data-testid="bid-button"]').textContent.includes('$11.00')`, 3*time.Second, nil)

	// Bob bids $11.00 with a max of $15.00: he leads at $11.00 and Alice is outbid.
	o = bob.bid("15.00")
	if !o.OK || !o.Leading || o.Current != 1100 {
		t.Fatalf("bob: proxy bid %+v, want leading at 1100", o)
	}
	bob.wait("bob leads", `liveDemo.auctionStatus === 'leading'`, 3*time.Second, nil)
	alice.wait("alice outbid", `liveDemo.auction.current === 1100 && liveDemo.auctionStatus === 'outbid' &&
		document.querySelector('[data-testid="auction-status"]').textContent.includes('Outbid')`, 3*time.Second, nil)

	// With under 2 s left, Alice bids $12.00: accepted, so the end moves to
	// 3 s after her bid; Bob's proxy answers at $13.00 and still leads.
	alice.wait("last seconds", `liveDemo.auction.ends_at - liveDemo.client.serverNow() < 2000`, 12*time.Second, nil)
	o = alice.bid("")
	if !o.OK || o.Leading || o.Current != 1300 {
		t.Fatalf("alice: last-second bid %+v, want accepted, not leading, at 1300 (Bob's proxy)", o)
	}
	var extended auctionState
	alice.wait("extended", fmt.Sprintf(`liveDemo.auction.ends_at > %d && liveDemo.auction`, start.EndsAt), 3*time.Second, &extended)
	if d := extended.EndsAt - start.EndsAt; d <= 1000 || d > 3000 {
		t.Errorf("a bid with under 2 s left moved ends_at by %d ms, want more than 1 s and at most extend (3 s)", d)
	}
	for _, tb := range viewers {
		tb.wait("extension shown", fmt.Sprintf(`liveDemo.auction.ends_at === %d && liveDemo.auctionExtensions >= 1 &&
			!document.querySelector('[data-testid="auction-extended"]').hidden`, extended.EndsAt), 3*time.Second, nil)
	}
	alice.wait("alice outbid by the proxy", `liveDemo.auctionStatus === 'outbid'`, 2*time.Second, nil)

	// Alice answers at once with a max of $20.00: she leads at $16.00 (one
	// step over Bob's max).
	o = alice.bid("20.00")
	if !o.OK || !o.Leading || o.Current != 1600 {
		t.Fatalf("alice: bid with max %+v, want leading at 1600", o)
	}
	alice.wait("alice leads again", `liveDemo.auctionStatus === 'leading'`, 2*time.Second, nil)
	bob.wait("bob outbid", `liveDemo.auction.current === 1600 && liveDemo.auctionStatus === 'outbid'`, 3*time.Second, nil)
	alice.screenshot(filepath.Join(shots, "auction-viewer.png"))
	creator.screenshot(filepath.Join(shots, "auction-creator.png"))

	// The end: on the extended clock, exactly once; Alice wins at $16.00.
	var end auctionState
	alice.wait("ended", `liveDemo.auction && liveDemo.auction.state === 'ended' && liveDemo.auction`, 8*time.Second, &end)
	if end.Result == nil || end.Result.Outcome != "sold" || end.Result.Amount != 1600 || end.Result.Order == "" {
		t.Fatalf("auction result %+v, want sold at 1600 with an order", end.Result)
	}
	if end.EndsAt < extended.EndsAt {
		t.Errorf("ended at %d, before the extended end %d", end.EndsAt, extended.EndsAt)
	}
	alice.wait("alice won", `liveDemo.auctionStatus === 'won' &&
		document.querySelector('[data-testid="auction-status"]').textContent.includes('You won')`, 2*time.Second, nil)
	bob.wait("bob lost", `liveDemo.auctionStatus === 'lost' && document.querySelector('[data-testid="auction-card"]').dataset.state === 'ended' &&
		document.querySelector('[data-testid="auction-current"]').textContent.includes('$16.00')`, 3*time.Second, nil)
	creator.wait("creator result", `document.querySelector('[data-testid="creator-auction-result"]').dataset.outcome === 'sold' &&
		document.querySelector('[data-testid="creator-auction-result"]').textContent.includes('$16.00')`, 3*time.Second, nil)
	bob.screenshot(filepath.Join(shots, "auction-viewer-ended.png"))

	// One order in the log, from the auction, at the winning amount; the
	// held unit is the one sold.
	token := devToken(t, ts.URL, map[string]any{"sub": "test-creator", "role": "creator", "rooms": []string{"demo"}})
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/rooms/demo/orders", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Orders []struct {
			Order   string  `json:"order"`
			Product string  `json:"product"`
			Price   int64   `json:"price"`
			Auction *string `json:"auction"`
		} `json:"orders"`
	}
	err = json.NewDecoder(res.Body).Decode(&page)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Orders) != 1 || page.Orders[0].Auction == nil || *page.Orders[0].Auction != start.ID ||
		page.Orders[0].Price != 1600 || page.Orders[0].Product != "p1" || page.Orders[0].Order != end.Result.Order {
		t.Errorf("orders after the auction: %+v, want one order of p1 at 1600 from auction %s (%s)", page.Orders, start.ID, end.Result.Order)
	}
	creator.wait("stock after the sale", fmt.Sprintf(`liveDemo.stock.p1 === %d`, stock0-1), 3*time.Second, nil)

	for _, tb := range []*tab{alice, bob, creator} {
		if e := tb.errors(); e != "" {
			t.Errorf("%s:%s", tb.name, e)
		}
	}
}
