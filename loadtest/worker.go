package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// One process may open at most 20,000 files, so big runs are split over
// worker processes: the tester re-executes itself with the hidden flag
// -worker-plan, each worker taking every Groups-th connection. The parent
// keeps the creators and the verification, and talks to its workers with
// lines of text:
//
//	parent -> worker (stdin):  pub <room> <seq> <nano> | final <room> <seq> |
//	                           sale <startsAt> | drop <nano> | finish
//	worker -> parent (stdout): phase <name> | progress <json> | done
//
// A worker writes its Stats as JSON (histograms as hdrhistogram snapshots)
// to the plan's Out file, and stops by itself at the plan's deadline or
// when its stdin closes.

// autoWorkerAbove is the connection count above which the tester uses
// worker processes without -workers; perWorker is each one's share.
const (
	autoWorkerAbove = 15000
	perWorker       = 15000
)

// Plan is what a group needs to run its share.
type Plan struct {
	Config   Config    `json:"config"`
	RunID    string    `json:"run_id"`
	Rooms    []string  `json:"rooms"`
	Product  string    `json:"product,omitempty"` // flashsale
	Group    int       `json:"group"`
	Groups   int       `json:"groups"`
	Deadline time.Time `json:"deadline"`
	Out      string    `json:"out,omitempty"` // worker result file
}

// workerCount is how many worker processes a run uses (0: in-process).
func workerCount(cfg *Config) int {
	if cfg.Workers > 0 {
		return cfg.Workers
	}
	if n := cfg.connections(); n > autoWorkerAbove {
		return (n + perWorker - 1) / perWorker
	}
	return 0
}

// remoteGroup is a worker process seen from the parent.
type remoteGroup struct {
	idx    int
	cmd    *exec.Cmd
	out    string
	lines  chan string   // to the worker's stdin
	exited chan struct{} // closed when the process ended and its pipes drained
	phases map[string]*phase
	prog   atomic.Pointer[progress]
	waitMu sync.Mutex
	err    error
	wg     sync.WaitGroup
}

var _ group = (*remoteGroup)(nil)

// startWorker starts a worker process for plan. The caller must call finish.
func startWorker(ctx context.Context, exe string, plan *Plan, dir string, stderr io.Writer) (*remoteGroup, error) {
	planPath := filepath.Join(dir, fmt.Sprintf("plan-%d.json", plan.Group))
	plan.Out = filepath.Join(dir, fmt.Sprintf("result-%d.json", plan.Group))
	b, err := json.Marshal(plan)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(planPath, b, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-"+workerPlanFlag, planPath)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker %d: %w", plan.Group, err)
	}
	r := &remoteGroup{
		idx: plan.Group, cmd: cmd, out: plan.Out,
		lines:  make(chan string, 1<<16),
		exited: make(chan struct{}),
		phases: map[string]*phase{phaseReady: newPhase(), phaseBought: newPhase(), phaseRecovered: newPhase()},
	}
	r.prog.Store(&progress{})
	r.wg.Add(2)
	go r.writeLoop(stdin)
	go func() {
		defer r.wg.Done()
		r.readLoop(stdout, stderr)
		err := cmd.Wait()
		r.waitMu.Lock()
		r.err = err
		r.waitMu.Unlock()
		close(r.exited)
	}()
	return r, nil
}

// writeLoop writes lines to the worker, flushing whenever it has no more
// queued; it ends when the worker exits.
func (r *remoteGroup) writeLoop(stdin io.WriteCloser) {
	defer r.wg.Done()
	defer stdin.Close()
	w := bufio.NewWriterSize(stdin, 64<<10)
	for {
		select {
		case l := <-r.lines:
			if _, err := w.WriteString(l + "\n"); err != nil {
				return
			}
			if len(r.lines) == 0 {
				if err := w.Flush(); err != nil {
					return
				}
			}
			if l == "finish" {
				return
			}
		case <-r.exited:
			return
		}
	}
}

func (r *remoteGroup) readLoop(stdout io.Reader, stderr io.Writer) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		verb, arg, _ := strings.Cut(line, " ")
		switch verb {
		case "phase":
			if p := r.phases[arg]; p != nil {
				p.done()
			}
		case "progress":
			var p progress
			if json.Unmarshal([]byte(arg), &p) == nil {
				r.prog.Store(&p)
			}
		case "done":
		default:
			fmt.Fprintf(stderr, "worker %d: %s\n", r.idx, line)
		}
	}
}

func (r *remoteGroup) send(line string) {
	select {
	case r.lines <- line:
	case <-r.exited:
	}
}

func (r *remoteGroup) wait(ctx context.Context, name string) error {
	select {
	case <-r.phases[name].ch:
		return nil
	case <-r.exited:
		select {
		case <-r.phases[name].ch:
			return nil
		default:
		}
		return fmt.Errorf("worker %d exited before %s", r.idx, name)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *remoteGroup) published(room int, seq uint64, nano int64) {
	r.send("pub " + strconv.Itoa(room) + " " + strconv.FormatUint(seq, 10) + " " + strconv.FormatInt(nano, 10))
}

func (r *remoteGroup) final(room int, seq uint64) {
	r.send("final " + strconv.Itoa(room) + " " + strconv.FormatUint(seq, 10))
}

func (r *remoteGroup) startSale(startsAt int64) {
	r.send("sale " + strconv.FormatInt(startsAt, 10))
}

func (r *remoteGroup) drop(dropNano int64) {
	r.send("drop " + strconv.FormatInt(dropNano, 10))
}

func (r *remoteGroup) progress() progress { return *r.prog.Load() }

// finish tells the worker to finish and waits for it; when ctx ends first,
// the worker is killed.
func (r *remoteGroup) finish(ctx context.Context) (*Stats, error) {
	r.send("finish")
	select {
	case <-r.exited:
	case <-ctx.Done():
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.wg.Wait()
	r.waitMu.Lock()
	werr := r.err
	r.waitMu.Unlock()
	b, err := os.ReadFile(r.out)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("worker %d: no result: %w", r.idx, err), werr)
	}
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("worker %d: result: %w", r.idx, err)
	}
	return &st, werr
}

// runWorker is the main of a worker process.
func runWorker(planPath string, stdin io.Reader, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(planPath)
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 3
	}
	var plan Plan
	if err := json.Unmarshal(b, &plan); err != nil {
		fmt.Fprintln(stderr, "worker: plan:", err)
		return 3
	}
	ctx, cancel := context.WithDeadline(context.Background(), plan.Deadline)
	defer cancel()
	g := newLocalGroup(ctx, &plan)

	var outMu sync.Mutex
	out := bufio.NewWriter(stdout)
	say := func(s string) {
		outMu.Lock()
		defer outMu.Unlock()
		out.WriteString(s + "\n")
		out.Flush()
	}
	var helpers sync.WaitGroup
	for _, name := range []string{phaseReady, phaseBought, phaseRecovered} {
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			if g.wait(ctx, name) == nil {
				say("phase " + name)
			}
		}()
	}
	helpers.Add(1)
	go func() {
		defer helpers.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p, _ := json.Marshal(g.progress())
				say("progress " + string(p))
			case <-ctx.Done():
				return
			}
		}
	}()

	// Commands; stdin is read in its own goroutine so that the deadline
	// ends the loop even when the parent says nothing.
	cmds := make(chan string, 1024)
	go func() { // ends when stdin closes: the parent closes it at finish or dies
		defer close(cmds)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
	}()
loop:
	for {
		select {
		case line, ok := <-cmds:
			if !ok || line == "finish" {
				break loop
			}
			handleCommand(g, line)
		case <-ctx.Done():
			break loop
		}
	}
	grace, gcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer gcancel()
	st, _ := g.finish(grace)
	cancel()
	helpers.Wait()
	res, err := json.Marshal(st)
	if err == nil {
		tmp := plan.Out + ".tmp"
		if err = os.WriteFile(tmp, res, 0o600); err == nil {
			err = os.Rename(tmp, plan.Out)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "worker: writing the result:", err)
		return 3
	}
	say("done")
	return 0
}

func handleCommand(g group, line string) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return
	}
	num := func(i int) int64 {
		if i >= len(f) {
			return 0
		}
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return n
	}
	switch f[0] {
	case "pub":
		g.published(int(num(1)), uint64(num(2)), num(3))
	case "final":
		g.final(int(num(1)), uint64(num(2)))
	case "sale":
		go g.startSale(num(1)) // waits for phaseReady
	case "drop":
		go g.drop(num(1))
	}
}
