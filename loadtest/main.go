// Command loadtest is liveserver's bundled load tester: a black box that
// speaks docs/PROTOCOL.md to one or more nodes, runs a scenario (viewers,
// flashsale, storm) and reports latencies, throughput and correctness
// checks, failing when a threshold is broken. See README.md.
//
// Concurrency: each load connection has one reader goroutine; a
// connection's other goroutines (connect, buy, reconnect) hand its state to
// and from the reader through channels. Everything a run starts ends with
// the run: every wait is bounded by the run's deadline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the exit, for tests: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	if cfg.workerPlan != "" {
		// Ctrl-C reaches the whole process group: the parent stops the
		// run, and a worker stops when told or when its stdin closes.
		signal.Ignore(os.Interrupt, syscall.SIGTERM)
		return runWorker(cfg.workerPlan, stdin, stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	r, err := runScenario(ctx, cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 3
	}
	r.printTable(stdout)
	if cfg.JSON != "" {
		if err := r.writeJSON(cfg.JSON); err != nil {
			fmt.Fprintln(stderr, "loadtest: writing -json:", err)
			return 3
		}
	}
	if r.Verdict != "PASS" {
		return 1
	}
	return 0
}
