package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveserver/liveserver/server"
)

// startServer starts an in-process node and returns its ws:// URL.
func startServer(tb testing.TB, cfg server.Config) string {
	tb.Helper()
	srv, err := server.New(cfg)
	if err != nil {
		tb.Fatalf("server.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

// runLoadtest runs the tester with args plus -json and returns the exit
// status, the report and the output.
func runLoadtest(tb testing.TB, args ...string) (int, *Report, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "result.json")
	var out bytes.Buffer
	code := run(append(args, "-json", path), strings.NewReader(""), &out, &out)
	tb.Logf("loadtest %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	b, err := os.ReadFile(path)
	if err != nil {
		return code, nil, out.String()
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		tb.Fatalf("decoding the -json file: %v", err)
	}
	return code, &r, out.String()
}

// checkNoLeaks fails when a goroutine the tester started outlives its run.
func checkNoLeaks(tb testing.TB) {
	tb.Helper()
	var stacks string
	for try := 0; try < 100; try++ {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		leaked := false
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "created by main.") {
				leaked = true
				break
			}
		}
		if !leaked {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Errorf("goroutines of the tester still run after it returned:\n%s", stacks)
}

func TestE2EViewers(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	code, r, out := runLoadtest(t, "-scenario", "viewers", "-url", url, "-rooms", "3", "-viewers", "60",
		"-spread", "skewed", "-rate", "20", "-duration", "2s", "-join-rate", "200", "-slo-errors", "0", "-slo-p99", "2s")
	checkNoLeaks(t)
	if code != 0 || r == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if r.Connected != 60 || r.ConnectFailed != 0 {
		t.Errorf("connected %d, failed %d; want 60, 0", r.Connected, r.ConnectFailed)
	}
	if r.Published < 3*20 { // 3 rooms, 20/s, 2s: about 120
		t.Errorf("published %d events, want about 120", r.Published)
	}
	if r.Delivered == 0 || r.EventMS.Count == 0 || r.LatencyMS != r.EventMS {
		t.Errorf("delivered %d, latency samples %d", r.Delivered, r.EventMS.Count)
	}
	if r.Gaps != 0 || r.Missing != 0 || r.Duplicates != 0 {
		t.Errorf("gaps %d missing %d duplicates %d, want 0", r.Gaps, r.Missing, r.Duplicates)
	}
	if r.JoinMS.Count != 60 {
		t.Errorf("join latency samples %d, want 60", r.JoinMS.Count)
	}
	if r.JoinAllMS <= 0 || r.JoinAllMS < r.JoinMS.Max*0.99 { // the histogram rounds to 3 digits
		t.Errorf("all joined in %vms, slowest join %vms: the whole join phase cannot be shorter", r.JoinAllMS, r.JoinMS.Max)
	}
	if r.Errors != 0 || len(r.Violations) != 0 {
		t.Errorf("errors %v, violations %v", r.ErrorKinds, r.Violations)
	}
}

func TestE2EFlashsale(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	code, r, out := runLoadtest(t, "-scenario", "flashsale", "-url", url, "-buyers", "80", "-stock", "25",
		"-starts-in", "1500ms", "-duration", "10s", "-slo-errors", "0")
	checkNoLeaks(t)
	if code != 0 || r == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if r.Orders != 25 || r.Oversold != 0 {
		t.Errorf("orders %d oversold %d, want 25, 0", r.Orders, r.Oversold)
	}
	f := r.Flash
	if f == nil || f.Verdict != "PASS" || f.Duplicates != 0 || f.Lost != 0 || !f.RemainingOK {
		t.Fatalf("flash result %+v", f)
	}
	if f.Remaining[strings.Replace(url, "ws", "http", 1)] != 0 {
		t.Errorf("remaining %v, want 0", f.Remaining)
	}
	if r.Answers["ok"] != 25 || r.Answers["ok"]+r.Answers["sold_out"]+r.Answers["limit_exceeded"] != 80 {
		t.Errorf("answers %v: want 25 ok and the other 55 sold_out", r.Answers)
	}
	if r.PurchaseMS.Count < 80 || r.LatencyMS != r.PurchaseMS {
		t.Errorf("purchase latency samples %d, want at least 80", r.PurchaseMS.Count)
	}
	if !strings.Contains(out, "verdict") || !strings.Contains(out, "PASS") {
		t.Errorf("the table has no PASS verdict:\n%s", out)
	}
}

func TestE2EStorm(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	code, r, out := runLoadtest(t, "-scenario", "storm", "-url", url, "-rooms", "2", "-viewers", "50",
		"-rate", "10", "-duration", "1s", "-backoff-base", "50ms", "-backoff-max", "400ms", "-slo-errors", "0")
	checkNoLeaks(t)
	if code != 0 || r == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if r.Dropped != 50 || r.Recovered != 50 {
		t.Errorf("dropped %d, recovered %d; want 50, 50", r.Dropped, r.Recovered)
	}
	if r.RecoverMS.Count != 50 || r.LatencyMS != r.RecoverMS || r.RecoverAllMS <= 0 {
		t.Errorf("recovery samples %d, all back in %vms", r.RecoverMS.Count, r.RecoverAllMS)
	}
	if r.RecoverAllMS > 5000 {
		t.Errorf("all back in %vms, want under 5s with a 400ms backoff bound", r.RecoverAllMS)
	}
	if r.ViaReplay+r.ViaSnapshot != 50 {
		t.Errorf("via replay %d + via snapshot %d, want 50", r.ViaReplay, r.ViaSnapshot)
	}
	if r.Gaps != 0 || r.Missing != 0 {
		t.Errorf("gaps %d missing %d after the storm, want 0", r.Gaps, r.Missing)
	}
}

// The worker tests run the scenarios over two worker processes (the test
// binary re-executed, see TestMain) and check that the parent merged their
// figures.

func TestE2EViewersWorkers(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	code, r, out := runLoadtest(t, "-scenario", "viewers", "-url", url, "-workers", "2", "-rooms", "2",
		"-viewers", "40", "-rate", "10", "-duration", "2s", "-slo-errors", "0")
	checkNoLeaks(t)
	if code != 0 || r == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if r.Workers != 2 || r.Connections != 40 || r.Connected != 40 {
		t.Errorf("workers %d, connections %d, connected %d; want 2, 40, 40", r.Workers, r.Connections, r.Connected)
	}
	// Every viewer receives every event of its room.
	if r.Delivered != r.Published*20 {
		t.Errorf("delivered %d, want %d (published %d x 20 viewers per room)", r.Delivered, r.Published*20, r.Published)
	}
	if r.EventMS.Count != r.Delivered || r.JoinMS.Count != 40 {
		t.Errorf("latency samples: event %d of %d delivered, join %d of 40", r.EventMS.Count, r.Delivered, r.JoinMS.Count)
	}
	if r.Gaps != 0 || r.Unmatched != 0 {
		t.Errorf("gaps %d unmatched %d, want 0", r.Gaps, r.Unmatched)
	}
}

func TestE2EFlashsaleWorkers(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	code, r, out := runLoadtest(t, "-scenario", "flashsale", "-url", url, "-workers", "2", "-buyers", "60",
		"-stock", "20", "-starts-in", "1500ms", "-slo-errors", "0")
	checkNoLeaks(t)
	if code != 0 || r == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if r.Flash == nil || r.Flash.Verdict != "PASS" || r.Orders != 20 || r.Oversold != 0 {
		t.Fatalf("orders %d oversold %d flash %+v", r.Orders, r.Oversold, r.Flash)
	}
	if r.Buyers != 60 || r.Answers["ok"] != 20 || r.PurchaseMS.Count < 60 {
		t.Errorf("buyers %d, answers %v, purchase samples %d", r.Buyers, r.Answers, r.PurchaseMS.Count)
	}
}

func TestE2EStormWorkers(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	code, r, out := runLoadtest(t, "-scenario", "storm", "-url", url, "-workers", "2", "-rooms", "2",
		"-viewers", "40", "-rate", "5", "-duration", "1s", "-backoff-base", "50ms", "-backoff-max", "300ms", "-slo-errors", "0")
	checkNoLeaks(t)
	if code != 0 || r == nil {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if r.JoinAllMS <= 0 {
		t.Errorf("all joined in %vms with workers: the first dial and last join were not merged", r.JoinAllMS)
	}
	if r.Dropped != 40 || r.Recovered != 40 || r.RecoverMS.Count != 40 || r.RecoverAllMS <= 0 {
		t.Errorf("dropped %d recovered %d samples %d all back in %vms", r.Dropped, r.Recovered, r.RecoverMS.Count, r.RecoverAllMS)
	}
}

// TestE2ESpreadsSourceAddresses lowers the spreading thresholds so that 30
// viewers of one loopback node come from 127.0.0.1, .2 and .3.
func TestE2ESpreadsSourceAddresses(t *testing.T) {
	oldAbove, oldPer := spreadAbove, perSourceIP
	spreadAbove, perSourceIP = 10, 10
	defer func() { spreadAbove, perSourceIP = oldAbove, oldPer }()

	srv, err := server.New(server.Config{SeedDemo: true, MsgRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sources := map[string]int{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			mu.Lock()
			sources[host]++
			mu.Unlock()
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ts.Close()
	}()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	code, r, out := runLoadtest(t, "-url", url, "-rooms", "1", "-viewers", "30", "-rate", "5", "-duration", "300ms")
	if code != 0 || r == nil || r.Connected != 30 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	mu.Lock()
	defer mu.Unlock()
	// The creator's connection is not spread: 127.0.0.1 has one more.
	want := map[string]int{"127.0.0.1": 11, "127.0.0.2": 10, "127.0.0.3": 10}
	if len(sources) != 3 || sources["127.0.0.1"] != want["127.0.0.1"] || sources["127.0.0.2"] != 10 || sources["127.0.0.3"] != 10 {
		t.Errorf("upgrades by source address %v, want %v", sources, want)
	}
}

// TestE2EDisconnectsByCloseCode shuts the node down during the run: every
// connection is closed with 1001, which the report counts by code.
func TestE2EDisconnectsByCloseCode(t *testing.T) {
	srv, err := server.New(server.Config{SeedDemo: true, MsgRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	go func() {
		time.Sleep(1500 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	code, r, out := runLoadtest(t, "-url", url, "-rooms", "2", "-viewers", "20", "-rate", "5", "-duration", "3s", "-drain", "500ms")
	checkNoLeaks(t)
	if code != 1 || r == nil {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	// 20 viewers and 2 creators.
	if r.Disconnects["1001"] != 22 || r.Errors < 22 || r.ErrorKinds["disconnect_1001"] != 20 || r.ErrorKinds["creator_disconnect_1001"] != 2 {
		t.Errorf("disconnects %v, errors %d %v; want 22 closes with 1001", r.Disconnects, r.Errors, r.ErrorKinds)
	}
}

// TestE2EDeadline checks that -deadline cuts a run short: it stops by
// itself soon after, reports why and fails.
func TestE2EDeadline(t *testing.T) {
	url := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	start := time.Now()
	code, r, out := runLoadtest(t, "-url", url, "-rooms", "1", "-viewers", "10", "-rate", "5", "-duration", "1m", "-deadline", "1500ms")
	checkNoLeaks(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the run took %v with -deadline 1.5s", took)
	}
	if code != 1 || r == nil || !strings.Contains(strings.Join(r.Failures, "\n"), "deadline") {
		t.Fatalf("exit %d, want 1 with a deadline failure\n%s", code, out)
	}
	if r.Published == 0 || r.Delivered == 0 {
		t.Errorf("the figures until the deadline are lost: published %d delivered %d", r.Published, r.Delivered)
	}
}

// TestE2ENoServer: a run that cannot set up exits 3 at once.
func TestE2ENoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	code, _, out := runLoadtest(t, "-url", "ws://"+addr, "-viewers", "5", "-rooms", "1")
	checkNoLeaks(t)
	if code != 3 || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d after %v, want 3 at once\n%s", code, time.Since(start), out)
	}
}
