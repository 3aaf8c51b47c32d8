package main

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// order is one entry of GET /api/rooms/{room}/orders.
type order struct {
	Order   string  `json:"order"`
	User    string  `json:"user"`
	Product string  `json:"product"`
	Qty     int64   `json:"qty"`
	Price   int64   `json:"price"`
	Sale    *string `json:"sale"`
	Auction *string `json:"auction"`
	At      int64   `json:"at"`
}

// flashInput is what the flash sale verification looks at.
type flashInput struct {
	Stock      int64  // the product's stock and the sale's quantity
	PerUser    int64  // the sale's per_user_limit
	SaleID     string // the sale the buyers hit
	SalePrice  int64
	Product    string
	Attempted  int64    // buyers that sent a buy
	Unanswered int64    // buyers that never got a final answer
	Acked      []string // order ids the server acknowledged to buyers
	Orders     []order  // the room's orders, as the server lists them
	// Remaining is the product's remaining stock read from each node;
	// a node that could not be read is absent from it and named in Unread.
	Remaining map[string]int64
	Unread    []string
	// SaleOpen: a node still showed a sale in the snapshot after the
	// sell-out (the sale ends at once, and then snapshot.sale is null).
	SaleOpen []string
}

// FlashResult is the verdict of a flash sale.
type FlashResult struct {
	SaleID      string           `json:"sale_id"`
	Orders      int64            `json:"orders"`   // orders of the product listed by the server
	Units       int64            `json:"units"`    // units in those orders
	Expected    int64            `json:"expected"` // min(stock, buyers that tried * per-user limit)
	Oversold    int64            `json:"oversold"` // units - stock, when positive
	Undersold   int64            `json:"undersold"`
	Duplicates  int64            `json:"duplicate_orders"` // order ids listed more than once
	Lost        int64            `json:"lost_orders"`      // acknowledged to a buyer, not listed
	Unacked     int64            `json:"unacked_orders"`   // listed, acknowledged to no buyer
	OverLimit   int64            `json:"over_limit_users"` // users with more units than the per-user limit
	OffSale     int64            `json:"off_sale_orders"`  // not of this sale, or not at its price
	Remaining   map[string]int64 `json:"remaining"`        // by node
	RemainingOK bool             `json:"remaining_ok"`
	Failures    []string         `json:"failures"`
	Verdict     string           `json:"verdict"` // PASS or FAIL
}

// checkFlash verifies a flash sale: nothing oversold (beyond sloOversold;
// negative: not checked), every acknowledged order listed once, the
// expected number sold, the limit per user kept, and the same remaining
// stock on every node.
func checkFlash(in flashInput, sloOversold int64) FlashResult {
	r := FlashResult{SaleID: in.SaleID, Remaining: in.Remaining, Failures: []string{}}
	seen := make(map[string]int, len(in.Orders))
	perUser := map[string]int64{}
	for _, o := range in.Orders {
		seen[o.Order]++
		if seen[o.Order] > 1 {
			r.Duplicates++
			continue
		}
		if o.Product != in.Product {
			continue
		}
		r.Orders++
		r.Units += o.Qty
		perUser[o.User] += o.Qty
		if o.Sale == nil || *o.Sale != in.SaleID || o.Price != in.SalePrice {
			r.OffSale++
		}
	}
	for _, n := range perUser {
		if n > in.PerUser {
			r.OverLimit++
		}
	}
	acked := make(map[string]bool, len(in.Acked))
	for _, id := range in.Acked {
		acked[id] = true
		if seen[id] == 0 {
			r.Lost++
		}
	}
	for id := range seen {
		if !acked[id] {
			r.Unacked++
		}
	}
	r.Expected = min(in.Stock, in.Attempted*in.PerUser)
	r.Oversold = max(0, r.Units-in.Stock)
	r.Undersold = max(0, r.Expected-r.Units)

	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if sloOversold >= 0 && r.Oversold > sloOversold {
		fail("oversold: %d units sold of a stock of %d (%d over, limit %d)", r.Units, in.Stock, r.Oversold, sloOversold)
	}
	if r.Undersold > 0 {
		fail("undersold: %d units sold, %d expected", r.Units, r.Expected)
	}
	if r.Duplicates > 0 {
		fail("%d duplicate order ids", r.Duplicates)
	}
	if r.Lost > 0 {
		fail("%d acknowledged orders are missing from the order list", r.Lost)
	}
	if r.Unacked > in.Unanswered {
		fail("%d listed orders were acknowledged to no buyer (%d buyers got no answer)", r.Unacked, in.Unanswered)
	}
	if r.OverLimit > 0 {
		fail("%d users bought more than the per-user limit of %d", r.OverLimit, in.PerUser)
	}
	if r.OffSale > 0 {
		fail("%d orders are not of sale %s at its price %d", r.OffSale, in.SaleID, in.SalePrice)
	}
	want := in.Stock - r.Units
	r.RemainingOK = len(in.Unread) == 0 && len(in.Remaining) > 0
	for _, node := range slices.Sorted(maps.Keys(in.Remaining)) {
		if got := in.Remaining[node]; got != want {
			r.RemainingOK = false
			fail("node %s: remaining %d, want %d (stock %d - %d sold)", node, got, want, in.Stock, r.Units)
		}
	}
	for _, node := range in.Unread {
		fail("node %s: could not read the room", node)
	}
	for _, node := range in.SaleOpen {
		fail("node %s: snapshot.sale is not null after the sale sold out", node)
	}
	r.Verdict = "PASS"
	if len(r.Failures) > 0 {
		r.Verdict = "FAIL"
	}
	return r
}

// SLOCheck is one threshold checked at the end of a run.
type SLOCheck struct {
	Name  string  `json:"name"`
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	OK    bool    `json:"ok"`
	Note  string  `json:"note,omitempty"`
}

// checkSLOs checks the thresholds the flags set; a disabled one is absent.
func checkSLOs(cfg *Config, r *Report) []SLOCheck {
	checks := []SLOCheck{}
	if cfg.SLOP99 > 0 {
		limit := float64(cfg.SLOP99) / float64(time.Millisecond)
		c := SLOCheck{Name: "p99_ms", Limit: limit, Value: r.LatencyMS.P99, OK: r.LatencyMS.Count > 0 && r.LatencyMS.P99 <= limit}
		if r.LatencyMS.Count == 0 {
			c.Note = "no latency was measured"
		} else {
			c.Note = r.LatencyOf
		}
		checks = append(checks, c)
	}
	if cfg.SLOGaps >= 0 {
		checks = append(checks, SLOCheck{Name: "gaps", Limit: float64(cfg.SLOGaps), Value: float64(r.Gaps), OK: r.Gaps <= cfg.SLOGaps})
	}
	if cfg.SLOOversold >= 0 && cfg.Scenario == scenarioFlashsale {
		checks = append(checks, SLOCheck{Name: "oversold", Limit: float64(cfg.SLOOversold), Value: float64(r.Oversold), OK: r.Oversold <= cfg.SLOOversold})
	}
	if cfg.SLOErrors >= 0 {
		checks = append(checks, SLOCheck{Name: "errors", Limit: float64(cfg.SLOErrors), Value: float64(r.Errors), OK: r.Errors <= cfg.SLOErrors})
	}
	return checks
}
