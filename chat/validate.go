package chat

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/liveserver/liveserver/protocol"
)

func badRequest(format string, args ...any) *Error {
	return errorf(protocol.CodeBadRequest, fmt.Sprintf(format, args...))
}

// plain reports whether s is valid UTF-8 without control characters (C0,
// DEL, C1) or bidirectional-override characters (U+202A to U+202E, U+2066
// to U+2069), which could make a comment show text it does not contain.
func plain(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 {
			return false
		}
	}
	return true
}

// CleanText returns a comment's text trimmed of surrounding white space,
// or bad_request: 1 to MaxTextLen characters, valid UTF-8, no control or
// bidi-override characters (a newline inside is a control character too).
func CleanText(text string) (string, error) {
	if !utf8.ValidString(text) {
		return "", badRequest("text must be valid UTF-8")
	}
	t := strings.TrimSpace(text)
	if n := utf8.RuneCountInString(t); n < 1 || n > MaxTextLen {
		return "", badRequest("text must be 1 to %d characters after trimming", MaxTextLen)
	}
	if !plain(t) {
		return "", badRequest("text must not contain control or bidirectional-override characters")
	}
	return t, nil
}

// DisplayName is the name an author shows: the token's name claim when it
// is 1 to MaxNameLen characters of plain text (after trimming), else the
// masked label of the user (its first character and "***", as the purchase
// ticker shows buyers).
func DisplayName(name, sub string) string {
	n := strings.TrimSpace(name)
	if c := utf8.RuneCountInString(n); c >= 1 && c <= MaxNameLen && plain(n) {
		return n
	}
	return MaskLabel(sub)
}

// MaskLabel is the label inventory.MaskBuyer gives the purchase ticker (the
// first character and "***"), or "***" when that character is not plain
// text. It identifies nobody.
func MaskLabel(sub string) string {
	r, size := utf8.DecodeRuneInString(sub)
	if size == 0 || r == utf8.RuneError || !plain(sub[:size]) {
		return "***"
	}
	return sub[:size] + "***"
}

// CheckKind returns the index of a reaction kind, or bad_request.
func CheckKind(kind string) (int, error) {
	i := KindIndex(kind)
	if i < 0 {
		return 0, badRequest("kind must be one of %s", strings.Join(Kinds[:], ", "))
	}
	return i, nil
}

// CheckMute checks a mute's duration_ms: 1 s to 24 h.
func CheckMute(durationMS int64) (time.Duration, error) {
	if durationMS < MinMute.Milliseconds() || durationMS > MaxMute.Milliseconds() {
		return 0, badRequest("duration_ms must be from %d to %d", MinMute.Milliseconds(), MaxMute.Milliseconds())
	}
	return time.Duration(durationMS) * time.Millisecond, nil
}

// Validate checks a settings patch: slow_mode_ms 0 to MaxSlowMode, the
// announcement up to MaxAnnouncementLen characters of plain text.
func (p SettingsPatch) Validate() error {
	if p.SlowModeMS != nil && (*p.SlowModeMS < 0 || *p.SlowModeMS > MaxSlowMode) {
		return badRequest("slow_mode_ms must be from 0 to %d", MaxSlowMode)
	}
	if p.Announcement != nil {
		if p.ClearAnnouncement {
			return badRequest("announcement is both set and cleared")
		}
		a := *p.Announcement
		if utf8.RuneCountInString(a) > MaxAnnouncementLen || !plain(a) {
			return badRequest("announcement must be up to %d characters without control or bidirectional-override characters, or null", MaxAnnouncementLen)
		}
	}
	return nil
}

// Apply returns s changed by p.
func (p SettingsPatch) Apply(s Settings) Settings {
	if p.Enabled != nil {
		s.Enabled = *p.Enabled
	}
	if p.SlowModeMS != nil {
		s.SlowModeMS = *p.SlowModeMS
	}
	if p.Announcement != nil {
		a := *p.Announcement
		s.Announcement = &a
	}
	if p.ClearAnnouncement {
		s.Announcement = nil
	}
	return s
}

// CleanBlockList checks a block list and returns its terms trimmed, with
// repeats (ignoring case) removed: at most MaxBlockTerms terms of 1 to
// MaxTermLen characters of plain text.
func CleanBlockList(terms []string) ([]string, error) {
	if len(terms) > MaxBlockTerms {
		return nil, badRequest("at most %d terms", MaxBlockTerms)
	}
	out := make([]string, 0, len(terms))
	seen := make(map[string]bool, len(terms))
	for i, t := range terms {
		t = strings.TrimSpace(t)
		if n := utf8.RuneCountInString(t); n < 1 || n > MaxTermLen || !plain(t) {
			return nil, badRequest("terms[%d] must be 1 to %d characters of text", i, MaxTermLen)
		}
		if k := strings.ToLower(t); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// Blocked reports whether text contains one of terms as a whole word (or
// phrase), ignoring case: "spam" blocks "Buy SPAM now" but not "spammer".
// A term's edge that is not a letter or digit needs no word boundary.
func Blocked(text string, terms []string) bool {
	if len(terms) == 0 {
		return false
	}
	t := strings.ToLower(text)
	for _, term := range terms {
		if containsWord(t, strings.ToLower(term)) {
			return true
		}
	}
	return false
}

func containsWord(text, term string) bool {
	if term == "" {
		return false
	}
	first, _ := utf8.DecodeRuneInString(term)
	last, _ := utf8.DecodeLastRuneInString(term)
	for from := 0; from < len(text); {
		i := strings.Index(text[from:], term)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(term)
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if (i == 0 || !isWord(first) || !isWord(before)) && (end == len(text) || !isWord(last) || !isWord(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		from = i + size
	}
	return false
}

func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// CheckCommentIDs checks the ids of a delete: 1 to RecentSize decimal
// integers.
func CheckCommentIDs(ids []string) error {
	if len(ids) == 0 || len(ids) > RecentSize {
		return badRequest("give 1 to %d comment ids", RecentSize)
	}
	for _, id := range ids {
		if _, ok := parseID(id); !ok {
			return badRequest("comment id %q is not a comment id", id)
		}
	}
	return nil
}

// parseID reads a comment id: a decimal integer from 1, without leading
// zeros, up to 15 digits (exact in a Lua number).
func parseID(id string) (uint64, bool) {
	if len(id) == 0 || len(id) > 15 || id[0] == '0' {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// ValidHandle reports whether s could be a handle: HandleLen characters of
// the base64url alphabet.
func ValidHandle(s string) bool {
	if len(s) != HandleLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
