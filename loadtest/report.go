package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of a run: the final table and the -json file.
type Report struct {
	Scenario string    `json:"scenario"`
	RunID    string    `json:"run_id"`
	URLs     []string  `json:"urls"`
	Started  time.Time `json:"started"`
	ElapsedS float64   `json:"elapsed_s"`
	Workers  int       `json:"workers"` // worker processes; 0: in-process
	Config   *Config   `json:"config"`
	Rooms    int       `json:"rooms"`

	Connections   int64 `json:"connections"` // load connections to open
	Connected     int64 `json:"connected"`
	ConnectFailed int64 `json:"connect_failed"`

	Published       int64   `json:"published"`       // events the creators caused and matched
	PublishFailed   int64   `json:"publish_failed"`  // publish requests answered with an error
	PublishLost     int64   `json:"publish_lost"`    // publish requests whose event never came back
	PublishPerSec   float64 `json:"publish_per_sec"` // over the publishing time
	Delivered       int64   `json:"delivered"`
	DeliveredPerSec float64 `json:"delivered_per_sec"` // from the first to the last event received
	Messages        int64   `json:"messages"`
	Gaps            int64   `json:"gaps"`
	GapEvents       int64   `json:"gap_events"`
	Duplicates      int64   `json:"duplicates"`
	Missing         int64   `json:"missing"`
	Behind          int64   `json:"behind"`
	Unmatched       int64   `json:"unmatched"`
	Resyncs         int64   `json:"resyncs"`

	// LatencyMS is the scenario's main latency, the one -slo-p99 checks:
	// event delivery (viewers), purchase (flashsale), recovery (storm).
	LatencyMS  Quantiles `json:"latency_ms"`
	LatencyOf  string    `json:"latency_of"`
	JoinMS     Quantiles `json:"join_ms"`
	JoinAllMS  float64   `json:"join_all_ms,omitempty"` // first dial to the last viewer's snapshot
	EventMS    Quantiles `json:"event_ms"`
	PurchaseMS Quantiles `json:"purchase_ms"`
	RecoverMS  Quantiles `json:"recover_ms"`

	Errors      int64            `json:"errors"`
	ErrorKinds  map[string]int64 `json:"error_kinds"`
	Disconnects map[string]int64 `json:"disconnects"` // unexpected closes by close code
	Violations  map[string]int64 `json:"violations"`  // deviations from docs/PROTOCOL.md seen

	// flashsale
	Orders          int64            `json:"orders"`
	Oversold        int64            `json:"oversold"`
	Buyers          int64            `json:"buyers,omitempty"`
	Attempts        int64            `json:"attempts,omitempty"`
	Answers         map[string]int64 `json:"answers,omitempty"`
	Retried         map[string]int64 `json:"retried,omitempty"`           // answers retried (sale_not_live, rate_limited, unavailable, overloaded)
	PurchasesPerSec float64          `json:"purchases_per_sec,omitempty"` // final answers per second of the burst
	OrdersPerSec    float64          `json:"orders_per_sec,omitempty"`    // orders per second until the last one
	OffsetMaxMS     float64          `json:"clock_offset_max_ms,omitempty"`
	Flash           *FlashResult     `json:"flashsale,omitempty"`

	// storm
	Dropped           int64            `json:"dropped,omitempty"`
	Recovered         int64            `json:"recovered,omitempty"`
	RecoverAllMS      float64          `json:"recover_all_ms,omitempty"` // drop to the last viewer caught up
	Reconnects        int64            `json:"reconnects,omitempty"`
	ReconnectFailures int64            `json:"reconnect_failures,omitempty"`
	ReconnectErrors   map[string]int64 `json:"reconnect_errors,omitempty"`
	ViaSnapshot       int64            `json:"via_snapshot,omitempty"`
	ViaReplay         int64            `json:"via_replay,omitempty"`

	// chat
	CommentMS Quantiles   `json:"comment_ms"`
	Chat      *ChatResult `json:"chat,omitempty"`

	// auction
	BidMS   Quantiles      `json:"bid_ms"`
	Auction *AuctionReport `json:"auction,omitempty"`

	SLO      []SLOCheck `json:"slo"`
	Failures []string   `json:"failures"` // why the run failed, besides SLOs
	Verdict  string     `json:"verdict"`  // PASS or FAIL
}

// fill copies merged group figures into the report.
func (r *Report) fill(st *Stats) {
	r.Connections = st.Conns
	r.Connected = st.Connected
	r.ConnectFailed = st.ConnectFailed
	r.Delivered = st.Delivered
	r.Messages = st.Messages
	r.Gaps = st.Gaps
	r.GapEvents = st.GapEvents
	r.Duplicates = st.Duplicates
	r.Missing = st.Missing
	r.Behind = st.Behind
	r.Unmatched = st.Unmatched
	r.Resyncs = st.Resyncs
	if st.LastEventNano > st.FirstEventNano && st.FirstEventNano > 0 {
		r.DeliveredPerSec = float64(st.Delivered) / (float64(st.LastEventNano-st.FirstEventNano) / 1e9)
	}
	r.JoinMS = quantiles(st.hist(histJoin))
	if st.LastJoinedNano > st.FirstDialNano && st.FirstDialNano > 0 {
		r.JoinAllMS = float64(st.LastJoinedNano-st.FirstDialNano) / 1e6
	}
	r.EventMS = quantiles(st.hist(histEvent))
	r.PurchaseMS = quantiles(st.hist(histPurchase))
	r.RecoverMS = quantiles(st.hist(histRecover))
	r.Errors += st.Errors
	r.ErrorKinds = addCounts(r.ErrorKinds, st.ErrorKinds)
	r.Disconnects = addCounts(r.Disconnects, st.Disconnects)
	r.Violations = addCounts(r.Violations, st.Violations)
	r.Buyers = st.Buyers
	r.Attempts = st.Attempts
	r.Answers = st.Answers
	r.Retried = st.Retried
	r.OffsetMaxMS = st.OffsetMaxMS
	if st.FirstBuyNano > 0 {
		if st.LastAnswerNano > st.FirstBuyNano {
			var n int64
			for _, v := range st.Answers {
				n += v
			}
			r.PurchasesPerSec = float64(n) / (float64(st.LastAnswerNano-st.FirstBuyNano) / 1e9)
		}
		if st.LastOKNano > st.FirstBuyNano {
			r.OrdersPerSec = float64(len(st.OrderIDs)) / (float64(st.LastOKNano-st.FirstBuyNano) / 1e9)
		}
	}
	r.Dropped = st.Dropped
	r.Recovered = st.Recovered
	r.Reconnects = st.Reconnects
	r.ReconnectFailures = st.ReconnectFailures
	r.ReconnectErrors = st.ReconnectErrors
	r.ViaSnapshot = st.ViaSnapshot
	r.ViaReplay = st.ViaReplay
	switch r.Scenario {
	case scenarioViewers:
		r.LatencyMS, r.LatencyOf = r.EventMS, "event delivery"
	case scenarioFlashsale:
		r.LatencyMS, r.LatencyOf = r.PurchaseMS, "purchase"
	case scenarioStorm:
		r.LatencyMS, r.LatencyOf = r.RecoverMS, "recovery"
	}
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// judge checks the SLOs and sets the verdict.
func (r *Report) judge(cfg *Config) {
	r.SLO = checkSLOs(cfg, r)
	r.Verdict = "PASS"
	if len(r.Failures) > 0 {
		r.Verdict = "FAIL"
	}
	for _, c := range r.SLO {
		if !c.OK {
			r.Verdict = "FAIL"
		}
	}
}

func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printTable writes the human-readable result.
func (r *Report) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	lat := func(q Quantiles) string {
		if q.Count == 0 {
			return "-"
		}
		return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)",
			fmtMS(q.P50), fmtMS(q.P90), fmtMS(q.P99), fmtMS(q.P999), fmtMS(q.Max), q.Count)
	}
	row("scenario", "%s (run %s, %s elapsed, %s)", r.Scenario, r.RunID, time.Duration(r.ElapsedS*float64(time.Second)).Round(time.Millisecond), workersText(r.Workers))
	row("nodes", "%s", strings.Join(r.URLs, " "))
	row("connections", "%d of %d joined, %d failed", r.Connected, r.Connections, r.ConnectFailed)
	row("join+snapshot", "%s", lat(r.JoinMS))
	if r.JoinAllMS > 0 {
		row("all joined in", "%s (first dial to last snapshot)", fmtMS(r.JoinAllMS))
	}
	switch r.Scenario {
	case scenarioViewers, scenarioStorm:
		row("rooms", "%d", r.Rooms)
		row("published", "%d events (%.1f/s), %d failed, %d lost", r.Published, r.PublishPerSec, r.PublishFailed, r.PublishLost)
		row("delivered", "%d events (%.0f/s), %d messages in all", r.Delivered, r.DeliveredPerSec, r.Messages)
		row("event latency", "%s", lat(r.EventMS))
		row("seq gaps", "%d (%d events skipped, %d connections behind at the end missing %d events), %d duplicates, %d resyncs",
			r.Gaps, r.GapEvents, r.Behind, r.Missing, r.Duplicates, r.Resyncs)
		if r.Unmatched > 0 {
			row("unmatched", "%d events with no known publish time (not in the latency)", r.Unmatched)
		}
	}
	if r.Scenario == scenarioStorm {
		row("storm", "%d dropped, %d back and caught up (%d by snapshot, %d by replay)", r.Dropped, r.Recovered, r.ViaSnapshot, r.ViaReplay)
		row("recovery", "%s", lat(r.RecoverMS))
		row("all back in", "%s", fmtMS(r.RecoverAllMS))
		row("reconnects", "%d attempts, %d failed %s", r.Reconnects, r.ReconnectFailures, fmtCounts(r.ReconnectErrors))
	}
	if r.Scenario == scenarioFlashsale {
		row("buyers", "%d fired, %d buy messages, answers %s, retried %s", r.Buyers, r.Attempts, fmtCounts(r.Answers), fmtCounts(r.Retried))
		row("purchase latency", "%s", lat(r.PurchaseMS))
		row("throughput", "%.0f answers/s, %.0f orders/s (clock offset up to %.1fms)", r.PurchasesPerSec, r.OrdersPerSec, r.OffsetMaxMS)
		if f := r.Flash; f != nil {
			row("orders", "%d (%d units, %d expected), oversold %d, duplicates %d, lost %d, unacked %d, over limit %d, off sale %d",
				f.Orders, f.Units, f.Expected, f.Oversold, f.Duplicates, f.Lost, f.Unacked, f.OverLimit, f.OffSale)
			row("remaining", "%s", fmtCounts(f.Remaining))
		}
	}
	if f := r.Chat; f != nil {
		row("comments", "%d accepted (%.1f/s), refused %s", f.Comments, f.CommentsPerSec, fmtCounts(f.CommentErrors))
		row("comment latency", "%s", lat(r.CommentMS))
		row("order", "%d of %d connections got every comment; %d out of order, %d duplicates, %d unknown, %d incomplete without sampling",
			f.Complete, f.Checked, f.OutOfOrder, f.Duplicates, f.Unknown, f.Incomplete)
		row("sampling", "expected %v; %d connections told sampled (%.0f comments each on average); announced %s; %d late; authors missing own %d (%d comments); creator complete %v",
			f.SamplingExpected, f.Sampled, f.SampleMean, lat(f.AnnounceMS), f.AnnouncedLate, f.AuthorsMissingOwn, f.OwnMissing, f.CreatorComplete)
		row("reactions", "%d sent, %d counted by the creator in %d messages (%.2f/s); connections over 4/s: %d",
			f.ReactionsSent, f.ReactionsCounted, f.ReactionMsgs, f.ReactionMsgsRate, f.ReactionOverRate)
		row("stock", "%d changes, %.1f stock messages per viewer", f.StockChanges, f.StockMsgsMean)
		row("messages", "%d received by the viewers", r.Messages)
	}
	if a := r.Auction; a != nil {
		a.printRows(row, lat(r.BidMS))
	}
	row("disconnects", "%s", fmtCounts(r.Disconnects))
	row("errors", "%d %s", r.Errors, fmtCounts(r.ErrorKinds))
	if len(r.Violations) > 0 {
		row("protocol", "%s", fmtCounts(r.Violations))
	}
	for _, c := range r.SLO {
		status := "ok"
		if !c.OK {
			status = "BROKEN"
		}
		note := ""
		if c.Note != "" {
			note = " (" + c.Note + ")"
		}
		row("slo "+c.Name, "%s: %g, limit %g%s", status, c.Value, c.Limit, note)
	}
	for _, f := range r.Failures {
		row("failure", "%s", f)
	}
	row("verdict", "%s", r.Verdict)
	tw.Flush()
}

func workersText(n int) string {
	if n == 0 {
		return "in-process"
	}
	return fmt.Sprintf("%d workers", n)
}

func fmtMS(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func fmtCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
