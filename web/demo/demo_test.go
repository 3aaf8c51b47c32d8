package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/server"
	"github.com/liveserver/liveserver/web/demo"
)

func TestHandler(t *testing.T) {
	ts := httptest.NewServer(http.StripPrefix("/demo/", demo.Handler()))
	defer ts.Close()

	cases := []struct {
		path, ctype, contains string
	}{
		{"/demo/", "text/html; charset=utf-8", `data-testid="buy-button"`},
		{"/demo/index.html", "text/html; charset=utf-8", `viewer.js`},
		{"/demo/creator.html", "text/html; charset=utf-8", `data-testid="sale-submit"`},
		{"/demo/liveclient.js", "text/javascript; charset=utf-8", `export class LiveClient`},
		{"/demo/viewer.js", "text/javascript; charset=utf-8", `window.liveDemo`},
		{"/demo/creator.js", "text/javascript; charset=utf-8", `window.liveDemo`},
		{"/demo/common.js", "text/javascript; charset=utf-8", `export function formatCountdown`},
		{"/demo/style.css", "text/css; charset=utf-8", `.phone`},
		{"/demo/img/tote.svg", "image/svg+xml", `viewBox="0 0 200 200"`},
		{"/demo/img/sneakers.svg", "image/svg+xml", `<svg`},
		{"/demo/img/headphones.svg", "image/svg+xml", `<svg`},
		{"/demo/img/sunglasses.svg", "image/svg+xml", `<svg`},
		{"/demo/img/watch.svg", "image/svg+xml", `<svg`},
	}
	for _, c := range cases {
		res, err := http.Get(ts.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", c.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", c.path, got)
		}
		if !bytes.Contains(body, []byte(c.contains)) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
		if strings.HasPrefix(c.ctype, "text/html") && res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", c.path)
		}
		// Revalidation: the ETag gives 304.
		req, _ := http.NewRequest(http.MethodGet, ts.URL+c.path, nil)
		req.Header.Set("If-None-Match", res.Header.Get("ETag"))
		res2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res2.Body.Close()
		if res2.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", c.path, res2.StatusCode)
		}
	}

	for _, p := range []string{"/demo/nope.html", "/demo/img/", "/demo/../demo.go", "/demo/img/../../demo.go", "/demo/static/index.html"} {
		res, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, res.StatusCode)
		}
	}

	res, err := http.Post(ts.URL+"/demo/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /demo/: status %d, want 405", res.StatusCode)
	}
}

// TestPagesNoExternalResources makes sure the pages fetch nothing from
// other origins: no CDN scripts, styles or fonts.
func TestPagesNoExternalResources(t *testing.T) {
	ts := httptest.NewServer(http.StripPrefix("/demo/", demo.Handler()))
	defer ts.Close()
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//|fetch\(\s*["'\x60]https?:`)
	for _, p := range []string{"", "creator.html", "liveclient.js", "viewer.js", "creator.js", "common.js", "style.css"} {
		res, err := http.Get(ts.URL + "/demo/" + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if m := external.Find(body); m != nil {
			t.Errorf("/demo/%s refers to another origin: %q", p, m)
		}
	}
}

// chromium returns the path of Debian's Chromium, or skips the test (fails
// it when LIVESERVER_REQUIRE_CHROMIUM=1).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "Chromium is not installed (looked for /usr/bin/chromium): install Debian's chromium package to run the browser test"
	if os.Getenv("LIVESERVER_REQUIRE_CHROMIUM") == "1" {
		t.Fatal(msg + " (LIVESERVER_REQUIRE_CHROMIUM=1)")
	}
	t.Skip(msg + "; set LIVESERVER_REQUIRE_CHROMIUM=1 to make this a failure")
	return ""
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	// Screenshots go where CI keeps artifacts, or to a temporary folder
	// that outlives the test (never into the source tree).
	dir := os.Getenv("LIVESERVER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "liveserver-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserOptions are the flags of the browser tests' Chromium: headless,
// quiet (no background traffic, updates or extensions) and never throttling
// background tabs, whose timers drive the countdowns.
func browserOptions(chrome, userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1280, 1000),
	}
}

// browserLogger returns a logf for chromedp.WithLogf and WithErrorf that
// keeps chromedp's messages and logs them only if the test failed.
func browserLogger(t *testing.T) func(string, ...any) {
	var mu sync.Mutex
	var lines []string
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			for _, l := range lines {
				t.Log("chromedp:", l)
			}
		}
	})
	return func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
}

// tab is one browser tab with a demo page.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu         sync.Mutex
	exceptions []string
	ignore     []string // console errors that contain one of these are expected
}

func newTab(t *testing.T, parent context.Context, name string, opts ...chromedp.ContextOption) (*tab, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	tb := &tab{t: t, name: name, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		cancel()
		t.Fatalf("%s: open tab: %v", name, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" {
				text := fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m)
				tb.mu.Lock()
				expected := false
				for _, s := range tb.ignore {
					expected = expected || (!m.IsException() && strings.Contains(text, s))
				}
				if !expected {
					tb.exceptions = append(tb.exceptions, text)
				}
				tb.mu.Unlock()
			}
		}
	}()
	return tb, cancel
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v%s", tb.name, err, tb.errors())
	}
}

// eval evaluates a JavaScript expression and decodes its JSON value into out.
func (tb *tab) eval(expr string, out any) {
	tb.t.Helper()
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		tb.t.Fatalf("%s: evaluate %s: %v%s", tb.name, expr, err, tb.errors())
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.t.Fatalf("%s: evaluate %s: decode %s: %v", tb.name, expr, raw, err)
		}
	}
}

// wait polls a JavaScript expression until it is truthy and decodes its
// value into out (if not nil).
func (tb *tab) wait(what, expr string, timeout time.Duration, out any) {
	tb.t.Helper()
	raw, err := chromedp.Run(tb.ctx, chromedp.Poll[[]byte](expr,
		chromedp.WithPollingInterval(25*time.Millisecond),
		chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		var state string
		if s, err2 := chromedp.Run(tb.ctx, chromedp.Evaluate[[]byte](`JSON.stringify(window.liveDemo && {
			state: liveDemo.state, lastSeq: liveDemo.lastSeq, pinned: liveDemo.pinned && liveDemo.pinned.id,
			sale: liveDemo.sale, stock: liveDemo.stock, lastOutcome: liveDemo.lastOutcome})`)); err2 == nil {
			state = string(s)
		}
		tb.t.Fatalf("%s: waiting for %s (%s): %v\npage state: %s%s", tb.name, what, expr, err, state, tb.errors())
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.t.Fatalf("%s: %s: decode %s: %v", tb.name, what, raw, err)
		}
	}
}

func (tb *tab) errors() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.exceptions) == 0 {
		return ""
	}
	return "\npage errors:\n  " + strings.Join(tb.exceptions, "\n  ")
}

func (tb *tab) screenshot(path string) {
	tb.t.Helper()
	buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("%s: screenshot %s (%d KiB)", tb.name, path, len(buf)/1024)
}

// doubleClick presses the mouse twice on the element, the way a person's
// double click arrives: two clicks (click counts 1 and 2), then dblclick.
// startSale fills the creator console's flash-sale form (seconds for the
// duration and the delay) and submits it.
func (tb *tab) startSale(product, price, quantity, limit, durationSecs, delaySecs string) {
	set := func(field, v string) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(chromedp.CSS(`[data-testid="sale-`+field+`"]`), v)
	}
	tb.do(set("product", product), set("price", price), set("quantity", quantity), set("limit", limit),
		set("duration", durationSecs), set("delay", delaySecs), chromedp.Click(chromedp.CSS(`[data-testid="sale-submit"]`)))
}

func (tb *tab) doubleClick(sel string) {
	tb.t.Helper()
	var pt struct{ X, Y float64 }
	tb.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`, sel), &pt)
	tb.do(
		chromedp.MouseClickXY(pt.X, pt.Y),
		chromedp.MouseClickXY(pt.X, pt.Y, chromedp.ClickCount(2)),
	)
}

type outcome struct {
	OK        bool   `json:"ok"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Order     string `json:"order"`
	ID        string `json:"id"`
	Price     int64  `json:"price"`
	Remaining int64  `json:"remaining"`
	Action    string `json:"action"`
}

// startServer starts a node in-process for a test and stops it after.
func startServer(t *testing.T, cfg server.Config) *httptest.Server {
	t.Helper()
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() { srv.Close() })
	return ts
}

func TestBrowserLiveShopping(t *testing.T) {
	chrome := chromium(t)
	shots := artifactsDir(t)

	ts := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logf := browserLogger(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, browserOptions(chrome, t.TempDir())...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chrome, err)
	}

	const (
		pinned      = `(() => { const c = document.querySelector('[data-testid="pinned-card"]'); return !c.hidden && c.dataset.productId; })()`
		stockLabel  = `document.querySelector('[data-testid="stock-label"]')`
		buyButton   = `[data-testid="buy-button"]`
		outcomeExpr = `window.liveDemo.lastOutcome`
	)
	live := func(tb *tab) {
		tb.wait("connection live", `window.liveDemo && liveDemo.state === 'live' && liveDemo.lastSeq !== null &&
			document.querySelector('[data-testid="conn-state"]').dataset.state === 'live'`, 15*time.Second, nil)
	}

	// --- viewer 1 (mobile viewport) ---
	viewer, cancelViewer := newTab(t, browserCtx, "viewer")
	defer cancelViewer()
	viewer.do(
		chromedp.EmulateViewport(420, 900),
		chromedp.Navigate(ts.URL+"/demo/?room=demo"),
	)
	live(viewer)
	var title string
	viewer.wait("room title", `document.querySelector('[data-testid="room-title"]').textContent.trim() !== 'Connecting…' &&
		document.querySelector('[data-testid="room-title"]').textContent`, 5*time.Second, &title)
	t.Logf("viewer: room title %q", title)

	// --- creator console ---
	creator, cancelCreator := newTab(t, browserCtx, "creator")
	defer cancelCreator()
	creator.do(
		chromedp.EmulateViewport(1280, 1000),
		chromedp.Navigate(ts.URL+"/demo/creator.html?room=demo"),
	)
	live(creator)
	creator.wait("catalog", `document.querySelectorAll('[data-testid^="pin-p"]').length === 5`, 5*time.Second, nil)

	// Viewer counts reach both pages (two connections in the room).
	viewer.wait("viewer count 2", `Number(document.querySelector('[data-testid="viewer-count"]').dataset.count) >= 2`, 5*time.Second, nil)

	// The creator pins p2; the viewer's card shows it.
	creator.do(chromedp.Click(chromedp.CSS(`[data-testid="pin-p2"]`)))
	var out outcome
	creator.wait("pin outcome", `liveDemo.lastOutcome && liveDemo.lastOutcome.action.startsWith('Pin') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: pin p2 failed: %s %s", out.Code, out.Message)
	}
	var pid string
	viewer.wait("pinned card p2", pinned+` === 'p2' && `+pinned, 5*time.Second, &pid)
	viewer.wait("card content", `document.querySelector('[data-testid="pinned-name"]').textContent === 'Runner Sneakers' &&
		document.querySelector('[data-testid="pinned-price"]').textContent.includes('89.99') &&
		document.querySelector('[data-testid="pinned-image"]').complete &&
		document.querySelector('[data-testid="pinned-image"]').naturalWidth > 0 &&
		document.querySelector('[data-testid="pinned-image"]').src.endsWith('/demo/img/sneakers.svg')`, 5*time.Second, nil)

	var stock0 int64
	viewer.wait("stock of p2", `typeof liveDemo.stock.p2 === 'number' && String(liveDemo.stock.p2)`, 5*time.Second, nil)
	viewer.eval(`liveDemo.stock.p2`, &stock0)
	var label string
	viewer.eval(stockLabel+`.textContent`, &label)
	if !strings.Contains(label, fmt.Sprint(stock0)) {
		t.Errorf("viewer: stock label %q does not show %d", label, stock0)
	}

	// The creator starts a 3-second flash sale of p2 at 59.99.
	creator.startSale("p2", "59.99", "5", "2", "3", "0")
	creator.wait("sale outcome", `liveDemo.lastOutcome && liveDemo.lastOutcome.action.startsWith('Start flash sale') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: sale_start failed: %s %s", out.Code, out.Message)
	}

	// The viewer sees the sale banner with a running countdown to ends_at.
	var ms1, ms2 int64
	viewer.wait("live sale banner", `(() => { const b = document.querySelector('[data-testid="sale-banner"]');
		const c = document.querySelector('[data-testid="countdown"]');
		return !b.hidden && b.dataset.state === 'live' && c.dataset.target === 'ends_at' && Number(c.dataset.ms) > 0 &&
			/^0:0[0-3]$/.test(c.textContent) && Number(c.dataset.ms); })()`, 5*time.Second, &ms1)
	if ms1 > 3500 {
		t.Errorf("viewer: countdown %d ms for a 3 s sale", ms1)
	}
	time.Sleep(250 * time.Millisecond)
	viewer.eval(`Number(document.querySelector('[data-testid="countdown"]').dataset.ms)`, &ms2)
	if ms2 >= ms1 {
		t.Errorf("viewer: countdown not running: %d ms, then %d ms", ms1, ms2)
	}
	viewer.wait("sale price on card", `document.querySelector('[data-testid="pinned-price"]').textContent.includes('59.99')`, 2*time.Second, nil)

	// The viewer buys during the sale and sees the stock drop.
	viewer.do(chromedp.Click(chromedp.CSS(buyButton)))
	viewer.wait("buy outcome", outcomeExpr, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("viewer: buy failed: %s %s", out.Code, out.Message)
	}
	if out.Price != 5999 {
		t.Errorf("viewer: bought at %d, want the sale price 5999", out.Price)
	}
	if out.Remaining != stock0-1 {
		t.Errorf("viewer: reply remaining %d, want %d", out.Remaining, stock0-1)
	}
	firstOrder := out.Order
	viewer.wait("stock drop", fmt.Sprintf(`liveDemo.stock.p2 === %d && %s.dataset.remaining === '%d'`, stock0-1, stockLabel, stock0-1), 5*time.Second, nil)
	viewer.wait("order shown", fmt.Sprintf(`document.querySelector('[data-testid="buy-outcome"]').dataset.outcome === 'ok' &&
		document.querySelector('[data-testid="buy-outcome"]').textContent.includes(%q)`, firstOrder), 2*time.Second, nil)
	creator.wait("creator stock drop", fmt.Sprintf(`document.querySelector('[data-testid="stock-p2"]').dataset.remaining === '%d'`, stock0-1), 5*time.Second, nil)

	// A second viewer, in a separate browser context, sees the same stock.
	viewer2, cancelViewer2 := newTab(t, browserCtx, "viewer2", chromedp.WithNewBrowserContext())
	defer cancelViewer2()
	viewer2.do(
		chromedp.EmulateViewport(420, 900),
		chromedp.Navigate(ts.URL+"/demo/?room=demo"),
	)
	live(viewer2)
	viewer2.wait("pinned p2", pinned+` === 'p2'`, 5*time.Second, nil)
	viewer2.wait("same stock", fmt.Sprintf(`liveDemo.stock.p2 === %d && %s.dataset.remaining === '%d'`, stock0-1, stockLabel, stock0-1), 5*time.Second, nil)

	// The sale ends by itself at ends_at (server clock).
	viewer.wait("sale ended", `liveDemo.sale === null || liveDemo.sale.state === 'ended'`, 6*time.Second, nil)
	viewer.wait("catalog price back", `document.querySelector('[data-testid="pinned-price"]').textContent.includes('89.99')`, 2*time.Second, nil)

	// A double click buys exactly once.
	token := devToken(t, ts.URL, map[string]any{"sub": "test-creator", "role": "creator", "rooms": []string{"demo"}})
	ordersBefore := countOrders(t, ts.URL, token)
	var stock1 int64
	viewer.eval(`liveDemo.stock.p2`, &stock1)
	var nOrders int
	viewer.eval(`liveDemo.orders.length`, &nOrders)
	viewer.wait("buy button enabled", `!document.querySelector('[data-testid="buy-button"]').disabled`, 2*time.Second, nil)
	viewer.eval(`(() => { const send = WebSocket.prototype.send; window.__buys = [];
		WebSocket.prototype.send = function (d) { const m = JSON.parse(d); if (m.type === 'buy') window.__buys.push(m.id);
			return send.call(this, d); }; return true; })()`, nil)
	viewer.doubleClick(buyButton)
	viewer.wait("double-click outcome", fmt.Sprintf(`!liveDemo.buyPending && liveDemo.lastOutcome && liveDemo.lastOutcome.id !== %q && liveDemo.lastOutcome`, out.ID), 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("viewer: double-click buy failed: %s %s", out.Code, out.Message)
	}
	if out.Order == firstOrder {
		t.Fatalf("viewer: the new purchase answered with the first order %s", firstOrder)
	}
	if out.Price != 8999 {
		t.Errorf("viewer: bought at %d after the sale, want the catalog price 8999", out.Price)
	}
	if out.Remaining != stock1-1 {
		t.Errorf("viewer: double click: reply remaining %d, want %d", out.Remaining, stock1-1)
	}
	// Anything a second click could have caused would have arrived by now.
	time.Sleep(500 * time.Millisecond)
	viewer.wait("stock down by one", fmt.Sprintf(`liveDemo.stock.p2 === %d`, stock1-1), 3*time.Second, nil)
	var buys []string
	viewer.eval(`window.__buys`, &buys)
	if len(buys) != 1 || buys[0] != out.ID {
		t.Errorf("viewer: a double click sent buy ids %q, want one, %q", buys, out.ID)
	}
	var nOrders2 int
	viewer.eval(`liveDemo.orders.length`, &nOrders2)
	if nOrders2 != nOrders+1 {
		t.Errorf("viewer: %d orders after a double click, want %d", nOrders2, nOrders+1)
	}
	if got := countOrders(t, ts.URL, token); got != ordersBefore+1 {
		t.Errorf("server: %d orders after a double click, want %d", got, ordersBefore+1)
	}
	viewer2.wait("viewer2 sees the stock", fmt.Sprintf(`liveDemo.stock.p2 === %d`, stock1-1), 3*time.Second, nil)

	// Two synthetic clicks in one task: the second finds the button disabled.
	viewer.wait("buy button enabled again", `!document.querySelector('[data-testid="buy-button"]').disabled`, 3*time.Second, nil)
	viewer.eval(`(() => { const b = document.querySelector('[data-testid="buy-button"]'); b.click(); b.click(); return true; })()`, nil)
	viewer.wait("js double-click outcome", fmt.Sprintf(`!liveDemo.buyPending && liveDemo.lastOutcome.id !== %q && liveDemo.lastOutcome`, out.ID), 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("viewer: second purchase failed: %s %s", out.Code, out.Message)
	}
	time.Sleep(300 * time.Millisecond)
	if got := countOrders(t, ts.URL, token); got != ordersBefore+2 {
		t.Errorf("server: %d orders after two double clicks, want %d", got, ordersBefore+2)
	}
	viewer.wait("stock down by two", fmt.Sprintf(`liveDemo.stock.p2 === %d`, stock1-2), 3*time.Second, nil)

	// Showcase for the screenshots: pin the headphones (the card changes),
	// start a longer sale, and let the second viewer buy one (the first
	// viewer's "just bought" ticker shows it).
	creator.do(chromedp.Click(chromedp.CSS(`[data-testid="pin-p3"]`)))
	creator.wait("pin p3", `liveDemo.lastOutcome.action.startsWith('Pin') && liveDemo.pinned && liveDemo.pinned.id === 'p3' && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: pin p3 failed: %s %s", out.Code, out.Message)
	}
	viewer.wait("pinned card p3", pinned+` === 'p3'`, 5*time.Second, nil)
	creator.startSale("p3", "89.00", "8", "2", "90", "2")
	creator.wait("second sale", `liveDemo.lastOutcome.action.startsWith('Start flash sale on Studio') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: second sale_start failed: %s %s", out.Code, out.Message)
	}
	// Scheduled: the countdown runs to starts_at and the Buy button waits.
	viewer.wait("scheduled sale banner", `(() => { const b = document.querySelector('[data-testid="sale-banner"]');
		const c = document.querySelector('[data-testid="countdown"]');
		return !b.hidden && b.dataset.state === 'scheduled' && c.dataset.target === 'starts_at' &&
			Number(c.dataset.ms) > 0 && Number(c.dataset.ms) <= 2000 &&
			document.querySelector('[data-testid="buy-button"]').disabled; })()`, 5*time.Second, nil)
	viewer.wait("sale goes live", `document.querySelector('[data-testid="sale-banner"]').dataset.state === 'live' &&
		!document.querySelector('[data-testid="buy-button"]').disabled`, 5*time.Second, nil)
	viewer2.wait("viewer2 sale live", `liveDemo.sale && liveDemo.sale.state === 'live' && liveDemo.pinned && liveDemo.pinned.id === 'p3'`, 5*time.Second, nil)
	viewer2.do(chromedp.Click(chromedp.CSS(buyButton)))
	viewer2.wait("viewer2 buy", outcomeExpr, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("viewer2: buy p3 failed: %s %s", out.Code, out.Message)
	}
	if out.Price != 8900 {
		t.Errorf("viewer2: bought p3 at %d, want the sale price 8900", out.Price)
	}
	viewer.wait("ticker", `document.querySelectorAll('[data-testid="ticker"] li').length > 0 &&
		document.querySelector('[data-testid="ticker"] li').textContent.includes('Studio Headphones')`, 5*time.Second, nil)
	creator.wait("orders table", fmt.Sprintf(`Number(document.querySelector('[data-testid="orders-count"]').dataset.count) >= %d`, ordersBefore+3), 6*time.Second, nil)
	creator.wait("sale sold counter", `Number(document.querySelector('[data-testid="sale-sold"]').dataset.sold) === 1`, 5*time.Second, nil)

	time.Sleep(700 * time.Millisecond) // let the card and ticker animations settle
	viewer.screenshot(filepath.Join(shots, "viewer.png"))
	creator.screenshot(filepath.Join(shots, "creator.png"))

	for _, tb := range []*tab{viewer, viewer2, creator} {
		if e := tb.errors(); e != "" {
			t.Errorf("%s:%s", tb.name, e)
		}
	}
}

func devToken(t *testing.T, base string, claims map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(claims)
	res, err := http.Post(base+"/dev/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("POST /dev/token: status %d: %s", res.StatusCode, b)
	}
	var answer struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil || answer.Token == "" {
		t.Fatalf("POST /dev/token: no token (%v)", err)
	}
	return answer.Token
}

// countOrders counts the orders of room demo with GET /api/rooms/demo/orders,
// following the `next` cursor.
func countOrders(t *testing.T, base, token string) int {
	t.Helper()
	n, after := 0, ""
	for page := 0; page < 100; page++ {
		url := base + "/api/rooms/demo/orders?limit=1000"
		if after != "" {
			url += "&after=" + after
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var answer struct {
			Orders []json.RawMessage `json:"orders"`
			Next   *string           `json:"next"`
		}
		err = json.NewDecoder(res.Body).Decode(&answer)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET orders: status %d (%v)", res.StatusCode, err)
		}
		n += len(answer.Orders)
		if answer.Next == nil || *answer.Next == "" {
			return n
		}
		after = *answer.Next
	}
	t.Fatal("GET orders: too many pages")
	return n
}

// cutProxy forwards TCP connections to a server and can cut them all, and
// refuse new ones, to simulate a network outage.
type cutProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]bool
	refuse bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(c, up)
		go pipe(up, c)
	}
}

// cut closes every connection and refuses new ones until resume.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) resume() {
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.cut()
}

// TestBrowserReconnect cuts the viewer's connection, changes the room while
// it is away, and checks that the page reconnects, resumes with `since` and
// catches up: the pin it missed (replayed event) and the stock it missed
// (volatile, fetched again).
func TestBrowserReconnect(t *testing.T) {
	chrome := chromium(t)

	ts := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	proxy := newCutProxy(t, ts.Listener.Addr().String())
	defer proxy.close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, browserOptions(chrome, t.TempDir())...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	viewer, cancelViewer := newTab(t, browserCtx, "viewer")
	defer cancelViewer()
	viewer.mu.Lock()
	viewer.ignore = []string{"WebSocket connection to", "ERR_CONNECTION", "ERR_SOCKET_NOT_CONNECTED", "ERR_EMPTY_RESPONSE"}
	viewer.mu.Unlock()
	viewer.do(chromedp.Navigate(proxy.URL() + "/demo/?room=demo"))
	viewer.wait("connection live", `window.liveDemo && liveDemo.state === 'live' && liveDemo.lastSeq !== null`, 15*time.Second, nil)

	creatorToken := devToken(t, ts.URL, map[string]any{"sub": "test-creator", "role": "creator", "rooms": []string{"demo"}})
	viewerToken := devToken(t, ts.URL, map[string]any{"sub": "test-viewer", "role": "viewer"})
	api := func(method, path, token, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: status %d: %s", method, path, res.StatusCode, b)
		}
	}

	api(http.MethodPost, "/api/rooms/demo/pin", creatorToken, `{"product":"p1"}`)
	viewer.wait("pinned p1", `liveDemo.pinned && liveDemo.pinned.id === 'p1'`, 5*time.Second, nil)
	var seq int64
	viewer.eval(`liveDemo.lastSeq`, &seq)
	var stock int64
	viewer.eval(`liveDemo.stock.p4`, &stock)

	// Record what the page sends from now on.
	viewer.eval(`(() => { const send = WebSocket.prototype.send; window.__sent = [];
		WebSocket.prototype.send = function (d) { window.__sent.push(String(d)); return send.call(this, d); }; return true; })()`, nil)

	proxy.cut()
	viewer.wait("disconnected", `liveDemo.state === 'reconnecting' &&
		document.querySelector('[data-testid="conn-state"]').dataset.state === 'reconnecting'`, 5*time.Second, nil)

	// While the viewer is away: a new pin (an event) and a purchase (stock).
	api(http.MethodPost, "/api/rooms/demo/pin", creatorToken, `{"product":"p4"}`)
	api(http.MethodPost, "/api/rooms/demo/purchases", viewerToken, `{"id":"reconnect-test-1","product":"p4","qty":2}`)
	time.Sleep(300 * time.Millisecond)
	proxy.resume()

	viewer.wait("back live", `liveDemo.state === 'live'`, 20*time.Second, nil)
	viewer.wait("missed pin", `liveDemo.pinned && liveDemo.pinned.id === 'p4' &&
		document.querySelector('[data-testid="pinned-card"]').dataset.productId === 'p4'`, 5*time.Second, nil)
	viewer.wait("missed stock", fmt.Sprintf(`liveDemo.stock.p4 === %d &&
		document.querySelector('[data-testid="stock-label"]').dataset.remaining === '%d'`, stock-2, stock-2), 5*time.Second, nil)
	var sent []string
	viewer.eval(`window.__sent`, &sent)
	var join map[string]any
	for i, m := range sent {
		var msg map[string]any
		if err := json.Unmarshal([]byte(m), &msg); err != nil {
			t.Fatalf("page sent invalid JSON %q", m)
		}
		if i == 0 && msg["type"] != "auth" {
			t.Errorf("first message after reconnect is %s, want auth", m)
		}
		if msg["type"] == "join" {
			join = msg
		}
	}
	if join == nil {
		t.Fatalf("no join after reconnect; sent %q", sent)
	}
	if since, ok := join["since"].(float64); !ok || int64(since) != seq {
		t.Errorf("join after reconnect: %v, want since %d", join, seq)
	}
	var after int64
	viewer.eval(`liveDemo.lastSeq`, &after)
	if after != seq+1 {
		t.Errorf("lastSeq after resume %d, want %d", after, seq+1)
	}
	if e := viewer.errors(); e != "" {
		t.Errorf("viewer:%s", e)
	}
}

// TestBrowserCluster runs the pages against three nodes on one real
// redis-server (docs/CLUSTER.md), each page on another node as a load
// balancer would spread them: the creator console on node 1, a viewer on
// node 2 and a viewer on node 3. The creator pins a product and starts a
// short sale; both viewers show the card and the countdown; the viewer on
// node 2 buys; the viewer on node 3 sees the stock drop, the purchase and
// the sale's state, up to its end on the cluster's clock; the console on
// node 1 shows the order. It needs redis-server (skipped without it, unless
// LIVESERVER_REQUIRE_REDIS=1) and Chromium.
func TestBrowserCluster(t *testing.T) {
	chrome := chromium(t)
	rds := redistest.Start(t)
	shots := artifactsDir(t)

	// Each node runs in development mode with its own token secret; every
	// page asks its own node's /dev/token, as the demo does behind a load
	// balancer. Only the first node seeds the room "demo".
	var nodes []string
	for i := range 3 {
		ts := startServer(t, server.Config{RedisURL: rds.URL(), SeedDemo: i == 0, MsgRate: -1, ViewersInterval: 200 * time.Millisecond})
		nodes = append(nodes, ts.URL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logf := browserLogger(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, browserOptions(chrome, t.TempDir())...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}

	const (
		pinned     = `(() => { const c = document.querySelector('[data-testid="pinned-card"]'); return !c.hidden && c.dataset.productId; })()`
		stockLabel = `document.querySelector('[data-testid="stock-label"]')`
		countdown  = `document.querySelector('[data-testid="countdown"]')`
		stockV     = `liveDemo.client.rooms.get('demo').stock.get('p2').v`
		saleSecs   = 6
	)
	var cancelTabs []context.CancelFunc
	defer func() { // the tabs close before the browser
		for _, c := range cancelTabs {
			c()
		}
	}()
	open := func(name, url string, width, height int64, opts ...chromedp.ContextOption) *tab {
		tb, cancelTab := newTab(t, browserCtx, name, opts...)
		cancelTabs = append(cancelTabs, cancelTab)
		tb.do(chromedp.EmulateViewport(width, height), chromedp.Navigate(url))
		tb.wait("connection live", `window.liveDemo && liveDemo.state === 'live' && liveDemo.lastSeq !== null &&
			document.querySelector('[data-testid="conn-state"]').dataset.state === 'live'`, 15*time.Second, nil)
		// The page talks to the node it came from, and to no other.
		var wsURL string
		tb.eval(`liveDemo.client.url`, &wsURL)
		if want := "ws" + strings.TrimPrefix(url[:strings.Index(url, "/demo/")], "http") + "/ws"; wsURL != want {
			t.Fatalf("%s: WebSocket %s, want %s", name, wsURL, want)
		}
		return tb
	}
	creator := open("creator@node1", nodes[0]+"/demo/creator.html?room=demo", 1280, 1000)
	creator.wait("catalog", `document.querySelectorAll('[data-testid^="pin-p"]').length === 5`, 5*time.Second, nil)
	viewer2 := open("viewer@node2", nodes[1]+"/demo/?room=demo", 420, 900)
	viewer3 := open("viewer@node3", nodes[2]+"/demo/?room=demo", 420, 900, chromedp.WithNewBrowserContext())
	viewers := []*tab{viewer2, viewer3}
	all := []*tab{creator, viewer2, viewer3}

	// One connection on each node: every page counts three.
	for _, tb := range all {
		tb.wait("viewer count 3 (summed over the nodes)", `Number(document.querySelector('[data-testid="viewer-count"]').dataset.count) === 3`, 10*time.Second, nil)
	}

	// The creator on node 1 pins p2; the viewers on nodes 2 and 3 show it.
	creator.do(chromedp.Click(chromedp.CSS(`[data-testid="pin-p2"]`)))
	var out outcome
	creator.wait("pin outcome", `liveDemo.lastOutcome && liveDemo.lastOutcome.action.startsWith('Pin') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: pin p2 failed: %s %s", out.Code, out.Message)
	}
	var stock0, v0 int64
	for _, tb := range viewers {
		tb.wait("pinned card p2", pinned+` === 'p2' && document.querySelector('[data-testid="pinned-name"]').textContent === 'Runner Sneakers' &&
			document.querySelector('[data-testid="pinned-price"]').textContent.includes('89.99')`, 5*time.Second, nil)
		tb.wait("stock of p2", `typeof liveDemo.stock.p2 === 'number' && `+stockLabel+`.dataset.remaining === String(liveDemo.stock.p2)`, 5*time.Second, nil)
	}
	viewer2.eval(`liveDemo.stock.p2`, &stock0)
	viewer2.eval(stockV, &v0)
	var s3, v3 int64
	viewer3.eval(`liveDemo.stock.p2`, &s3)
	viewer3.eval(stockV, &v3)
	if s3 != stock0 || v3 != v0 {
		t.Fatalf("stock of p2: node 2 shows %d (v %d), node 3 shows %d (v %d)", stock0, v0, s3, v3)
	}
	if stock0 < 2 {
		t.Fatalf("stock of p2 is %d: the seeded room should have more", stock0)
	}

	// A short sale of p2 at 59.99, started on node 1.
	creator.startSale("p2", "59.99", "5", "2", fmt.Sprint(saleSecs), "0")
	creator.wait("sale outcome", `liveDemo.lastOutcome && liveDemo.lastOutcome.action.startsWith('Start flash sale') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: sale_start failed: %s %s", out.Code, out.Message)
	}
	type sale struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		EndsAt int64  `json:"ends_at"`
		Sold   int64  `json:"sold"`
	}
	var want sale
	creator.wait("creator sale live", `liveDemo.sale && liveDemo.sale.state === 'live' && liveDemo.sale`, 5*time.Second, &want)

	// Both viewers: the same sale (ends_at is Redis's clock, one for the
	// cluster), the live banner, a running countdown and the sale price.
	for _, tb := range viewers {
		var got sale
		tb.wait("sale event", fmt.Sprintf(`liveDemo.sale && liveDemo.sale.id === %q && liveDemo.sale`, want.ID), 5*time.Second, &got)
		if got != want {
			t.Errorf("%s: sale %+v, the creator's is %+v", tb.name, got, want)
		}
		var ms1 int64
		tb.wait("live sale banner", `(() => { const b = document.querySelector('[data-testid="sale-banner"]');
			return !b.hidden && b.dataset.state === 'live' && `+countdown+`.dataset.target === 'ends_at' &&
				Number(`+countdown+`.dataset.ms) > 0 && Number(`+countdown+`.dataset.ms); })()`, 5*time.Second, &ms1)
		if ms1 > saleSecs*1000+500 {
			t.Errorf("%s: countdown %d ms for a %d s sale", tb.name, ms1, saleSecs)
		}
		tb.wait("countdown running", fmt.Sprintf(`Number(%s.dataset.ms) < %d && /^0:0\d$/.test(%s.textContent)`, countdown, ms1, countdown), 2*time.Second, nil)
		tb.wait("sale price on card", `document.querySelector('[data-testid="pinned-price"]').textContent.includes('59.99') &&
			!document.querySelector('[data-testid="buy-button"]').disabled`, 2*time.Second, nil)
	}

	// The viewer on node 2 buys.
	viewer2.do(chromedp.Click(chromedp.CSS(`[data-testid="buy-button"]`)))
	viewer2.wait("buy outcome", `window.liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("viewer@node2: buy failed: %s %s", out.Code, out.Message)
	}
	if out.Price != 5999 || out.Remaining != stock0-1 {
		t.Errorf("viewer@node2: bought at %d with %d left, want 5999 and %d", out.Price, out.Remaining, stock0-1)
	}
	order := out.Order
	var msLeft int64
	viewer2.eval(`Number(`+countdown+`.dataset.ms)`, &msLeft)
	t.Logf("viewer@node2: bought order %s with %d ms of the sale left", order, msLeft)
	viewer2.wait("stock drop", fmt.Sprintf(`liveDemo.stock.p2 === %d && %s.dataset.remaining === '%d'`, stock0-1, stockLabel, stock0-1), 5*time.Second, nil)

	// The viewer on node 3 sees the stock drop (a newer v than before, the
	// same as node 2's), the purchase in its ticker and the sale's units.
	viewer3.wait("stock drop", fmt.Sprintf(`liveDemo.stock.p2 === %d && %s.dataset.remaining === '%d'`, stock0-1, stockLabel, stock0-1), 5*time.Second, nil)
	var v2 int64
	viewer2.eval(stockV, &v2)
	viewer3.eval(stockV, &v3)
	if v3 <= v0 || v3 != v2 {
		t.Errorf("stock version of p2: %d before the purchase; after it node 2 has %d, node 3 %d", v0, v2, v3)
	}
	viewer3.wait("ticker", `[...document.querySelectorAll('[data-testid="ticker"] li')].some((li) => li.textContent.includes('Runner Sneakers'))`, 5*time.Second, nil)
	viewer3.wait("sale units left", `document.querySelector('[data-testid="sale-banner"]').dataset.state === 'live' &&
		document.querySelector('[data-testid="sale-sub"]').textContent.includes('4 of 5 left')`, 5*time.Second, nil)

	// The console on node 1: the stock, the sale's sold counter and the
	// order in its table (from GET /api/rooms/demo/orders on node 1).
	creator.wait("creator stock drop", fmt.Sprintf(`document.querySelector('[data-testid="stock-p2"]').dataset.remaining === '%d'`, stock0-1), 5*time.Second, nil)
	creator.wait("sale sold counter", `document.querySelector('[data-testid="sale-sold"]').dataset.sold === '1'`, 5*time.Second, nil)
	creator.wait("order in the table", fmt.Sprintf(`document.querySelector('[data-testid="orders"] tr[data-order=%q]') !== null &&
		document.querySelector('[data-testid="orders-count"]').dataset.count === '1'`, order), 8*time.Second, nil)
	viewer3.screenshot(filepath.Join(shots, "cluster-viewer-node3.png"))
	creator.screenshot(filepath.Join(shots, "cluster-creator-node1.png"))

	// The sale ends at ends_at (node 1's timer, or any node's poll of
	// sale-timers) and every node's page hears it, with the sold count.
	for _, tb := range all {
		var got sale
		tb.wait("sale ended", fmt.Sprintf(`liveDemo.sale && liveDemo.sale.id === %q && liveDemo.sale.state === 'ended' && liveDemo.sale`, want.ID), saleSecs*time.Second+5*time.Second, &got)
		if got.Sold != 1 {
			t.Errorf("%s: ended sale sold %d, want 1", tb.name, got.Sold)
		}
	}
	viewer3.wait("catalog price back", `document.querySelector('[data-testid="pinned-price"]').textContent.includes('89.99')`, 2*time.Second, nil)

	// The order stream is the cluster's: node 3 lists the one order.
	if n := countOrders(t, nodes[2], devToken(t, nodes[2], map[string]any{"sub": "test-creator", "role": "creator", "rooms": []string{"demo"}})); n != 1 {
		t.Errorf("node 3: %d orders, want 1", n)
	}

	// The chat is the cluster's too: a comment posted on node 2 reaches the
	// viewer on node 3 and the console on node 1, and the creator's
	// deletion on node 1 removes it on both viewers' screens.
	c := viewer2.comment("Hello from node 2")
	if !c.OK {
		t.Fatalf("viewer@node2: comment refused: %+v", c)
	}
	onScreen := fmt.Sprintf(`document.querySelector('[data-testid="comments"] li[data-comment-id=%q]')`, c.ID)
	viewer3.wait("comment from node 2", onScreen+` !== null && `+onScreen+`.textContent.includes('Hello from node 2')`, 5*time.Second, nil)
	creator.wait("comment in the console", fmt.Sprintf(`document.querySelector('[data-testid="delete-%s"]') !== null`, c.ID), 5*time.Second, nil)
	creator.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="delete-%s"]`, c.ID))))
	for _, tb := range viewers {
		tb.wait("comment deleted", onScreen+` === null && liveDemo.comments.length === 0`, 5*time.Second, nil)
	}

	for _, tb := range all {
		if e := tb.errors(); e != "" {
			t.Errorf("%s:%s", tb.name, e)
		}
	}
}
