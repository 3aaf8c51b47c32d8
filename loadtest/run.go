package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// coordinator runs a scenario: it sets up rooms and creators, drives the
// groups through their phases, and builds the report.
type coordinator struct {
	cfg      *Config
	runID    string
	nodes    []node
	api      *api
	tok      *tokens
	stdout   io.Writer
	stderr   io.Writer
	started  time.Time
	deadline time.Time
	workers  int
	tmpDir   string
	dropNano int64 // storm: when the viewers dropped

	groups atomic.Pointer[[]group] // set once the groups started
	stage  atomic.Pointer[string]
}

func newCoordinator(cfg *Config, stdout, stderr io.Writer) *coordinator {
	nodes, _ := parseNodes(cfg.URLs) // validated by parseConfig
	var id [3]byte
	rand.Read(id[:])
	a := newAPI()
	c := &coordinator{
		cfg: cfg, runID: hex.EncodeToString(id[:]), nodes: nodes, api: a,
		tok:    &tokens{secret: []byte(cfg.Secret), api: a, ttl: cfg.deadline() + time.Hour},
		stdout: stdout, stderr: &lockedWriter{w: stderr},
		started: time.Now(), workers: workerCount(cfg),
	}
	c.deadline = c.started.Add(cfg.deadline())
	c.setStage("setup")
	return c
}

func (c *coordinator) setStage(s string) { c.stage.Store(&s) }

func (c *coordinator) roomPrefix() string {
	if c.cfg.RoomPrefix != "" {
		return c.cfg.RoomPrefix
	}
	return "lt" + c.runID
}

func (c *coordinator) newReport() *Report {
	return &Report{
		Scenario: c.cfg.Scenario, RunID: c.runID, URLs: c.cfg.URLs, Started: c.started,
		Workers: c.workers, Config: redacted(c.cfg),
		ErrorKinds: map[string]int64{}, Disconnects: map[string]int64{}, Violations: map[string]int64{},
		Failures: []string{},
	}
}

// redacted is the config without its secret, for the report.
func redacted(cfg *Config) *Config {
	c := *cfg
	if c.Secret != "" {
		c.Secret = "(set)"
	}
	return &c
}

// creatorToken gets a creator token for one room from the room's node.
func (c *coordinator) creatorToken(ctx context.Context, k int, room string) (string, error) {
	return c.tok.get(ctx, c.nodes[k%len(c.nodes)].HTTP, "creator-"+c.runID+"-"+itoa(k), "creator", []string{room})
}

// setupRooms creates each room (PUT, on the room's node) with its catalog
// and connects one creator per room. On error the creators made so far are
// closed.
func (c *coordinator) setupRooms(ctx context.Context, rooms []string, catalog func(k int) roomBody) ([]*creator, *dialer, error) {
	d := newDialer(c.nodes, len(rooms))
	creators := make([]*creator, len(rooms))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for k, room := range rooms {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := func() error {
				tok, err := c.creatorToken(ctx, k, room)
				if err != nil {
					return err
				}
				if err := c.api.putRoom(ctx, c.nodes[k%len(c.nodes)].HTTP, tok, room, catalog(k)); err != nil {
					return fmt.Errorf("PUT /api/rooms/%s: %w", room, err)
				}
				cr, err := connectCreator(ctx, d, k, room, tok, func(seq uint64, nano int64) { c.publishedEvent(k, seq, nano) })
				if err != nil {
					return fmt.Errorf("creator of %s: %w", room, err)
				}
				creators[k] = cr
				return nil
			}()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		closeCreators(creators)
		d.close()
		if len(errs) > 3 {
			errs = append(errs[:3], fmt.Errorf("and %d more", len(errs)-3))
		}
		return nil, nil, errors.Join(errs...)
	}
	return creators, d, nil
}

// publishedEvent tells every group of an event the tester published.
func (c *coordinator) publishedEvent(room int, seq uint64, nano int64) {
	gs := c.groups.Load()
	if gs == nil {
		return
	}
	for _, g := range *gs {
		g.published(room, seq, nano)
	}
}

func closeCreators(cs []*creator) {
	var wg sync.WaitGroup
	for _, cr := range cs {
		if cr != nil {
			wg.Add(1)
			go func() { defer wg.Done(); cr.close() }()
		}
	}
	wg.Wait()
}

// addCreators adds the creators' figures to the report.
func addCreators(r *Report, cs []*creator, publishFor time.Duration) {
	for _, cr := range cs {
		if cr == nil {
			continue
		}
		r.Published += cr.published.Load()
		r.PublishFailed += cr.failed.Load()
		r.PublishLost += cr.lost.Load()
		errs, viol, closed := cr.figures()
		for k, v := range errs {
			r.ErrorKinds["creator_"+k] += v
			r.Errors += v
		}
		for k, v := range viol {
			r.Violations["creator_"+k] += v
			r.ErrorKinds["creator_protocol_violation"] += v
			r.Errors += v
		}
		if closed != "" {
			r.Disconnects[closed]++
			r.ErrorKinds["creator_disconnect_"+closed]++
			r.Errors++
		}
	}
	if r.PublishLost > 0 {
		r.ErrorKinds["publish_lost"] += r.PublishLost
		r.Errors += r.PublishLost
	}
	if publishFor > 0 {
		r.PublishPerSec = float64(r.Published) / publishFor.Seconds()
	}
}

// startGroups starts the load connections: in this process, or in worker
// processes.
func (c *coordinator) startGroups(ctx context.Context, rooms []string, product string) ([]group, error) {
	base := Plan{Config: *c.cfg, RunID: c.runID, Rooms: rooms, Product: product, Groups: 1, Deadline: c.deadline}
	base.Config.JSON = ""
	var gs []group
	if c.workers == 0 {
		p := base
		gs = []group{newLocalGroup(ctx, &p)}
	} else {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("workers: %w", err)
		}
		dir, err := os.MkdirTemp("", "loadtest-"+c.runID+"-")
		if err != nil {
			return nil, err
		}
		c.tmpDir = dir
		for w := 0; w < c.workers; w++ {
			p := base
			p.Group, p.Groups = w, c.workers
			r, err := startWorker(ctx, exe, &p, dir, c.stderr)
			if err != nil {
				c.finishGroups(gs) // the ones started
				return nil, err
			}
			gs = append(gs, r)
		}
	}
	c.groups.Store(&gs)
	return gs, nil
}

// waitGroups waits until every group reached the phase.
func (c *coordinator) waitGroups(ctx context.Context, gs []group, phase string) error {
	for _, g := range gs {
		if err := g.wait(ctx, phase); err != nil {
			return err
		}
	}
	return nil
}

// finishGroups finishes every group at once and merges their figures. It
// allows the groups their drain time plus a grace period past the run's
// deadline, then gives up on them.
func (c *coordinator) finishGroups(gs []group) (*Stats, error) {
	c.setStage("draining")
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Drain+30*time.Second)
	defer cancel()
	res := make([]*Stats, len(gs))
	errs := make([]error, len(gs))
	var wg sync.WaitGroup
	for i, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = g.finish(ctx)
		}()
	}
	wg.Wait()
	if c.tmpDir != "" {
		os.RemoveAll(c.tmpDir)
	}
	total := &Stats{}
	for _, st := range res {
		if st != nil {
			if err := total.Merge(st); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return total, errors.Join(errs...)
}

// stageFailure records why a wait ended early.
func stageFailure(r *Report, stage string, err error) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		r.fail("the deadline passed while %s", stage)
	case errors.Is(err, context.Canceled):
		r.fail("interrupted while %s", stage)
	default:
		r.fail("%s: %v", stage, err)
	}
}

// progressPrinter writes a live progress line once a second.
func (c *coordinator) startProgress() (stop func()) {
	if !isTerminal(c.stdout) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastDelivered int64
		lastAt := time.Now()
		for {
			select {
			case <-done:
				fmt.Fprint(c.stdout, "\r\033[K")
				return
			case now := <-t.C:
				var p progress
				var p99 int64
				if gs := c.groups.Load(); gs != nil {
					for _, g := range *gs {
						q := g.progress()
						p.Target += q.Target
						p.Open += q.Open
						p.Delivered += q.Delivered
						p.Errors += q.Errors
						p.Gaps += q.Gaps
						p.Recovered += q.Recovered
						p.Answered += q.Answered
						p99 = max(p99, q.P99US)
					}
				}
				rate := float64(p.Delivered-lastDelivered) / now.Sub(lastAt).Seconds()
				lastDelivered, lastAt = p.Delivered, now
				p99s := "-"
				if p99 > 0 {
					p99s = fmtMS(float64(p99) / 1000)
				}
				line := fmt.Sprintf("[%4.0fs] %s: conns %d/%d  events/s %.0f  p99 %s  gaps %d  errors %d",
					now.Sub(c.started).Seconds(), *c.stage.Load(), p.Open, p.Target, rate, p99s, p.Gaps, p.Errors)
				switch c.cfg.Scenario {
				case scenarioStorm:
					line += fmt.Sprintf("  recovered %d", p.Recovered)
				case scenarioFlashsale:
					line += fmt.Sprintf("  answered %d", p.Answered)
				}
				fmt.Fprint(c.stdout, "\r"+line+"\033[K")
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// lockedWriter serializes writes: worker processes' stderr is copied by
// one goroutine each.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runScenario runs the configured scenario. An error means the run could
// not be set up; a failed check is in the report.
func runScenario(ctx context.Context, cfg *Config, stdout, stderr io.Writer) (*Report, error) {
	c := newCoordinator(cfg, stdout, stderr)
	defer c.api.close()
	ctx, cancel := context.WithDeadline(ctx, c.deadline)
	defer cancel()
	stop := c.startProgress()
	var r *Report
	var err error
	switch cfg.Scenario {
	case scenarioViewers, scenarioStorm:
		r, err = c.runRooms(ctx)
	case scenarioFlashsale:
		r, err = c.runFlashsale(ctx)
	case scenarioChat:
		r, err = c.runChat(ctx)
	case scenarioAuction:
		r, err = c.runAuction(ctx)
	default:
		err = fmt.Errorf("unknown scenario %q", cfg.Scenario)
	}
	stop()
	if err != nil {
		return nil, err
	}
	r.ElapsedS = time.Since(c.started).Seconds()
	r.judge(cfg)
	return r, nil
}
