package chat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/liveserver/liveserver/chat"
	"github.com/liveserver/liveserver/protocol"
)

func TestCleanText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"trimmed", "  hi there \t", "hi there", true},
		{"300 characters", strings.Repeat("ü", 300), strings.Repeat("ü", 300), true},
		{"emoji", "🔥🔥 blue?", "🔥🔥 blue?", true},
		{"301 characters", strings.Repeat("a", 301), "", false},
		{"empty", "", "", false},
		{"only spaces", " \t\n ", "", false},
		{"newline inside", "a\nb", "", false},
		{"tab inside", "a\tb", "", false},
		{"NUL", "a\x00", "", false},
		{"DEL", "a\x7f", "", false},
		{"C1", "a\u0080b", "", false},
		{"RLO", "a\u202Eb", "", false},
		{"LRE", "a\u202Ab", "", false},
		{"FSI", "a\u2068b", "", false},
		{"PDI", "a\u2069b", "", false},
		{"invalid UTF-8", "a\xc3", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chat.CleanText(tc.in)
			if tc.ok && (err != nil || got != tc.want) {
				t.Fatalf("CleanText(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if !tc.ok && code(err) != protocol.CodeBadRequest {
				t.Fatalf("CleanText(%q) = %q, %v; want bad_request", tc.in, got, err)
			}
		})
	}
}

func TestBlocked(t *testing.T) {
	t.Parallel()
	terms := []string{"spam", "Buy Now", "c++", "straße"}
	for text, want := range map[string]bool{
		"spam":                true,
		"SPAM!":               true,
		"it's spam.":          true,
		"spam-bot":            true,
		"spammer":             false,
		"antispam":            false,
		"spam_bot":            false, // _ is a word character
		"buy now":             true,
		"BUY NOW!!":           true,
		"buy nowhere":         false,
		"buy  now":            false,
		"I love c++ too":      true,
		"c++11":               true, // the term ends in a non-word character: no boundary needed
		"STRASSE":             false,
		"Straße":              true,
		"nothing to see here": false,
	} {
		if got := chat.Blocked(text, terms); got != want {
			t.Errorf("Blocked(%q) = %v, want %v", text, got, want)
		}
	}
	if chat.Blocked("spam", nil) {
		t.Error("an empty list blocks")
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, sub, want string }{
		{"Ann", "u-123", "Ann"},
		{"  Ann  ", "u-123", "Ann"},
		{strings.Repeat("n", 32), "u", strings.Repeat("n", 32)},
		{strings.Repeat("n", 33), "user", "u***"},
		{"", "jane", "j***"},
		{"evil\u202Eeman", "jane", "j***"},
		{"tab\tname", "jane", "j***"},
		{"", "ünï", "ü***"},
		{"", "", "***"},
		{"", "\x00x", "***"},
	} {
		if got := chat.DisplayName(tc.name, tc.sub); got != tc.want {
			t.Errorf("DisplayName(%q, %q) = %q, want %q", tc.name, tc.sub, got, tc.want)
		}
	}
}

func TestHandles(t *testing.T) {
	t.Parallel()
	if _, err := chat.NewHandles([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
	h1, _ := chat.NewHandles(chat.RandomKey())
	h2, _ := chat.NewHandles(chat.RandomKey())
	a := h1.Handle("room1", "alice")
	if !chat.ValidHandle(a) || len(a) != chat.HandleLen {
		t.Fatalf("handle %q", a)
	}
	if h1.Handle("room1", "alice") != a {
		t.Fatal("not stable")
	}
	for _, other := range []string{h1.Handle("room2", "alice"), h1.Handle("room1", "alicf"), h2.Handle("room1", "alice"), h1.Handle("room1a", "lice")} {
		if other == a {
			t.Fatalf("handle %q repeated for another room, user or key", a)
		}
	}
	if strings.Contains(a, "alice") {
		t.Fatal("the handle shows the user")
	}
	au := h1.Author("room1", "alice", "", chat.RoleModerator)
	if au.ID != a || au.Name != "a***" || au.Role != chat.RoleModerator {
		t.Fatalf("author %+v", au)
	}
	for _, bad := range []string{"", "short", a + "x", strings.Repeat("+", chat.HandleLen)} {
		if chat.ValidHandle(bad) {
			t.Errorf("ValidHandle(%q)", bad)
		}
	}
}

func TestCheckers(t *testing.T) {
	t.Parallel()
	for ms, ok := range map[int64]bool{999: false, 1000: true, 86_400_000: true, 86_400_001: false, -5: false} {
		d, err := chat.CheckMute(ms)
		if ok != (err == nil) || ok && d != time.Duration(ms)*time.Millisecond {
			t.Errorf("CheckMute(%d) = %v, %v", ms, d, err)
		}
	}
	for kind, ok := range map[string]bool{"heart": true, "fire": true, "clap": true, "laugh": true, "wow": true, "Heart": false, "": false, "poop": false} {
		if _, err := chat.CheckKind(kind); ok != (err == nil) {
			t.Errorf("CheckKind(%q) = %v", kind, err)
		}
	}
	zero, max, over, ann, both := int64(0), int64(600_000), int64(600_001), strings.Repeat("a", 200), "x"
	for i, tc := range []struct {
		p  chat.SettingsPatch
		ok bool
	}{
		{chat.SettingsPatch{SlowModeMS: &zero}, true},
		{chat.SettingsPatch{SlowModeMS: &max}, true},
		{chat.SettingsPatch{SlowModeMS: &over}, false},
		{chat.SettingsPatch{Announcement: &ann}, true},
		{chat.SettingsPatch{Announcement: &both, ClearAnnouncement: true}, false},
	} {
		if err := tc.p.Validate(); tc.ok != (err == nil) {
			t.Errorf("patch %d: %v", i, err)
		}
	}
	terms, err := chat.CleanBlockList(make([]string, 0))
	if err != nil || terms == nil {
		t.Fatalf("empty list: %v, %v", terms, err)
	}
	if _, err := chat.CleanBlockList(append(make([]string, 199), "x")); err == nil {
		t.Fatal("empty terms accepted")
	}
	e := &chat.Error{Code: chat.CodeMuted, Message: "m", Until: 5}
	if code(e) != chat.CodeMuted || e.Fields()["until"] != int64(5) {
		t.Fatalf("a chat error maps to %q, fields %v", code(e), e.Fields())
	}
	if (&chat.Error{Code: chat.CodeBlocked}).Fields() != nil {
		t.Fatal("fields for an error without any")
	}
}
