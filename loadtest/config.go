package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Scenario names.
const (
	scenarioViewers   = "viewers"
	scenarioFlashsale = "flashsale"
	scenarioStorm     = "storm"
)

// Spreads of viewers over rooms.
const (
	spreadEven   = "even"
	spreadSkewed = "skewed"
)

// workerPlanFlag is the hidden flag that turns the process into a worker of
// a parent load tester (see worker.go).
const workerPlanFlag = "worker-plan"

// Config is everything a run needs. It is JSON-encoded into the plans of
// worker processes, so every field must survive a round trip.
type Config struct {
	Scenario        string        `json:"scenario"`
	URLs            []string      `json:"urls"`
	Rooms           int           `json:"rooms"`
	Viewers         int           `json:"viewers"`
	Spread          string        `json:"spread"`
	Skew            float64       `json:"skew"`
	JoinRate        float64       `json:"join_rate"`
	Rate            float64       `json:"rate"`
	Duration        time.Duration `json:"duration"`
	Buyers          int           `json:"buyers"`
	Stock           int64         `json:"stock"`
	StartsIn        time.Duration `json:"starts_in"`
	PerUser         int64         `json:"per_user"`
	Secret          string        `json:"secret,omitempty"`
	Workers         int           `json:"workers"`
	Deadline        time.Duration `json:"deadline"`
	Drain           time.Duration `json:"drain"`
	JSON            string        `json:"json,omitempty"`
	CPUProfile      string        `json:"-"`
	SLOP99          time.Duration `json:"slo_p99"`
	SLOGaps         int64         `json:"slo_gaps"`
	SLOOversold     int64         `json:"slo_oversold"`
	SLOErrors       int64         `json:"slo_errors"`
	BackoffBase     time.Duration `json:"backoff_base"`
	BackoffMax      time.Duration `json:"backoff_max"`
	DialConcurrency int           `json:"dial_concurrency"`
	RoomPrefix      string        `json:"room_prefix,omitempty"`

	workerPlan string // hidden: path of a worker plan; not part of a plan
}

// urlList is a flag.Value that may be repeated and takes comma-separated lists.
type urlList struct {
	urls *[]string
	set  bool
}

func (u *urlList) String() string {
	if u.urls == nil {
		return ""
	}
	return strings.Join(*u.urls, ",")
}

func (u *urlList) Set(s string) error {
	if !u.set {
		*u.urls = nil // the first -url replaces the default
		u.set = true
	}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*u.urls = append(*u.urls, p)
		}
	}
	return nil
}

// connections is the number of load connections (viewers or buyers) of the
// configured scenario, not counting the tester's creator connections.
func (c *Config) connections() int {
	if c.Scenario == scenarioFlashsale {
		return c.Buyers
	}
	return c.Viewers
}

// parseConfig parses the command line. It returns flag.ErrHelp after
// printing the usage for -h.
func parseConfig(args []string, stderr io.Writer) (*Config, error) {
	c := &Config{URLs: []string{"ws://127.0.0.1:8080"}}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Scenario, "scenario", scenarioViewers, "scenario to run: viewers, flashsale or storm")
	fs.Var(&urlList{urls: &c.URLs}, "url", "node `URL`s (ws://host:port, repeatable or comma-separated); connections go round robin; the HTTP API is the same host over http")
	fs.IntVar(&c.Rooms, "rooms", 10, "viewers, storm: number of rooms (the tester creates them)")
	fs.IntVar(&c.Viewers, "viewers", 1000, "viewers, storm: number of viewer connections")
	fs.StringVar(&c.Spread, "spread", spreadEven, "viewers, storm: viewers over rooms, even or skewed (zipf-like, see -skew)")
	fs.Float64Var(&c.Skew, "skew", 1.0, "exponent s of the skewed spread: room k gets a share proportional to 1/(k+1)^s")
	fs.Float64Var(&c.JoinRate, "join-rate", 0, "connections opened per second (0: as fast as -dial-concurrency allows)")
	fs.Float64Var(&c.Rate, "rate", 1, "viewers, storm: events (pins) per second per room, sent by one creator connection per room")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "viewers: how long the creators publish; flashsale: the sale's duration_ms; storm: how long viewers stay before they all drop")
	fs.IntVar(&c.Buyers, "buyers", 1000, "flashsale: number of buyers (own connections, distinct users)")
	fs.Int64Var(&c.Stock, "stock", 100, "flashsale: stock of the sale's product, and the sale quantity")
	fs.DurationVar(&c.StartsIn, "starts-in", 2*time.Second, "flashsale: the sale's starts_in_ms (buyers fire at starts_at)")
	fs.Int64Var(&c.PerUser, "per-user", 1, "flashsale: the sale's per_user_limit")
	fs.StringVar(&c.Secret, "secret", "", "HS256 secret of the server: the tester mints its own tokens (without it: POST /dev/token, development mode)")
	fs.IntVar(&c.Workers, "workers", 0, "worker processes sharing the connections (0: in-process, or automatic above 15000 connections)")
	fs.DurationVar(&c.Deadline, "deadline", 0, "hard limit of the whole run (0: 2*duration + 90s + connections/join-rate)")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "how long to wait, after publishing, for every viewer to receive the last event")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the tester's own CPU profile (this process, not its workers) to `FILE`")
	fs.StringVar(&c.JSON, "json", "", "write every figure of the result as JSON to `FILE`")
	fs.DurationVar(&c.SLOP99, "slo-p99", 0, "fail when the p99 of the scenario's latency is above this (0: no check)")
	fs.Int64Var(&c.SLOGaps, "slo-gaps", 0, "fail when seq gaps are more than N (negative: no check)")
	fs.Int64Var(&c.SLOOversold, "slo-oversold", 0, "flashsale: fail when more than N units are oversold (negative: no check)")
	fs.Int64Var(&c.SLOErrors, "slo-errors", 0, "fail when errors (failed joins, unexpected disconnects, error replies, protocol violations, ...) are more than N (negative: no check)")
	fs.DurationVar(&c.BackoffBase, "backoff-base", 100*time.Millisecond, "storm: first reconnect delay bound (full jitter, doubling)")
	fs.DurationVar(&c.BackoffMax, "backoff-max", 5*time.Second, "storm: largest reconnect delay bound")
	fs.IntVar(&c.DialConcurrency, "dial-concurrency", 256, "connections being opened at once, at most")
	fs.StringVar(&c.RoomPrefix, "room-prefix", "", "prefix of the room ids the tester creates (default: lt + a random run id)")
	fs.StringVar(&c.workerPlan, workerPlanFlag, "", "internal: run as a worker of a parent load tester")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.workerPlan != "" {
		return c, nil
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) validate() error {
	var errs []error
	switch c.Scenario {
	case scenarioViewers, scenarioFlashsale, scenarioStorm:
	default:
		errs = append(errs, fmt.Errorf("-scenario %q: want viewers, flashsale or storm", c.Scenario))
	}
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("-url: at least one node URL"))
	}
	if _, err := parseNodes(c.URLs); err != nil {
		errs = append(errs, err)
	}
	if c.Spread != spreadEven && c.Spread != spreadSkewed {
		errs = append(errs, fmt.Errorf("-spread %q: want even or skewed", c.Spread))
	}
	if c.Scenario != scenarioFlashsale {
		if c.Rooms < 1 {
			errs = append(errs, errors.New("-rooms must be at least 1"))
		}
		if c.Viewers < 0 {
			errs = append(errs, errors.New("-viewers must not be negative"))
		}
	} else {
		if c.Buyers < 0 {
			errs = append(errs, errors.New("-buyers must not be negative"))
		}
		if c.Stock < 1 {
			errs = append(errs, errors.New("-stock must be at least 1"))
		}
		if c.PerUser < 1 {
			errs = append(errs, errors.New("-per-user must be at least 1"))
		}
		if c.Duration < time.Millisecond {
			errs = append(errs, errors.New("-duration (the sale's duration) must be at least 1ms"))
		}
	}
	if c.Rate < 0 || c.JoinRate < 0 || c.Skew < 0 {
		errs = append(errs, errors.New("-rate, -join-rate and -skew must not be negative"))
	}
	if c.Duration < 0 || c.Deadline < 0 || c.Drain < 0 || c.StartsIn < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.Workers < 0 {
		errs = append(errs, errors.New("-workers must not be negative"))
	}
	if c.DialConcurrency < 1 {
		errs = append(errs, errors.New("-dial-concurrency must be at least 1"))
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase {
		errs = append(errs, errors.New("-backoff-base must be positive and at most -backoff-max"))
	}
	if c.RoomPrefix != "" && !validRoomPrefix(c.RoomPrefix) {
		errs = append(errs, errors.New("-room-prefix: at most 40 characters of [A-Za-z0-9_-]"))
	}
	return errors.Join(errs...)
}

func validRoomPrefix(p string) bool {
	if len(p) > 40 {
		return false
	}
	for i := 0; i < len(p); i++ {
		ch := p[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// deadline is the hard limit of the run.
func (c *Config) deadline() time.Duration {
	if c.Deadline > 0 {
		return c.Deadline
	}
	d := 2*c.Duration + 90*time.Second
	if c.Scenario == scenarioFlashsale {
		d += c.StartsIn
	}
	if c.JoinRate > 0 {
		d += time.Duration(float64(c.connections()) / c.JoinRate * float64(time.Second))
	}
	return d
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage: go run ./loadtest [flags]

The liveserver load tester: it speaks docs/PROTOCOL.md to one or more nodes
and measures them. Scenarios (-scenario):

  viewers    N viewers (-viewers) join R rooms (-rooms, -spread) across the
             nodes at -join-rate; one creator connection per room pins
             products at -rate events/s for -duration. Measures join+snapshot
             latency, event delivery latency, delivered events/s, seq gaps
             and disconnects by close code.
  flashsale  B buyers (-buyers) wait for a sale of -stock units that the
             tester schedules -starts-in ahead, and all send buy at starts_at
             (server clock). Measures purchase latency and throughput, then
             verifies the orders and the stock on every node: PASS or FAIL.
  storm      N viewers join, stay -duration, then all drop at once and
             reconnect with jittered exponential backoff and join with since.
             Measures the time until every viewer is back and caught up.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == workerPlanFlag {
			return
		}
		name, help := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(help, "\n", "\n    \t"))
		if f.DefValue != "" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprint(w, `
Exit status: 0 when every check passed, 1 when an SLO or the flash sale
verification failed (or the deadline cut the run short), 2 for bad flags,
3 when the run could not be set up. See loadtest/README.md.
`)
}
