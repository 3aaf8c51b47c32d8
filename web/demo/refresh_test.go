package demo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/server"
)

// TestBrowserTokenRefresh runs liveclient.js in a real browser against a
// node with a secret: a creator's token of two seconds is refreshed on the
// open connection through the app's refreshToken callback, so the
// connection outlives the first token's exp (plus the server's leeway)
// without a reconnect, and creator actions still work.
func TestBrowserTokenRefresh(t *testing.T) {
	chrome := chromium(t)
	const secret = "browser-refresh-secret-0123456789abcdef"
	ts := startServer(t, server.Config{SeedDemo: true, JWTSecret: secret, MsgRate: -1})
	creator := auth.Identity{User: "refresh-creator", Role: auth.RoleCreator, Rooms: []string{"demo"}}
	signed := time.Now()
	short, err := auth.Sign(secret, creator, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := auth.Sign(secret, creator, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The server ends the first token's connection at exp plus its leeway
	// (5 s, auth.Identity.ValidUntil) at the latest.
	firstEnd := signed.Add(2*time.Second + 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, browserOptions(chrome, t.TempDir())...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	page, cancelPage := newTab(t, browserCtx, "app")
	defer cancelPage()
	page.mu.Lock()
	page.ignore = []string{"favicon.ico"} // /healthz has none
	page.mu.Unlock()
	// Any page of the origin can import the module; this one connects to nothing by itself.
	page.do(chromedp.Navigate(ts.URL + "/healthz"))
	page.eval(fmt.Sprintf(`(() => {
		window.__asked = 0; window.__errors = [];
		import('/demo/liveclient.js').then((m) => {
			const c = new m.LiveClient({ token: %q, refreshToken: async () => { __asked++; return %q; } });
			c.on('servererror', (e) => __errors.push(e.code));
			c.join('demo');
			c.connect();
			window.__c = c;
		});
		return true; })()`, short, fresh), nil)
	page.wait("live", `window.__c && __c.state === 'live'`, 10*time.Second, nil)
	var conn int
	page.eval(`__c.connId`, &conn)
	page.wait("refreshed", fmt.Sprintf(`__asked === 1 && __c.token === %q`, fresh), 10*time.Second, nil)

	time.Sleep(time.Until(firstEnd) + time.Second) // past the first token's end on the server
	var pinned struct {
		OK    bool   `json:"ok"`
		Code  string `json:"code"`
		State string `json:"state"`
		Conn  int    `json:"conn"`
	}
	page.eval(`__c.pin('demo', 'p3').then(() => ({ ok: true }), (e) => ({ ok: false, code: e.code })).then((r) => {
		window.__pinResult = { ...r, state: __c.state, conn: __c.connId }; }), true`, nil)
	page.wait("pin after the first token's exp", `window.__pinResult`, 10*time.Second, &pinned)
	if !pinned.OK || pinned.State != "live" || pinned.Conn != conn {
		var errs []string
		page.eval(`__errors`, &errs)
		t.Fatalf("after the first token's exp: %+v (connection %d before), server errors %v", pinned, conn, errs)
	}
	var errs []string
	page.eval(`__errors`, &errs)
	if len(errs) != 0 {
		t.Fatalf("server errors: %v", errs)
	}
	if e := page.errors(); e != "" {
		t.Fatalf("page:%s", e)
	}
}
