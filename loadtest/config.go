package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Scenario names.
const (
	scenarioViewers   = "viewers"
	scenarioFlashsale = "flashsale"
	scenarioStorm     = "storm"
	scenarioChat      = "chat"
	scenarioAuction   = "auction"
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

	// chat
	CommentRate  float64       `json:"comment_rate"`
	ReactionRate float64       `json:"reaction_rate"`
	StockRate    float64       `json:"stock_rate"`
	Authors      int           `json:"authors"`
	Reactors     int           `json:"reactors"`
	FanoutRate   int           `json:"chat_fanout_rate"`
	AnnounceIn   time.Duration `json:"announce_within"`

	// auction
	Bidders      int           `json:"bidders"`
	Bids         int           `json:"bids"`
	Extend       time.Duration `json:"extend"`
	SuddenDeath  bool          `json:"sudden_death"`
	StartPrice   int64         `json:"start_price"`
	Increment    int64         `json:"increment"`
	LateBids     int           `json:"late_bids"`
	AuctionRooms int           `json:"auction_rooms"`

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
	fs.StringVar(&c.Scenario, "scenario", scenarioViewers, "scenario to run: viewers, flashsale, storm, chat or auction")
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
	fs.Float64Var(&c.CommentRate, "comment-rate", 50, "chat: comments per second into the room, in all")
	fs.Float64Var(&c.ReactionRate, "reaction-rate", 1000, "chat: reactions per second, in all")
	fs.Float64Var(&c.StockRate, "stock-rate", 20, "chat: stock changes (buys of p1 by one buyer connection) per second")
	fs.IntVar(&c.Authors, "authors", 0, "chat: viewers that post comments, each at most 1/s as the protocol allows (0: 2 x -comment-rate, at most -viewers)")
	fs.IntVar(&c.Reactors, "reactors", 0, "chat: viewers that send reactions, each at most 10/s (0: -reaction-rate / 5, at most -viewers)")
	fs.IntVar(&c.FanoutRate, "chat-fanout-rate", 50, "chat: the nodes' -chat-fanout-rate; above it the tester expects sampling, announced within 1s")
	fs.DurationVar(&c.AnnounceIn, "announce-within", time.Second, "chat: when sampling is expected, every viewer must be told chat_mode sampled:true this soon after the first comment")
	fs.IntVar(&c.Bidders, "bidders", 100, "auction: how many of the -viewers connections bid (each its own user)")
	fs.IntVar(&c.Bids, "bids", 5, "auction: bids per bidder, at times drawn from a curve that peaks in the auction's last seconds")
	fs.DurationVar(&c.Extend, "extend", 10*time.Second, "auction: the auction's extend_ms (anti-sniping; 0: none)")
	fs.BoolVar(&c.SuddenDeath, "sudden-death", false, "auction: the auction's sudden_death")
	fs.Int64Var(&c.StartPrice, "start-price", 1000, "auction: start_price (minor units)")
	fs.Int64Var(&c.Increment, "increment", 100, "auction: increment (minor units)")
	fs.IntVar(&c.LateBids, "late-bids", 20, "auction: bids sent just after the auction's end by the server's clock; each must be refused")
	fs.IntVar(&c.AuctionRooms, "auction-rooms", 0, "auction: 0: one auction, -bidders bid on a curve; N: N rooms, an auction and one bidder each, bidding back to back without collisions (accepted bids/s); the -viewers are spread over the rooms, -bidders and -bids are not used")
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
	case scenarioChat, scenarioAuction:
		errs = append(errs, c.validateCrowd()...)
	default:
		errs = append(errs, fmt.Errorf("-scenario %q: want viewers, flashsale, storm, chat or auction", c.Scenario))
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

// validateCrowd checks the flags of the chat and auction scenarios.
func (c *Config) validateCrowd() []error {
	var errs []error
	if c.Workers != 0 || c.Viewers > autoWorkerAbove {
		errs = append(errs, fmt.Errorf("-scenario %s runs in one process: -workers 0 and at most %d -viewers", c.Scenario, autoWorkerAbove))
	}
	if c.Viewers < 1 {
		errs = append(errs, errors.New("-viewers must be at least 1"))
	}
	if c.Scenario == scenarioChat {
		if c.CommentRate < 0 || c.ReactionRate < 0 || c.StockRate < 0 {
			errs = append(errs, errors.New("-comment-rate, -reaction-rate and -stock-rate must not be negative"))
		}
		if a := c.chatAuthors(); c.CommentRate > float64(a) {
			errs = append(errs, fmt.Errorf("-comment-rate %g needs at least as many authors (the protocol allows 1 comment/s per user): %d", c.CommentRate, a))
		}
		if r := c.chatReactors(); c.ReactionRate > 10*float64(r) {
			errs = append(errs, fmt.Errorf("-reaction-rate %g needs at least a tenth as many reactors (10/s per user count): %d", c.ReactionRate, r))
		}
		if c.FanoutRate < 1 {
			errs = append(errs, errors.New("-chat-fanout-rate must be at least 1"))
		}
		if c.Duration <= 0 {
			errs = append(errs, errors.New("-duration must be positive"))
		}
		return errs
	}
	switch {
	case c.AuctionRooms < 0:
		errs = append(errs, errors.New("-auction-rooms must not be negative"))
	case c.AuctionRooms > c.Viewers:
		errs = append(errs, errors.New("-auction-rooms needs at least as many -viewers (each room's bidder is one)"))
	case c.AuctionRooms > 0: // -bidders and -bids are not used
	default:
		if c.Bidders < 1 || c.Bidders > c.Viewers {
			errs = append(errs, errors.New("-bidders must be between 1 and -viewers"))
		}
		if c.Bids < 1 {
			errs = append(errs, errors.New("-bids must be at least 1"))
		}
	}
	if c.Duration < 5*time.Second || c.Duration > 10*time.Minute {
		errs = append(errs, errors.New("-duration (the auction's duration_ms) must be 5s to 10m"))
	}
	if c.Extend < 0 || c.Extend > time.Minute {
		errs = append(errs, errors.New("-extend must be 0 to 60s"))
	}
	if c.StartPrice < 1 || c.Increment < 1 {
		errs = append(errs, errors.New("-start-price and -increment must be at least 1"))
	}
	if c.LateBids < 0 {
		errs = append(errs, errors.New("-late-bids must not be negative"))
	}
	return errs
}

// chatAuthors is how many viewers post comments.
func (c *Config) chatAuthors() int {
	if c.Authors > 0 {
		return min(c.Authors, c.Viewers)
	}
	return min(c.Viewers, max(1, int(math.Ceil(2*c.CommentRate))))
}

// chatReactors is how many viewers send reactions.
func (c *Config) chatReactors() int {
	if c.Reactors > 0 {
		return min(c.Reactors, c.Viewers)
	}
	return min(c.Viewers, max(1, int(math.Ceil(c.ReactionRate/5))))
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
  chat       N viewers in one room; -authors post -comment-rate comments/s,
             -reactors send -reaction-rate reactions/s, a buyer changes the
             stock -stock-rate times/s, for -duration. Checks the order and
             completeness of comments on every connection (sampling above
             -chat-fanout-rate: announced within 1s, authors get their own),
             reactions at most 4 messages/s; measures comment delivery.
  auction    N viewers watch one auction of -duration; -bidders of them bid
             -bids times each on a curve peaking in the last seconds.
             Verifies the winner and amount against the bids, monotonic bid
             updates, no bid accepted after the end (-late-bids), exactly one
             order; measures bid reply latency and accepted bids/s. With
             -auction-rooms N: N auctions, one bidder each bidding back to
             back (no collisions), the same checks per room.

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
