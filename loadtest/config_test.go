package main

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c, err := parseConfig([]string{"-scenario", "flashsale", "-url", "ws://a:1,ws://b:2", "-url", "ws://c:3",
		"-buyers", "5", "-stock", "2", "-slo-p99", "250ms"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.URLs, []string{"ws://a:1", "ws://b:2", "ws://c:3"}) || c.Buyers != 5 || c.Stock != 2 || c.SLOP99 != 250*time.Millisecond {
		t.Errorf("config %+v", c)
	}
	if c.connections() != 5 {
		t.Errorf("a flash sale's connections are its buyers: %d", c.connections())
	}
	d, _ := parseConfig(nil, &out)
	if d.Scenario != scenarioViewers || !slices.Equal(d.URLs, []string{"ws://127.0.0.1:8080"}) || d.SLOGaps != 0 || d.SLOOversold != 0 || d.SLOErrors != 0 {
		t.Errorf("defaults %+v", d)
	}
	if got := d.deadline(); got != 2*d.Duration+90*time.Second {
		t.Errorf("default deadline %v", got)
	}
	for _, args := range [][]string{
		{"-scenario", "nope"},
		{"-url", "ftp://x"},
		{"-spread", "wide"},
		{"-rooms", "0"},
		{"-scenario", "flashsale", "-stock", "0"},
		{"-rate", "-1"},
		{"-room-prefix", "bad prefix"},
		{"extra"},
	} {
		if _, err := parseConfig(args, &out); err == nil {
			t.Errorf("parseConfig(%q) accepted", args)
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	u := out.String()
	for _, want := range []string{"viewers", "flashsale", "storm", "-scenario", "-url", "-rooms", "-viewers", "-rate", "-duration",
		"-buyers", "-stock", "-secret", "-json", "-slo-p99", "-slo-gaps", "-slo-oversold", "-slo-errors", "-workers", "-deadline", "-join-rate", "-spread"} {
		if !strings.Contains(u, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	if strings.Contains(u, workerPlanFlag) {
		t.Error("usage shows the hidden worker flag")
	}
	if code := run([]string{"-h"}, nil, &out, &out); code != 0 {
		t.Errorf("-h exits %d", code)
	}
	if code := run([]string{"-scenario", "x"}, nil, &out, &out); code != 2 {
		t.Errorf("a bad flag exits %d, want 2", code)
	}
}

func TestParseNodes(t *testing.T) {
	t.Parallel()
	nodes, err := parseNodes([]string{"ws://127.0.0.1:8080", "wss://live.example.com/ws", "http://localhost:9/edge/ws", "ws://[::1]:7/custom"})
	if err != nil {
		t.Fatal(err)
	}
	want := []node{
		{WS: "ws://127.0.0.1:8080/ws", HTTP: "http://127.0.0.1:8080", Loopback: true},
		{WS: "wss://live.example.com/ws", HTTP: "https://live.example.com"},
		{WS: "ws://localhost:9/edge/ws", HTTP: "http://localhost:9/edge", Loopback: true},
		{WS: "ws://[::1]:7/custom", HTTP: "http://[::1]:7", Loopback: true},
	}
	if !slices.Equal(nodes, want) {
		t.Errorf("parseNodes = %+v\nwant %+v", nodes, want)
	}
}

func TestDialerSpreadsSourceAddresses(t *testing.T) {
	t.Parallel()
	nodes, _ := parseNodes([]string{"ws://127.0.0.1:1", "ws://10.0.0.1:1"})
	d := newDialer(nodes, 2*60000) // 60,000 per node
	defer d.close()
	if got := d.sourceIPs(0); got != 3 {
		t.Errorf("loopback node with 60,000 connections: %d source IPs, want 3", got)
	}
	if got := d.sourceIPs(1); got != 1 {
		t.Errorf("non-loopback node: %d source IPs, want 1", got)
	}
	small := newDialer(nodes[:1], spreadAbove)
	defer small.close()
	if got := small.sourceIPs(0); got != 1 {
		t.Errorf("%d connections: %d source IPs, want 1", spreadAbove, got)
	}
}

func TestWorkerCount(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  Config
		want int
	}{
		{Config{Scenario: scenarioViewers, Viewers: 15000}, 0},
		{Config{Scenario: scenarioViewers, Viewers: 15001}, 2},
		{Config{Scenario: scenarioStorm, Viewers: 50000}, 4},
		{Config{Scenario: scenarioFlashsale, Viewers: 50000, Buyers: 100}, 0},
		{Config{Scenario: scenarioFlashsale, Buyers: 30001}, 3},
		{Config{Scenario: scenarioViewers, Viewers: 10, Workers: 3}, 3},
	} {
		if got := workerCount(&tt.cfg); got != tt.want {
			t.Errorf("workerCount(%s, %d viewers, %d buyers, -workers %d) = %d, want %d",
				tt.cfg.Scenario, tt.cfg.Viewers, tt.cfg.Buyers, tt.cfg.Workers, got, tt.want)
		}
	}
}
