package protocol

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestDecodeChatMessages(t *testing.T) {
	ok := []struct {
		in    string
		check func(m ClientMessage) bool
	}{
		{`{"type":"comment","id":"c1","room":"r","text":" hi "}`, func(m ClientMessage) bool { return m.Text == " hi " && m.Room == "r" }},
		{`{"type":"react","room":"r","kind":"heart"}`, func(m ClientMessage) bool { return m.Kind == "heart" && m.ID == "" }},
		{`{"type":"delete_comment","id":"d","room":"r","comment":"12"}`, func(m ClientMessage) bool { return m.Comment == "12" }},
		{`{"type":"mute","id":"m","room":"r","user":"h","duration_ms":1000,"purge":true}`, func(m ClientMessage) bool { return m.User == "h" && m.DurationMS == 1000 && m.Purge }},
		{`{"type":"mute","id":"m","room":"r","user":"h","duration_ms":86400000}`, func(m ClientMessage) bool { return !m.Purge }},
		{`{"type":"unmute","id":"u","room":"r","user":"h"}`, func(m ClientMessage) bool { return m.User == "h" }},
		{`{"type":"ban","id":"b","room":"r","user":"h"}`, func(m ClientMessage) bool { return m.User == "h" }},
		{`{"type":"unban","id":"b","room":"r","user":"h"}`, func(m ClientMessage) bool { return m.User == "h" }},
		{`{"type":"chat_settings","id":"s","room":"r","enabled":false,"slow_mode_ms":0,"announcement":null}`, func(m ClientMessage) bool {
			return m.Enabled != nil && !*m.Enabled && m.SlowModeMS != nil && *m.SlowModeMS == 0 && m.ClearAnnouncement && m.Announcement == nil
		}},
		{`{"type":"chat_settings","id":"s","room":"r","announcement":"Hello"}`, func(m ClientMessage) bool {
			return m.Enabled == nil && m.SlowModeMS == nil && m.Announcement != nil && *m.Announcement == "Hello" && !m.ClearAnnouncement
		}},
	}
	for _, c := range ok {
		m, _, err := DecodeClient([]byte(c.in))
		if err != nil || !c.check(m) {
			t.Errorf("DecodeClient(%s) = %+v, %v", c.in, m, err)
		}
	}
	bad := []string{
		`{"type":"comment","room":"r","text":"no id"}`,
		`{"type":"comment","id":"c","room":"r"}`,
		`{"type":"comment","id":"c","room":"r","text":5}`,
		`{"type":"comment","id":"c","text":"no room"}`,
		`{"type":"react","room":"r"}`,
		`{"type":"react","room":"r","kind":1}`,
		`{"type":"delete_comment","id":"d","room":"r"}`,
		`{"type":"mute","id":"m","room":"r","user":"h"}`,
		`{"type":"mute","id":"m","room":"r","user":"h","duration_ms":999}`,
		`{"type":"mute","id":"m","room":"r","user":"h","duration_ms":86400001}`,
		`{"type":"mute","id":"m","room":"r","user":"h","duration_ms":1.5e3}`,
		`{"type":"mute","id":"m","room":"r","user":"h","duration_ms":1000,"purge":"yes"}`,
		`{"type":"ban","id":"b","room":"r"}`,
		`{"type":"ban","id":"b","room":"r","user":["h"]}`,
		`{"type":"chat_settings","id":"s","room":"r","slow_mode_ms":600001}`,
		`{"type":"chat_settings","id":"s","room":"r","slow_mode_ms":-1}`,
		`{"type":"chat_settings","id":"s","room":"r","enabled":"no"}`,
		`{"type":"chat_settings","id":"s","room":"r","announcement":7}`,
	}
	for _, in := range bad {
		if _, _, err := DecodeClient([]byte(in)); ErrorCode(err) != CodeBadRequest {
			t.Errorf("DecodeClient(%s) = %v, want bad_request", in, err)
		}
	}
}

func TestChatErrors(t *testing.T) {
	for code, status := range map[string]int{
		CodeMuted: http.StatusForbidden, CodeBanned: http.StatusForbidden, CodeChatClosed: http.StatusForbidden,
		CodeSlowMode: http.StatusTooManyRequests, CodeBlocked: http.StatusUnprocessableEntity,
	} {
		if got := HTTPStatus(code); got != status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, status)
		}
	}
	b, _ := json.Marshal(&Error{Code: CodeMuted, Message: "m", Until: 5})
	if string(b) != `{"code":"muted","message":"m","until":5}` {
		t.Errorf("muted error encodes as %s", b)
	}
	b, _ = json.Marshal(&Error{Code: CodeSlowMode, Message: "s", RetryAfterMS: 7})
	if string(b) != `{"code":"slow_mode","message":"s","retry_after_ms":7}` {
		t.Errorf("slow_mode error encodes as %s", b)
	}
	if k, ok := CommentAuthor(CommentKey("abc")); !ok || k != "abc" {
		t.Error("CommentAuthor(CommentKey) does not round-trip")
	}
	if k, ok := BannedHandle(BanKey("abc")); !ok || k != "abc" {
		t.Error("BannedHandle(BanKey) does not round-trip")
	}
	if _, ok := CommentAuthor(ReactionsKey); ok {
		t.Error("the reactions key parses as a comment's")
	}
}

func TestDecodeChatBodies(t *testing.T) {
	if d, p, err := DecodeMute([]byte(`{"duration_ms":60000,"purge":true}`)); err != nil || d != 60000 || !p {
		t.Errorf("DecodeMute = %d %v %v", d, p, err)
	}
	if _, _, err := DecodeMute([]byte(`{}`)); ErrorCode(err) != CodeBadRequest {
		t.Errorf("DecodeMute({}) = %v", err)
	}
	if f, err := DecodeChatSettings([]byte(`{"enabled":true}`)); err != nil || f.Enabled == nil || !*f.Enabled {
		t.Errorf("DecodeChatSettings = %+v %v", f, err)
	}
	if _, err := DecodeText([]byte(`{"text":null}`)); ErrorCode(err) != CodeBadRequest {
		t.Errorf("DecodeText(null) = %v", err)
	}
	if _, err := DecodeTerms([]byte(`{"terms":"spam"}`)); ErrorCode(err) != CodeBadRequest {
		t.Errorf("DecodeTerms(string) = %v", err)
	}
	if ts, err := DecodeTerms([]byte(`{"terms":[]}`)); err != nil || len(ts) != 0 {
		t.Errorf("DecodeTerms([]) = %v %v", ts, err)
	}
}
