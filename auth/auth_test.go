package auth

import (
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/liveserver/liveserver/protocol"
)

const secret = "test-secret-0123456789abcdef"

// token signs claims with method and key, failing the test on error.
func token(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatalf("signing test token: %v", err)
	}
	return s
}

func exp(d time.Duration) int64 { return time.Now().Add(d).Unix() }

// wantUnauthorized fails unless err is a *protocol.Error with code
// unauthorized and message msg.
func wantUnauthorized(t *testing.T, err error, msg string) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *protocol.Error", err, err)
	}
	if pe.Code != protocol.CodeUnauthorized || pe.Message != msg {
		t.Fatalf("err = %q/%q, want %q/%q", pe.Code, pe.Message, protocol.CodeUnauthorized, msg)
	}
}

func TestVerifyValid(t *testing.T) {
	t.Parallel()
	v := NewVerifier(secret)
	hs := jwt.SigningMethodHS256
	key := []byte(secret)
	tests := []struct {
		name  string
		tok   string
		want  Identity
		rooms []string
	}{
		{"viewer no role", token(t, hs, key, jwt.MapClaims{"sub": "u1", "exp": exp(time.Hour)}),
			Identity{User: "u1", Role: RoleViewer}, nil},
		{"viewer explicit", token(t, hs, key, jwt.MapClaims{"sub": "u2", "exp": exp(time.Hour), "role": "viewer"}),
			Identity{User: "u2", Role: RoleViewer}, nil},
		{"creator", token(t, hs, key, jwt.MapClaims{"sub": "c1", "exp": exp(time.Hour), "role": "creator", "rooms": []string{"r1", "r2"}}),
			Identity{User: "c1", Role: RoleCreator}, []string{"r1", "r2"}},
		{"admin", token(t, hs, key, jwt.MapClaims{"sub": "a1", "exp": exp(time.Hour), "role": "admin"}),
			Identity{User: "a1", Role: RoleAdmin}, nil},
		{"expired within leeway", token(t, hs, key, jwt.MapClaims{"sub": "u3", "exp": exp(-2 * time.Second)}),
			Identity{User: "u3", Role: RoleViewer}, nil},
		{"sub at max length", token(t, hs, key, jwt.MapClaims{"sub": strings.Repeat("s", MaxSubLen), "exp": exp(time.Hour)}),
			Identity{User: strings.Repeat("s", MaxSubLen), Role: RoleViewer}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(tt.tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.User != tt.want.User || got.Role != tt.want.Role || got.Anonymous || !slices.Equal(got.Rooms, tt.rooms) {
				t.Fatalf("Verify = %+v, want %+v rooms %v", got, tt.want, tt.rooms)
			}
		})
	}
}

func TestVerifyInvalid(t *testing.T) {
	t.Parallel()
	v := NewVerifier(secret)
	key := []byte(secret)
	hs := jwt.SigningMethodHS256
	ok := jwt.MapClaims{"sub": "u1", "exp": exp(time.Hour), "role": "admin"}
	valid := token(t, hs, key, ok)
	parts := strings.Split(valid, ".")
	b64 := base64.RawURLEncoding.EncodeToString

	// An RS256 header on an HS256-signed body: the classic key-confusion attempt.
	rsHeader := b64([]byte(`{"alg":"RS256","typ":"JWT"}`))
	rsUnsigned := rsHeader + "." + parts[1]
	rsSig, err := hs.Sign(rsUnsigned, key)
	if err != nil {
		t.Fatal(err)
	}
	// Flip the signature's first character to another valid base64url one.
	badSig := parts[0] + "." + parts[1] + "." + map[bool]string{true: "B", false: "A"}[parts[2][0] == 'A'] + parts[2][1:]

	tests := []struct {
		name, tok, msg string
	}{
		{"empty", "", "missing token"},
		{"garbage", "not a token", "invalid token"},
		{"garbage dots", "a.b.c", "invalid token"},
		{"many dots", strings.Repeat(".", 4000), "invalid token"},
		{"too long", valid + strings.Repeat("A", MaxTokenLen-len(valid)+1), "token too long"},
		{"missing sub", token(t, hs, key, jwt.MapClaims{"exp": exp(time.Hour)}), "missing sub"},
		{"empty sub", token(t, hs, key, jwt.MapClaims{"sub": "", "exp": exp(time.Hour)}), "missing sub"},
		{"numeric sub", token(t, hs, key, jwt.MapClaims{"sub": 42, "exp": exp(time.Hour)}), "invalid token"},
		{"sub too long", token(t, hs, key, jwt.MapClaims{"sub": strings.Repeat("s", MaxSubLen+1), "exp": exp(time.Hour)}), "sub too long"},
		{"missing exp", token(t, hs, key, jwt.MapClaims{"sub": "u1"}), "token has no expiry"},
		{"expired", token(t, hs, key, jwt.MapClaims{"sub": "u1", "exp": exp(-time.Minute)}), "token expired"},
		{"not yet valid", token(t, hs, key, jwt.MapClaims{"sub": "u1", "exp": exp(time.Hour), "nbf": exp(time.Minute)}), "invalid token"},
		{"role invalid", token(t, hs, key, jwt.MapClaims{"sub": "u1", "exp": exp(time.Hour), "role": "root"}), "invalid role"},
		{"role wrong case", token(t, hs, key, jwt.MapClaims{"sub": "u1", "exp": exp(time.Hour), "role": "Admin"}), "invalid role"},
		{"role not string", token(t, hs, key, jwt.MapClaims{"sub": "u1", "exp": exp(time.Hour), "role": 1}), "invalid token"},
		{"rooms not strings", token(t, hs, key, jwt.MapClaims{"sub": "u1", "exp": exp(time.Hour), "rooms": []int{1}}), "invalid token"},
		{"HS384", token(t, jwt.SigningMethodHS384, key, ok), "invalid token"},
		{"HS512", token(t, jwt.SigningMethodHS512, key, ok), "invalid token"},
		{"none", token(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, ok), "invalid token"},
		{"RS256 header", rsUnsigned + "." + b64(rsSig), "invalid token"},
		{"bad signature", badSig, "invalid token"},
		{"other secret", token(t, hs, []byte("another-secret"), ok), "invalid token"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(tt.tok)
			wantUnauthorized(t, err, tt.msg)
			if id.User != "" || id.CanBuy() {
				t.Fatalf("Verify returned identity %+v with an error", id)
			}
		})
	}
}

func TestCanControl(t *testing.T) {
	t.Parallel()
	viewer := Identity{User: "v", Role: RoleViewer, Rooms: []string{"r1"}}
	creator := Identity{User: "c", Role: RoleCreator, Rooms: []string{"r1", "r2"}}
	admin := Identity{User: "a", Role: RoleAdmin}
	anon := NewVerifier("").Anonymous()
	tests := []struct {
		name string
		id   Identity
		room string
		want bool
	}{
		{"viewer own-listed room", viewer, "r1", false},
		{"viewer other room", viewer, "r3", false},
		{"creator r1", creator, "r1", true},
		{"creator r2", creator, "r2", true},
		{"creator other room", creator, "r3", false},
		{"creator empty room", creator, "", false},
		{"creator no rooms", Identity{User: "c", Role: RoleCreator}, "r1", false},
		{"admin any room", admin, "r9", true},
		{"admin r1", admin, "r1", true},
		{"anonymous", anon, "r1", false},
		{"zero identity", Identity{}, "r1", false},
		{"unknown role", Identity{User: "x", Role: "root", Rooms: []string{"r1"}}, "r1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.id.CanControl(tt.room); got != tt.want {
				t.Fatalf("%+v.CanControl(%q) = %v, want %v", tt.id, tt.room, got, tt.want)
			}
		})
	}
}

func TestCanBuy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   Identity
		want bool
	}{
		{"viewer", Identity{User: "v", Role: RoleViewer}, true},
		{"creator", Identity{User: "c", Role: RoleCreator}, true},
		{"admin", Identity{User: "a", Role: RoleAdmin}, true},
		{"anonymous", NewVerifier("").Anonymous(), true},
		{"zero", Identity{}, false},
	}
	for _, tt := range tests {
		if got := tt.id.CanBuy(); got != tt.want {
			t.Errorf("%s: CanBuy() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAnonymous(t *testing.T) {
	t.Parallel()
	v := NewVerifier("")
	a, b := v.Anonymous(), v.Anonymous()
	for _, id := range []Identity{a, b} {
		hexPart, found := strings.CutPrefix(id.User, "anon-")
		if !found || len(hexPart) != 12 || strings.Trim(hexPart, "0123456789abcdef") != "" {
			t.Errorf("anonymous user = %q, want anon-<12 hex>", id.User)
		}
		if !id.Anonymous || id.Role != RoleViewer {
			t.Errorf("anonymous identity = %+v", id)
		}
	}
	if a.User == b.User {
		t.Errorf("two anonymous identities share user %q", a.User)
	}
}

func TestTokenFromRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, url string
		want              string
		ok                bool
	}{
		{"none", "", "/ws", "", true},
		{"header", "Bearer abc.def.ghi", "/ws", "abc.def.ghi", true},
		{"header lower-case scheme", "bearer abc", "/ws", "abc", true},
		{"query", "", "/ws?token=q.r.s", "q.r.s", true},
		{"both: header wins", "Bearer hdr", "/ws?token=qry", "hdr", true},
		{"basic auth", "Basic dXNlcjpwYXNz", "/ws?token=qry", "", false},
		{"scheme only", "Bearer", "/ws", "", false},
		{"empty credential", "Bearer   ", "/ws", "", false},
		{"two credentials", "Bearer a b", "/ws", "", false},
		{"no scheme", "abc.def.ghi", "/ws", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", tt.url, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			got, ok := TokenFromRequest(r)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("TokenFromRequest = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestDevMode(t *testing.T) {
	t.Parallel()
	dev := NewVerifier("")
	if !dev.DevMode() {
		t.Fatal("NewVerifier(\"\").DevMode() = false")
	}
	if NewVerifier(secret).DevMode() {
		t.Fatal("NewVerifier(secret).DevMode() = true")
	}
	want := Identity{User: "demo", Role: RoleCreator, Rooms: []string{"room1"}}
	tok, err := dev.Issue(want, time.Minute)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	got, err := dev.Verify(tok)
	if err != nil {
		t.Fatalf("Verify of own token: %v", err)
	}
	if got.User != want.User || got.Role != want.Role || !slices.Equal(got.Rooms, want.Rooms) || !got.CanControl("room1") {
		t.Fatalf("round trip = %+v, want %+v", got, want)
	}
	// Another dev-mode process (or one with the empty secret spelled out) must refuse it.
	_, err = NewVerifier("").Verify(tok)
	wantUnauthorized(t, err, "invalid token")
	_, err = dev.Verify(token(t, jwt.SigningMethodHS256, []byte(""), jwt.MapClaims{"sub": "x", "exp": exp(time.Hour)}))
	wantUnauthorized(t, err, "invalid token")
	_, err = dev.Verify("garbage")
	wantUnauthorized(t, err, "invalid token")
}

func TestIssueWithSecret(t *testing.T) {
	t.Parallel()
	v := NewVerifier(secret)
	tok, err := v.Issue(Identity{User: "a", Role: RoleAdmin}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Sign with the same secret is interchangeable with Issue.
	signed, err := Sign(secret, Identity{User: "b"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{tok, signed} {
		if _, err := v.Verify(s); err != nil {
			t.Errorf("Verify(issued) = %v", err)
		}
	}
	expired, err := Sign(secret, Identity{User: "a"}, -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(expired)
	wantUnauthorized(t, err, "token expired")

	for _, bad := range []Identity{{}, {User: "x", Role: "root"}, {User: strings.Repeat("s", MaxSubLen+1)}} {
		_, err := Sign(secret, bad, time.Minute)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeBadRequest {
			t.Errorf("Sign(%+v) err = %v, want bad_request", bad, err)
		}
	}
}

// Development verifiers that share a signing secret accept each other's
// tokens; others do not.
func TestDevVerifierSharedSecret(t *testing.T) {
	t.Parallel()
	a, b, c := NewDevVerifier([]byte("shared"), Rules{}), NewDevVerifier([]byte("shared"), Rules{}), NewDevVerifier([]byte("other"), Rules{})
	if !a.DevMode() || !b.DevMode() {
		t.Fatal("a dev verifier must be in development mode")
	}
	tok, err := a.Issue(Identity{User: "u", Role: RoleCreator, Rooms: []string{"r"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := b.Verify(tok); err != nil || id.User != "u" || !id.CanControl("r") {
		t.Fatalf("shared secret: %+v, %v", id, err)
	}
	if _, err := c.Verify(tok); err == nil {
		t.Fatal("a dev verifier with another secret accepted the token")
	}
}

// Secrets under 32 bytes are refused with a message that says how to make
// one.
func TestCheckSecret(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", strings.Repeat("x", MinSecretLen-1)} {
		err := CheckSecret(s)
		if err == nil || !strings.Contains(err.Error(), "at least 32") || !strings.Contains(err.Error(), "openssl rand") {
			t.Errorf("CheckSecret(%d bytes) = %v", len(s), err)
		}
	}
	if err := CheckSecret(strings.Repeat("x", MinSecretLen)); err != nil {
		t.Errorf("CheckSecret(32 bytes) = %v", err)
	}
}

// Audience and issuer are checked when set; the lifetime (exp - iat, or
// exp - now without iat) is capped, 24 h by default; iat in the future is
// refused.
func TestVerifyRules(t *testing.T) {
	t.Parallel()
	hs := jwt.SigningMethodHS256
	key := []byte(secret)
	now := time.Now()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "u1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	strict := NewVerifierRules(secret, Rules{Audience: "shop", Issuer: "https://id.example.com", MaxLifetime: 2 * time.Hour})
	def := NewVerifier(secret)
	unlimited := NewVerifierRules(secret, Rules{MaxLifetime: -1})
	tests := []struct {
		name string
		v    *Verifier
		c    jwt.MapClaims
		msg  string // "" means accepted
	}{
		{"strict ok", strict, claims(jwt.MapClaims{"aud": "shop", "iss": "https://id.example.com"}), ""},
		{"strict aud in a list", strict, claims(jwt.MapClaims{"aud": []string{"other", "shop"}, "iss": "https://id.example.com"}), ""},
		{"no aud", strict, claims(jwt.MapClaims{"iss": "https://id.example.com"}), "token is for another audience"},
		{"wrong aud", strict, claims(jwt.MapClaims{"aud": "admin-api", "iss": "https://id.example.com"}), "token is for another audience"},
		{"no iss", strict, claims(jwt.MapClaims{"aud": "shop"}), "token is from another issuer"},
		{"wrong iss", strict, claims(jwt.MapClaims{"aud": "shop", "iss": "https://evil.example.com"}), "token is from another issuer"},
		{"aud and iss ignored when not set", def, claims(jwt.MapClaims{"aud": "x", "iss": "y"}), ""},
		{"lifetime at the limit", strict, claims(jwt.MapClaims{"aud": "shop", "iss": "https://id.example.com", "exp": now.Add(2 * time.Hour).Unix()}), ""},
		{"lifetime over the limit", strict, claims(jwt.MapClaims{"aud": "shop", "iss": "https://id.example.com", "exp": now.Add(2*time.Hour + time.Second).Unix()}), "token lives longer than this server accepts (2h0m0s)"},
		{"old iat, long lifetime", def, claims(jwt.MapClaims{"iat": now.Add(-24 * time.Hour).Unix(), "exp": now.Add(time.Hour).Unix()}), "token lives longer than this server accepts (24h0m0s)"},
		{"default 24h ok", def, claims(jwt.MapClaims{"exp": now.Add(24 * time.Hour).Unix()}), ""},
		{"default a year", def, claims(jwt.MapClaims{"exp": now.Add(365 * 24 * time.Hour).Unix()}), "token lives longer than this server accepts (24h0m0s)"},
		{"no iat, exp within the limit", def, claims(jwt.MapClaims{"iat": nil, "exp": now.Add(23 * time.Hour).Unix()}), ""},
		{"no iat, exp beyond the limit", def, claims(jwt.MapClaims{"iat": nil, "exp": now.Add(25 * time.Hour).Unix()}), "token lives longer than this server accepts (24h0m0s)"},
		{"no limit", unlimited, claims(jwt.MapClaims{"exp": now.Add(365 * 24 * time.Hour).Unix()}), ""},
		{"iat in the future", def, claims(jwt.MapClaims{"iat": now.Add(time.Minute).Unix()}), "token issued in the future"},
		{"iat within leeway", def, claims(jwt.MapClaims{"iat": now.Add(2 * time.Second).Unix()}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := tt.v.Verify(token(t, hs, key, tt.c))
			if tt.msg == "" {
				if err != nil || id.User != "u1" {
					t.Fatalf("Verify = %+v, %v; want accepted", id, err)
				}
				return
			}
			wantUnauthorized(t, err, tt.msg)
		})
	}
	// Issue follows the rules: audience and issuer set, lifetime capped.
	tok, err := strict.Issue(Identity{User: "u1"}, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Verify(tok); err != nil {
		t.Fatalf("Verify(Issue) under rules: %v", err)
	}
	var c claimsProbe
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) != 2*time.Hour || c.Issuer != "https://id.example.com" || !slices.Equal([]string(c.Audience), []string{"shop"}) {
		t.Fatalf("issued claims %+v", c.RegisteredClaims)
	}
	dev := NewDevVerifier([]byte(secret), Rules{Audience: "shop"})
	tok, _ = dev.Issue(Identity{User: "u1"}, time.Hour)
	if _, err := dev.Verify(tok); err != nil {
		t.Fatalf("dev verifier with rules refused its own token: %v", err)
	}
}

type claimsProbe struct{ jwt.RegisteredClaims }
