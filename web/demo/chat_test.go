package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveserver/liveserver/server"
)

// browser starts Chromium for a test and returns its context; the tabs
// opened on it close before the browser.
func browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	chrome := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	logf := browserLogger(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, browserOptions(chrome, t.TempDir())...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	return browserCtx
}

// openPage opens a demo page in a new tab (closed at the end of the test)
// and waits until its connection is live.
func openPage(t *testing.T, browserCtx context.Context, name, url string, width, height int64, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	tb, cancel := newTab(t, browserCtx, name, opts...)
	t.Cleanup(cancel)
	tb.do(chromedp.EmulateViewport(width, height), chromedp.Navigate(url))
	tb.wait("connection live", `window.liveDemo && liveDemo.state === 'live' && liveDemo.lastSeq !== null &&
		document.querySelector('[data-testid="conn-state"]').dataset.state === 'live'`, 15*time.Second, nil)
	return tb
}

// comment types text into the viewer page's comment box and sends it; it
// returns the outcome of the comment (liveDemo.lastComment).
func (tb *tab) comment(text string) commentOutcome {
	tb.t.Helper()
	tb.eval(`liveDemo.lastComment = null, true`, nil)
	tb.do(
		chromedp.SetValue(chromedp.CSS(`[data-testid="comment-input"]`), text),
		chromedp.Click(chromedp.CSS(`[data-testid="comment-send"]`)),
	)
	var o commentOutcome
	tb.wait("comment answer", `liveDemo.lastComment`, 5*time.Second, &o)
	return o
}

type commentOutcome struct {
	OK           bool   `json:"ok"`
	ID           string `json:"id"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	Until        int64  `json:"until"`
	RetryAfterMS int64  `json:"retryAfterMs"`
}

// TestBrowserChat runs the chat of the demo pages in Chromium against one
// node: a viewer's comment reaches a second viewer and the console; the
// creator deletes it and it leaves both viewers' screens; the creator
// mutes the second viewer, who then sees the refusal with the mute's end;
// a burst of hearts from one viewer shows on the other as counts; the
// announcement reaches both; closing the chat and a ban show on the pages.
func TestBrowserChat(t *testing.T) {
	ts := startServer(t, server.Config{SeedDemo: true, MsgRate: -1})
	shots := artifactsDir(t)
	b := browser(t, 90*time.Second)

	alice := openPage(t, b, "alice", ts.URL+"/demo/?room=demo&name=Alice", 420, 900)
	bob := openPage(t, b, "bob", ts.URL+"/demo/?room=demo&name=Bob", 420, 900, chromedp.WithNewBrowserContext())
	creator := openPage(t, b, "creator", ts.URL+"/demo/creator.html?room=demo", 1280, 1400)
	viewers := []*tab{alice, bob}
	all := []*tab{alice, bob, creator}

	// Alice comments; Bob and the console see it, with her name.
	o := alice.comment("Does it come in blue?")
	if !o.OK || o.ID == "" {
		t.Fatalf("alice: comment refused: %+v", o)
	}
	blue := o.ID
	shown := func(id string) string {
		return fmt.Sprintf(`document.querySelector('[data-testid="comments"] li[data-comment-id=%q]')`, id)
	}
	for _, tb := range viewers {
		tb.wait("alice's comment", shown(blue)+` !== null && `+shown(blue)+`.textContent.includes('Alice') &&
			`+shown(blue)+`.textContent.includes('Does it come in blue?')`, 5*time.Second, nil)
	}
	alice.wait("own comment marked", shown(blue)+`.classList.contains('mine')`, 2*time.Second, nil)
	creator.wait("comment in the console", fmt.Sprintf(`document.querySelector('[data-testid="delete-%s"]') !== null`, blue), 5*time.Second, nil)

	// The creator deletes it: it leaves both viewers' screens and state.
	creator.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="delete-%s"]`, blue))))
	var out outcome
	creator.wait("delete outcome", `liveDemo.lastOutcome && liveDemo.lastOutcome.action.startsWith('Delete') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: delete failed: %s %s", out.Code, out.Message)
	}
	for _, tb := range viewers {
		tb.wait("comment deleted", fmt.Sprintf(`%s === null && !liveDemo.comments.some((c) => c.id === %q)`, shown(blue), blue), 5*time.Second, nil)
	}
	creator.wait("comment gone from the console", fmt.Sprintf(`document.querySelector('[data-testid="delete-%s"]') === null`, blue), 5*time.Second, nil)

	// Bob comments, the creator mutes him for 5 minutes from his comment,
	// and his next comment is refused with the mute's end.
	o = bob.comment("first!")
	if !o.OK {
		t.Fatalf("bob: comment refused: %+v", o)
	}
	first := o.ID
	alice.wait("bob's comment", shown(first)+` !== null`, 5*time.Second, nil)
	creator.wait("bob's comment in the console", fmt.Sprintf(`document.querySelector('[data-testid="mute-%s"]') !== null`, first), 5*time.Second, nil)
	creator.do(
		chromedp.SetValue(chromedp.CSS(`[data-testid="mute-duration"]`), "300000"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="mute-%s"]`, first))),
	)
	creator.wait("mute outcome", `liveDemo.lastOutcome.action.startsWith('Mute') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: mute failed: %s %s", out.Code, out.Message)
	}
	creator.wait("muted list", `document.querySelector('[data-testid="moderated"]').textContent.includes('muted for')`, 2*time.Second, nil)
	o = bob.comment("why can't I talk?")
	if o.OK || o.Code != "muted" {
		t.Fatalf("bob: a muted comment answered %+v, want muted", o)
	}
	var now int64
	bob.eval(`Math.round(liveDemo.client.serverNow())`, &now)
	if left := o.Until - now; left < 290_000 || left > 301_000 {
		t.Errorf("bob: muted until %d, %d ms from now; want about 5 minutes", o.Until, left)
	}
	bob.wait("refusal shown", `(() => { const e = document.querySelector('[data-testid="chat-error"]');
		return !e.hidden && e.dataset.code === 'muted' && /You are muted for [45]:\d\d/.test(e.textContent); })()`, 2*time.Second, nil)
	bob.wait("text kept to send later", `document.querySelector('[data-testid="comment-input"]').value === "why can't I talk?"`, time.Second, nil)

	// A burst of 8 hearts from Alice shows on Bob's page as counts (the
	// server sums them into at most 4 reactions messages a second).
	alice.eval(`(() => { const b = document.querySelector('[data-testid="react-heart"]'); for (let i = 0; i < 8; i++) b.click(); return true; })()`, nil)
	var hearts int
	bob.wait("heart count", `Number(document.querySelector('[data-testid="reaction-count-heart"]').dataset.total) >= 8 &&
		Number(document.querySelector('[data-testid="reaction-count-heart"]').dataset.total)`, 5*time.Second, &hearts)
	time.Sleep(600 * time.Millisecond) // anything more would have arrived by now
	bob.eval(`liveDemo.reactionTotals.heart`, &hearts)
	if hearts != 8 {
		t.Errorf("bob: %d hearts counted, want 8", hearts)
	}
	alice.wait("alice sees her hearts counted", `liveDemo.reactionTotals.heart === 8 &&
		document.querySelector('[data-testid="reaction-count-heart"]').textContent === '8'`, 3*time.Second, nil)

	// The announcement reaches both viewers; slow mode shows in the console.
	creator.do(
		chromedp.SetValue(chromedp.CSS(`[data-testid="announce-input"]`), "Blue drops at 8 pm!"),
		chromedp.Click(chromedp.CSS(`[data-testid="announce-submit"]`)),
	)
	for _, tb := range viewers {
		tb.wait("announcement", `(() => { const a = document.querySelector('[data-testid="announcement"]');
			return !a.hidden && a.textContent.includes('Blue drops at 8 pm!'); })()`, 5*time.Second, nil)
	}

	// More comments for the screenshots, then close the chat: the composer
	// says so, and a comment sent anyway is refused with chat_closed.
	time.Sleep(time.Second) // Alice's comment allowance (1 a second, a burst of 3) refills
	for _, text := range []string{"Love the tote!", "How long is the sale?", "Just ordered two!"} {
		if o := alice.comment(text); !o.OK {
			// The per-user limit is 1 a second with a burst of 3.
			t.Fatalf("alice: comment %q refused: %+v", text, o)
		}
	}
	bob.wait("alice's comments", `liveDemo.comments.filter((c) => c.author.name === 'Alice').length === 3`, 5*time.Second, nil)
	time.Sleep(700 * time.Millisecond) // the floating reactions settle
	alice.screenshot(filepath.Join(shots, "chat-viewer.png"))
	bob.screenshot(filepath.Join(shots, "chat-viewer-muted.png"))
	creator.screenshot(filepath.Join(shots, "chat-creator.png"))

	creator.do(chromedp.Click(chromedp.CSS(`[data-testid="chat-toggle"]`)))
	creator.wait("chat closed", `liveDemo.lastOutcome.action === 'Close chat' && liveDemo.lastOutcome.ok && liveDemo.chat.enabled === false`, 5*time.Second, nil)
	alice.wait("composer closed", `document.querySelector('[data-testid="composer"]').dataset.state === 'closed' &&
		document.querySelector('[data-testid="comment-send"]').disabled`, 5*time.Second, nil)
	var closed commentOutcome
	alice.eval(`liveDemo.client.comment('demo', 'let me in').then(() => ({ok: true}), (e) => ({ok: false, code: e.code}))
		.then((r) => { window.__closed = r; }), true`, nil)
	alice.wait("closed chat answer", `window.__closed`, 5*time.Second, &closed)
	if closed.OK || closed.Code != "chat_closed" {
		t.Errorf("alice: a comment with the chat closed answered %+v, want chat_closed", closed)
	}
	creator.do(chromedp.Click(chromedp.CSS(`[data-testid="chat-toggle"]`)))
	alice.wait("composer open again", `document.querySelector('[data-testid="composer"]').dataset.state === 'open'`, 5*time.Second, nil)

	// A ban takes Bob out of the room at once.
	creator.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="ban-%s"]`, first))))
	creator.wait("ban outcome", `liveDemo.lastOutcome.action.startsWith('Ban') && liveDemo.lastOutcome`, 5*time.Second, &out)
	if !out.OK {
		t.Fatalf("creator: ban failed: %s %s", out.Code, out.Message)
	}
	bob.wait("banned", `liveDemo.banned && document.querySelector('[data-testid="composer"]').dataset.state === 'banned' &&
		document.querySelector('[data-testid="chat-error"]').dataset.code === 'banned'`, 5*time.Second, nil)

	for _, tb := range all {
		if e := tb.errors(); e != "" {
			t.Errorf("%s:%s", tb.name, e)
		}
	}
}

// TestBrowserChatSampled: with -chat-fanout-rate 1, three quick comments
// from Alice put the room's chat into sampling. Bob's page says that he
// sees a sample (chat_mode) and the notice goes away when the comments
// slow down; Alice always sees her own comments.
func TestBrowserChatSampled(t *testing.T) {
	ts := startServer(t, server.Config{SeedDemo: true, MsgRate: -1, ChatFanoutRate: 1})
	b := browser(t, 60*time.Second)
	alice := openPage(t, b, "alice", ts.URL+"/demo/?room=demo&name=Alice", 420, 900)
	bob := openPage(t, b, "bob", ts.URL+"/demo/?room=demo&name=Bob", 420, 900, chromedp.WithNewBrowserContext())

	bob.wait("no notice", `document.querySelector('[data-testid="chat-mode"]').hidden`, time.Second, nil)
	var ids []string
	for _, text := range []string{"one", "two", "three"} {
		o := alice.comment(text)
		if !o.OK {
			t.Fatalf("alice: comment %q refused: %+v", text, o)
		}
		ids = append(ids, o.ID)
	}
	bob.wait("sampling notice", `liveDemo.chatMode.sampled && !document.querySelector('[data-testid="chat-mode"]').hidden &&
		document.querySelector('[data-testid="chat-mode"]').textContent.includes('sample')`, 5*time.Second, nil)
	alice.wait("own comments, all of them", fmt.Sprintf(`%s.every((id) => liveDemo.comments.some((c) => c.id === id))`, jsonString(t, ids)), 5*time.Second, nil)
	bob.wait("notice gone when the chat slows down", `!liveDemo.chatMode.sampled && document.querySelector('[data-testid="chat-mode"]').hidden`, 10*time.Second, nil)
	for _, tb := range []*tab{alice, bob} {
		if e := tb.errors(); e != "" {
			t.Errorf("%s:%s", tb.name, e)
		}
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
