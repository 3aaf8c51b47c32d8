package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCheckFlash(t *testing.T) {
	t.Parallel()
	sale := "sale-1"
	other := "sale-0"
	orders := func(n int) []order {
		var os []order
		for i := 0; i < n; i++ {
			os = append(os, order{Order: fmt.Sprintf("o%d", i), User: fmt.Sprintf("u%d", i), Product: "fs1", Qty: 1, Price: 999, Sale: &sale})
		}
		return os
	}
	ids := func(n int) []string {
		var s []string
		for i := 0; i < n; i++ {
			s = append(s, fmt.Sprintf("o%d", i))
		}
		return s
	}
	base := func() flashInput {
		return flashInput{Stock: 5, PerUser: 1, SaleID: sale, SalePrice: 999, Product: "fs1", Attempted: 20,
			Acked: ids(5), Orders: orders(5), Remaining: map[string]int64{"http://a": 0, "http://b": 0}}
	}
	tests := []struct {
		name     string
		edit     func(*flashInput)
		verdict  string
		failWith string
		check    func(FlashResult) bool
	}{
		{"exact", func(*flashInput) {}, "PASS", "", func(r FlashResult) bool { return r.Orders == 5 && r.Oversold == 0 && r.RemainingOK }},
		{"oversold", func(in *flashInput) {
			in.Orders = orders(7)
			in.Acked = ids(7)
			in.Remaining = map[string]int64{"http://a": -2, "http://b": -2}
		}, "FAIL", "oversold", func(r FlashResult) bool { return r.Oversold == 2 && r.Units == 7 }},
		{"undersold", func(in *flashInput) {
			in.Orders, in.Acked = orders(4), ids(4)
			in.Remaining = map[string]int64{"http://a": 1, "http://b": 1}
		}, "FAIL", "undersold", func(r FlashResult) bool { return r.Undersold == 1 }},
		{"fewer buyers than stock", func(in *flashInput) {
			in.Attempted = 3
			in.Orders, in.Acked = orders(3), ids(3)
			in.Remaining = map[string]int64{"http://a": 2, "http://b": 2}
		}, "PASS", "", func(r FlashResult) bool { return r.Expected == 3 }},
		{"duplicate order id", func(in *flashInput) { in.Orders = append(in.Orders, in.Orders[2]) }, "FAIL", "duplicate",
			func(r FlashResult) bool { return r.Duplicates == 1 && r.Orders == 5 }},
		{"acknowledged order not listed", func(in *flashInput) { in.Acked = append(in.Acked, "ghost") }, "FAIL", "missing from the order list",
			func(r FlashResult) bool { return r.Lost == 1 }},
		{"listed order acknowledged to nobody", func(in *flashInput) { in.Acked = ids(4) }, "FAIL", "acknowledged to no buyer",
			func(r FlashResult) bool { return r.Unacked == 1 }},
		{"unacknowledged order of a buyer without answer", func(in *flashInput) { in.Acked = ids(4); in.Unanswered = 1 }, "PASS", "",
			func(r FlashResult) bool { return r.Unacked == 1 }},
		{"per-user limit broken", func(in *flashInput) { in.Orders[1].User = "u0" }, "FAIL", "per-user limit",
			func(r FlashResult) bool { return r.OverLimit == 1 }},
		{"order outside the sale", func(in *flashInput) { in.Orders[0].Sale = &other }, "FAIL", "not of sale",
			func(r FlashResult) bool { return r.OffSale == 1 }},
		{"order at the catalog price", func(in *flashInput) { in.Orders[0].Price = 4999 }, "FAIL", "not of sale",
			func(r FlashResult) bool { return r.OffSale == 1 }},
		{"a node disagrees on remaining", func(in *flashInput) { in.Remaining["http://b"] = 1 }, "FAIL", "node http://b: remaining 1, want 0",
			func(r FlashResult) bool { return !r.RemainingOK }},
		{"a node could not be read", func(in *flashInput) { delete(in.Remaining, "http://b"); in.Unread = []string{"http://b"} }, "FAIL", "could not read",
			func(r FlashResult) bool { return !r.RemainingOK }},
		{"sale still open", func(in *flashInput) { in.SaleOpen = []string{"http://a"} }, "FAIL", "snapshot.sale", nil},
		{"other products' orders do not count", func(in *flashInput) {
			in.Orders = append(in.Orders, order{Order: "x", User: "u9", Product: "p1", Qty: 3, Price: 10})
			in.Acked = append(in.Acked, "x")
		}, "PASS", "", func(r FlashResult) bool { return r.Orders == 5 && r.Units == 5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := base()
			tt.edit(&in)
			r := checkFlash(in, 0)
			if r.Verdict != tt.verdict {
				t.Fatalf("verdict %s, want %s; failures %q", r.Verdict, tt.verdict, r.Failures)
			}
			if tt.failWith != "" && !strings.Contains(strings.Join(r.Failures, "\n"), tt.failWith) {
				t.Errorf("failures %q, want one with %q", r.Failures, tt.failWith)
			}
			if tt.check != nil && !tt.check(r) {
				t.Errorf("result %+v", r)
			}
		})
	}
}

func TestCheckFlashOversoldThreshold(t *testing.T) {
	t.Parallel()
	sale := "s"
	var os []order
	var acked []string
	for i := 0; i < 6; i++ {
		os = append(os, order{Order: fmt.Sprint(i), User: fmt.Sprint(i), Product: "fs1", Qty: 1, Price: 1, Sale: &sale})
		acked = append(acked, fmt.Sprint(i))
	}
	in := flashInput{Stock: 5, PerUser: 1, SaleID: sale, SalePrice: 1, Product: "fs1", Attempted: 6, Acked: acked, Orders: os,
		Remaining: map[string]int64{"n": -1}}
	for limit, want := range map[int64]bool{0: false, 1: true, -1: true} {
		r := checkFlash(in, limit)
		hasOversold := strings.Contains(strings.Join(r.Failures, "\n"), "oversold")
		if r.Oversold != 1 || hasOversold == want {
			t.Errorf("-slo-oversold %d: oversold %d, failures %q", limit, r.Oversold, r.Failures)
		}
	}
}

func TestCheckSLOs(t *testing.T) {
	t.Parallel()
	cfg := &Config{Scenario: scenarioViewers, SLOP99: 50 * time.Millisecond, SLOGaps: 0, SLOOversold: 0, SLOErrors: 2}
	r := &Report{Scenario: scenarioViewers, LatencyMS: Quantiles{Count: 10, P99: 49.9}, Gaps: 0, Errors: 2}
	byName := func(cs []SLOCheck) map[string]SLOCheck {
		m := map[string]SLOCheck{}
		for _, c := range cs {
			m[c.Name] = c
		}
		return m
	}
	got := byName(checkSLOs(cfg, r))
	if len(got) != 3 || !got["p99_ms"].OK || !got["gaps"].OK || !got["errors"].OK {
		t.Fatalf("all within limits: %+v (oversold is checked for flashsale only)", got)
	}
	r.LatencyMS.P99, r.Gaps, r.Errors = 50.1, 1, 3
	got = byName(checkSLOs(cfg, r))
	if got["p99_ms"].OK || got["gaps"].OK || got["errors"].OK {
		t.Errorf("all over limits: %+v", got)
	}
	r.LatencyMS = Quantiles{}
	if c := byName(checkSLOs(cfg, r))["p99_ms"]; c.OK {
		t.Errorf("a p99 SLO with no samples passed: %+v", c)
	}
	off := &Config{Scenario: scenarioFlashsale, SLOGaps: -1, SLOOversold: 0, SLOErrors: -1}
	got = byName(checkSLOs(off, &Report{Oversold: 1, Gaps: 9, Errors: 9}))
	if len(got) != 1 || got["oversold"].OK {
		t.Errorf("only oversold is checked, and broken: %+v", got)
	}
	r2 := &Report{Failures: []string{}}
	r2.judge(&Config{SLOGaps: -1, SLOErrors: -1, SLOOversold: -1})
	if r2.Verdict != "PASS" {
		t.Errorf("no checks, no failures: verdict %s", r2.Verdict)
	}
	r2.fail("the deadline passed while %s", "joining")
	r2.judge(&Config{SLOGaps: -1, SLOErrors: -1, SLOOversold: -1})
	if r2.Verdict != "FAIL" {
		t.Errorf("a failure: verdict %s", r2.Verdict)
	}
}
