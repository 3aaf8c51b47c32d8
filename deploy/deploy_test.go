package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/internal/redistest"
)

// A secret long enough for any production check.
const secret = "deploy-test-secret-0123456789abcdefghijkl"

// A real liveserver node on a real redis-server, scraped by a real
// Prometheus that also loads alerts.yml: every metric README's table lists
// has a series, every query of the Grafana dashboard returns one, and every
// alerting rule is loaded and evaluates without error.
func TestPrometheusScrapesEverythingDocumented(t *testing.T) {
	prom := requireProgram(t, "prometheus")
	rds := redistest.Start(t)
	node := startNode(t, rds.URL())
	traffic(t, node)

	promAddr := startPrometheus(t, prom, node)
	waitFor(t, 30*time.Second, "Prometheus to scrape the node", func() error {
		var targets struct {
			ActiveTargets []struct {
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"activeTargets"`
		}
		if err := promGet(promAddr, "/api/v1/targets", nil, &targets); err != nil {
			return err
		}
		if len(targets.ActiveTargets) != 1 || targets.ActiveTargets[0].Health != "up" {
			return fmt.Errorf("targets %+v", targets.ActiveTargets)
		}
		return nil
	})
	// rate() over [1m] needs two samples; traffic between scrapes makes the
	// rates non-zero where they can be.
	traffic(t, node)
	time.Sleep(2500 * time.Millisecond)

	metrics := readmeMetrics(t)
	if len(metrics) < 15 {
		t.Fatalf("found only %d metrics in README's table: %v", len(metrics), metrics)
	}
	for _, m := range metrics {
		name := m.name
		if m.kind == "histogram" {
			name += "_bucket"
		}
		waitFor(t, 10*time.Second, "a series of "+name, func() error {
			return expectSeries(promAddr, fmt.Sprintf(`count({__name__=%q, job="liveserver"})`, name))
		})
	}

	panels := dashboardQueries(t)
	if len(panels) < 10 {
		t.Fatalf("found only %d dashboard queries", len(panels))
	}
	for title, exprs := range panels {
		for _, expr := range exprs {
			if err := expectSeries(promAddr, expr); err != nil {
				t.Errorf("dashboard panel %q: %s: %v", title, expr, err)
			}
		}
	}

	waitFor(t, 10*time.Second, "every alerting rule to load and evaluate", func() error {
		var rules struct {
			Groups []struct {
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
					Error  string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := promGet(promAddr, "/api/v1/rules", nil, &rules); err != nil {
			return err
		}
		n := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Health != "ok" {
					return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.Error)
				}
				n++
			}
		}
		if n != 7 {
			return fmt.Errorf("%d rules loaded, want 7", n)
		}
		return nil
	})
}

// The alerting rules' own unit tests, with promtool.
func TestAlertRules(t *testing.T) {
	promtool := requireProgram(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "prometheus/alerts.yml"},
		{"test", "rules", "prometheus/alerts_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func requireProgram(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " not installed (apt-get install prometheus)"
	if os.Getenv("LIVESERVER_REQUIRE_PROMETHEUS") == "1" {
		t.Fatal(msg + " (LIVESERVER_REQUIRE_PROMETHEUS=1)")
	}
	t.Skip(msg + "; set LIVESERVER_REQUIRE_PROMETHEUS=1 to make this a failure")
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNode builds and starts the real binary in cluster mode.
func startNode(t *testing.T, redisURL string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "liveserver")
	if out, err := exec.Command(goTool(), "build", "-o", bin, "../cmd/liveserver").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	startProcess(t, "liveserver", "http://"+addr+"/readyz",
		[]string{"LIVESERVER_JWT_SECRET=" + secret, "LIVESERVER_DRAIN_TIMEOUT=1s"},
		bin, "-addr", addr, "-redis", redisURL)
	return addr
}

// startProcess runs a program until the test ends, waits until ready
// answers 200, and logs the program's output if the test failed.
func startProcess(t *testing.T, name, ready string, env []string, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, logs.String())
		}
	})
	waitFor(t, 30*time.Second, name+" to be ready", func() error {
		resp, err := http.Get(ready)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s %d", ready, resp.StatusCode)
		}
		return nil
	})
}

func token(t *testing.T, id auth.Identity) string {
	t.Helper()
	tok, err := auth.Sign(secret, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// traffic makes every documented series exist: a room, a viewer who joins,
// a pin, a sale that goes live, purchases (ok and sold out), a refused token.
func traffic(t *testing.T, addr string) {
	t.Helper()
	creator := token(t, auth.Identity{User: "c1", Role: "creator", Rooms: []string{"mon"}})
	viewer := token(t, auth.Identity{User: fmt.Sprintf("v-%d", time.Now().UnixNano())})
	call := func(method, path, tok, body string) int {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call("PUT", "/api/rooms/mon", creator, `{"title":"Monitoring","products":[{"id":"p1","name":"Tote","price":1999,"currency":"USD","image":"/demo/img/tote.svg","stock":1}]}`); code != 200 && code != 201 {
		t.Fatalf("PUT room: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + viewer}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","room":"mon","id":"j"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); err != nil { // the join's reply
		t.Fatal(err)
	}
	call("POST", "/api/rooms/mon/pin", creator, `{"product":"p1"}`)
	call("POST", "/api/rooms/mon/sales", creator, `{"product":"p1","price":999,"quantity":1,"per_user_limit":1,"duration_ms":60000}`)
	call("POST", "/api/rooms/mon/purchases", viewer, fmt.Sprintf(`{"id":"b-%d","product":"p1","qty":1}`, time.Now().UnixNano()))
	call("POST", "/api/rooms/mon/purchases", viewer, fmt.Sprintf(`{"id":"b2-%d","product":"p1","qty":1}`, time.Now().UnixNano()))
	call("DELETE", "/api/rooms/mon/sales/current", creator, "")
	// Read what the room sent meanwhile, so the writer has work to count.
	rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	for {
		if _, _, err := ws.Read(rctx); err != nil {
			break
		}
	}
	rcancel()
	if _, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer not-a-token"}}}); err == nil {
		t.Fatal("a bad token was let in")
	} else if resp != nil {
		resp.Body.Close()
	}
}

func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: liveserver
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startProcess(t, "prometheus", "http://"+addr+"/-/ready", nil, bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	return addr
}

func promGet(addr, path string, q url.Values, data any) error {
	u := "http://" + addr + path
	if q != nil {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// expectSeries runs an instant query and wants at least one series back.
func expectSeries(addr, expr string) error {
	var data struct {
		Result []json.RawMessage `json:"result"`
	}
	if err := promGet(addr, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return err
	}
	if len(data.Result) == 0 {
		return fmt.Errorf("no series")
	}
	return nil
}

type documented struct{ name, kind string }

// readmeMetrics reads the metrics table of README's "Metrics and health".
func readmeMetrics(t *testing.T) []documented {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z_]+)(?:\\{[^}]*\\})?` \\| (counter|gauge|histogram) \\|")
	var out []documented
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Metrics and health"
		}
		if m := row.FindStringSubmatch(line); in && m != nil {
			out = append(out, documented{m[1], m[2]})
		}
	}
	return out
}

// dashboardQueries returns each panel's queries by title.
func dashboardQueries(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("grafana/liveserver.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	out := map[string][]string{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out[p.Title] = append(out[p.Title], tg.Expr)
		}
	}
	return out
}

func waitFor(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %v", d, what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
