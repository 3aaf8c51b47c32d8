package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// rawCall is an HTTP call with a chosen Host and Content-Type; it returns
// the status and the decoded JSON body.
func rawCall(t *testing.T, method, url, host, contentType, body string) (int, msg) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if host != "" {
		req.Host = host
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out msg
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not JSON: %v", method, url, resp.StatusCode, data, err)
	}
	return resp.StatusCode, out
}

// POST /dev/token answers only a loopback Host (a DNS-rebinding page sends
// its own name) and only JSON bodies (a cross-site form cannot send one).
func TestDevTokenOnlyLocalJSON(t *testing.T) {
	n := startNode(t, server.Config{})
	port := n.url[strings.LastIndex(n.url, ":")+1:]
	body := `{"sub":"maya","role":"admin"}`
	for _, tc := range []struct {
		name, host, ctype string
		status            int
		code              string
	}{
		{"127.0.0.1", "", "application/json", 200, ""},
		{"localhost", "localhost:" + port, "application/json", 200, ""},
		{"LOCALHOST.", "LOCALHOST.:" + port, "application/json", 200, ""},
		{"::1", "[::1]:" + port, "application/json", 200, ""},
		{"charset", "", "application/json; charset=utf-8", 200, ""},
		{"rebound name", "evil.example.com:" + port, "application/json", 403, "forbidden"},
		{"rebound name, no port", "evil.example.com", "application/json", 403, "forbidden"},
		{"LAN address", "192.168.1.5:" + port, "application/json", 403, "forbidden"},
		{"localhost lookalike", "localhost.evil.example.com", "application/json", 403, "forbidden"},
		{"form", "", "application/x-www-form-urlencoded", 415, "bad_request"},
		{"text/plain", "", "text/plain", 415, "bad_request"},
		{"no content type", "", "", 415, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := rawCall(t, "POST", n.url+"/dev/token", tc.host, tc.ctype, body)
			if st != tc.status {
				t.Fatalf("status %d %v, want %d", st, out, tc.status)
			}
			if tc.status == 200 {
				if tok, _ := out["token"].(string); tok == "" {
					t.Fatalf("no token: %v", out)
				}
				return
			}
			if errCode(out) != tc.code {
				t.Fatalf("error %v, want code %s", out, tc.code)
			}
		})
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:8080": true, "127.0.0.1:8080": true, "127.9.9.9": true, "[::1]:80": true, "::1": true,
		"": false, ":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.1:80": false, "example.com": false,
		"localhost.example.com:80": false, "127.0.0.1.nip.io": false,
	} {
		if got := server.LoopbackHost(host); got != want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// Production mode (a secret) never admits an anonymous user: not over
// HTTP, not on a WebSocket without a token, and there is no /dev/token.
// (In development mode an anonymous viewer is a new user per connection,
// so it could get around a sale's per-user limit; that mode is for a
// developer's own machine.)
func TestProductionNeverAdmitsAnonymous(t *testing.T) {
	const secret = "production-secret-0123456789abcdef"
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: secret, AuthTimeout: 2 * time.Second})
	if n.srv.DevMode() {
		t.Fatal("a node with a secret is in development mode")
	}
	if st := n.do(t, "POST", "/api/rooms/demo/purchases", "", msg{"id": "1", "product": "p1"}, nil); st != 401 {
		t.Fatalf("HTTP purchase without a token: %d, want 401", st)
	}
	if st := n.do(t, "POST", "/dev/token", "", msg{"sub": "x", "role": "admin"}, nil); st != 404 {
		t.Fatalf("/dev/token in production: %d, want 404", st)
	}
	c := dial(t, n.wsURL(), "")
	if r := c.request(msg{"type": "buy", "room": "demo", "product": "p1"}); errCode(r) != "unauthorized" {
		t.Fatalf("buy on an unauthenticated connection: %v", r)
	}
	if r := c.request(msg{"type": "join", "room": "demo"}); errCode(r) != "unauthorized" {
		t.Fatalf("join on an unauthenticated connection: %v", r)
	}
}

// A secret under 32 bytes is refused at start, saying how to make one.
func TestShortSecretRefused(t *testing.T) {
	for _, s := range []string{"a", "s3cret", strings.Repeat("x", 31)} {
		srv, err := server.New(server.Config{JWTSecret: s})
		if err == nil {
			srv.Close()
			t.Fatalf("a %d-byte secret was accepted", len(s))
		}
		if !strings.Contains(err.Error(), "at least 32") || !strings.Contains(err.Error(), "openssl rand") {
			t.Fatalf("%d-byte secret: %v", len(s), err)
		}
	}
}

// The JWT audience, issuer and lifetime rules reach the node's verifier.
func TestNodeJWTRules(t *testing.T) {
	const secret = "rules-secret-0123456789abcdef-0123"
	n := startNode(t, server.Config{SeedDemo: true, JWTSecret: secret, JWTAudience: "shop", JWTIssuer: "https://id.example.com", JWTMaxLifetime: time.Hour})
	mint := func(c jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	good := jwt.MapClaims{"sub": "u", "aud": "shop", "iss": "https://id.example.com", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	// with is good with claim k set to v, or removed for nil.
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		if v == nil {
			delete(c, k)
		}
		return c
	}
	buy := func(tok string) (int, msg) {
		var out msg
		st := n.do(t, "POST", "/api/rooms/demo/purchases", tok, msg{"id": "b1", "product": "p1"}, &out)
		return st, out
	}
	if st, out := buy(mint(good)); st != 200 {
		t.Fatalf("good token: %d %v", st, out)
	}
	for name, c := range map[string]jwt.MapClaims{
		"wrong audience":    with("aud", "other"),
		"wrong issuer":      with("iss", "https://evil.example.com"),
		"too long a life":   with("exp", now.Add(2*time.Hour).Unix()),
		"issued in future":  with("iat", now.Add(time.Hour).Unix()),
		"no iat, long life": with("iat", nil),
	} {
		if name == "no iat, long life" {
			c["exp"] = now.Add(3 * time.Hour).Unix()
		}
		if st, out := buy(mint(c)); st != 401 || errCode(out) != "unauthorized" {
			t.Errorf("%s: %d %v, want 401 unauthorized", name, st, out)
		}
	}
}

// logBuffer is a concurrency-safe log destination for one node.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// A public /readyz says a dependency is down, not which one or where; the
// node's log has the detail.
func TestReadyzHidesRedisError(t *testing.T) {
	rds := redistest.Start(t)
	var logs logBuffer
	n := startNode(t, server.Config{RedisURL: rds.URL(), JWTSecret: clusterSecret, Logger: logs.logger()})
	if st, out := rawCall(t, "GET", n.url+"/readyz", "", "", ""); st != 200 {
		t.Fatalf("readyz with Redis up: %d %v", st, out)
	}
	rds.Stop()
	st, out := rawCall(t, "GET", n.url+"/readyz", "", "", "")
	if st != 503 || out["status"] != "unavailable" {
		t.Fatalf("readyz with Redis down: %d %v", st, out)
	}
	b, _ := json.Marshal(out)
	_, port, _ := strings.Cut(rds.Addr(), ":")
	if strings.Contains(string(b), port) || strings.Contains(string(b), "dial") || strings.Contains(string(b), "127.0.0.1") {
		t.Fatalf("readyz tells the world about Redis: %s", b)
	}
	testutil.Eventually(t, "the readiness failure in the log", func() bool {
		return strings.Contains(logs.String(), "readiness check") && strings.Contains(logs.String(), port)
	})
}

// go-redis's own log lines (a failed dial for nearly every request while
// Redis is down) go through the rate-limited failure log: into the node's
// logger, at most about a line a second.
func TestRedisClientLogRateLimited(t *testing.T) {
	rds := redistest.Start(t)
	var logs logBuffer
	n := startNode(t, server.Config{RedisURL: rds.URL(), JWTSecret: clusterSecret, Logger: logs.logger(), RequestTimeout: 500 * time.Millisecond})
	n.putRoom(t, clusterToken(t, "c", "creator", "r1"), "r1", 10)
	buyer := clusterToken(t, "b", "viewer")
	rds.Kill()
	start := time.Now()
	failed := 0
	for i := range 20 {
		var out msg
		st := n.do(t, "POST", "/api/rooms/r1/purchases", buyer, msg{"id": "b" + string(rune('a'+i)), "product": "p1"}, &out)
		if st == 503 {
			failed++
		}
	}
	elapsed := time.Since(start)
	if failed != 20 {
		t.Fatalf("%d of 20 purchases failed with 503 while Redis was down", failed)
	}
	lines := strings.Count(logs.String(), `msg="redis client"`)
	if lines == 0 {
		t.Fatalf("no go-redis line reached the node's logger:\n%s", logs.String())
	}
	if max := int(elapsed/time.Second) + 2; lines > max {
		t.Fatalf("%d go-redis lines in %v (at most %d expected):\n%s", lines, elapsed, max, logs.String())
	}
	t.Logf("20 failed purchases in %v: %d go-redis log lines", elapsed, lines)
}

// A malformed Redis URL's password never reaches the error or the log.
func TestRedisURLPasswordRedacted(t *testing.T) {
	for _, u := range []string{
		"redis://user:s3cretpw@127.0.0.1:notaport/0",
		"redis://:s3cretpw@127.0.0.1:6379/notadb",
		"redis://user:s3cretpw@[::1/0",
		"user:s3cretpw@127.0.0.1:6379",
		"redis://user:s3c%2Fretpw@127.0.0.1:x/0",
		"redis://user:s3cretpw@127.0.0.1:6379/0?dial_timeout=forever",
	} {
		var logs logBuffer
		srv, err := server.New(server.Config{RedisURL: u, JWTSecret: clusterSecret, Logger: logs.logger()})
		if err == nil {
			srv.Close()
			t.Fatalf("%s accepted", u)
		}
		for _, leak := range []string{"s3cretpw", "s3c%2Fretpw", "s3c/retpw"} {
			if strings.Contains(err.Error(), leak) || strings.Contains(logs.String(), leak) {
				t.Errorf("%s: the password is in the error %q or the log %q", u, err, logs.String())
			}
		}
		if !strings.Contains(err.Error(), "redis URL") {
			t.Errorf("%s: error %q does not say the Redis URL is wrong", u, err)
		}
	}
	if got := server.RedactURL("redis://u:pw@h:1/0"); got != "redis://u:xxxxx@h:1/0" {
		t.Errorf("RedactURL = %q", got)
	}
}

// The Redis password may come apart from the URL (the command line, which
// any local user can read in /proc, then holds no password).
func TestRedisPasswordApartFromURL(t *testing.T) {
	rds := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	if err := rdb.ConfigSet(context.Background(), "requirepass", "pw-0123456789").Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Close()
	if srv, err := server.New(server.Config{RedisURL: rds.URL(), JWTSecret: clusterSecret}); err == nil {
		srv.Close()
		t.Fatal("a node without the password joined a Redis that requires one")
	}
	n := startNode(t, server.Config{RedisURL: rds.URL(), RedisPassword: "pw-0123456789", JWTSecret: clusterSecret})
	if st, out := rawCall(t, "GET", n.url+"/readyz", "", "", ""); st != 200 {
		t.Fatalf("readyz: %d %v", st, out)
	}
}

// A development node refuses to join a Redis used by production nodes,
// and the other way round, with an error that says what to do.
func TestModeMarkerSeparatesDevelopmentAndProduction(t *testing.T) {
	prod := redistest.Start(t)
	startNode(t, server.Config{RedisURL: prod.URL(), JWTSecret: clusterSecret})
	srv, err := server.New(server.Config{RedisURL: prod.URL()})
	if err == nil {
		srv.Close()
		t.Fatal("a development node joined a production Redis")
	}
	if !strings.Contains(err.Error(), "used by production nodes") || !strings.Contains(err.Error(), "LIVESERVER_JWT_SECRET") {
		t.Fatalf("development node on a production Redis: %v", err)
	}

	dev := redistest.Start(t)
	startNode(t, server.Config{RedisURL: dev.URL()})
	srv, err = server.New(server.Config{RedisURL: dev.URL(), JWTSecret: clusterSecret})
	if err == nil {
		srv.Close()
		t.Fatal("a production node joined a development Redis")
	}
	if !strings.Contains(err.Error(), "used by development nodes") {
		t.Fatalf("production node on a development Redis: %v", err)
	}
	// Nodes of the same mode still join.
	startNode(t, server.Config{RedisURL: prod.URL(), JWTSecret: clusterSecret})
	startNode(t, server.Config{RedisURL: dev.URL()})
}

// With PrivateMetrics, /metrics is not on the public handler.
func TestPrivateMetrics(t *testing.T) {
	n := startNode(t, server.Config{PrivateMetrics: true})
	if st, out := rawCall(t, "GET", n.url+"/metrics", "", "", ""); st != 404 {
		t.Fatalf("public /metrics with PrivateMetrics: %d %v", st, out)
	}
	rec := httptest.NewRecorder()
	n.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "liveserver_connections") {
		t.Fatalf("MetricsHandler: %d %.200s", rec.Code, rec.Body.String())
	}
}
