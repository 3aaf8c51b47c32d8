package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/internal/redistest"
)

const testSecret = "cmd-test-secret-0123456789abcdef-xyz"

// node is the command run in-process by a test.
type node struct {
	addr string
	logs *syncWriter
	buf  *bytes.Buffer
	stop func() error
}

// logged returns the JSON log lines so far.
func (n *node) logged() []map[string]any {
	n.logs.mu.Lock()
	data := append([]byte(nil), n.buf.Bytes()...)
	n.logs.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (n *node) logText() string {
	n.logs.mu.Lock()
	defer n.logs.mu.Unlock()
	return n.buf.String()
}

// auxAddr is the address of the listener logged as msg ("pprof listening").
func (n *node) auxAddr(t *testing.T, msg string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, m := range n.logged() {
			if m["msg"] == msg {
				return m["addr"].(string)
			}
		}
	}
	t.Fatalf("no %q in the log:\n%s", msg, n.logText())
	return ""
}

// startRun runs the command with args and env (JSON logs, a short drain)
// until the test ends; it fails the test if the command does not start.
func startRun(t *testing.T, args []string, env map[string]string) *node {
	t.Helper()
	n, err := tryRun(t, args, env)
	if err != nil {
		t.Fatalf("run %q: %v\n%s", args, err, n.logText())
	}
	return n
}

// tryRun is startRun that returns the command's error when it refuses to
// start.
func tryRun(t *testing.T, args []string, env map[string]string) (*node, error) {
	t.Helper()
	e := map[string]string{"LIVESERVER_LOG_FORMAT": "json", "LIVESERVER_DRAIN_TIMEOUT": "200ms"}
	for k, v := range env {
		e[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	buf := &bytes.Buffer{}
	n := &node{buf: buf, logs: &syncWriter{w: buf}}
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return e[k] }, n.logs, func(a string) { addrc <- a })
	}()
	select {
	case n.addr = <-addrc:
	case err := <-done:
		cancel()
		return n, err
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("run %q neither started nor failed within 20s", args)
	}
	var once bool
	var result error
	n.stop = func() error {
		if !once {
			once = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("run %q did not stop within 10s", args)
			}
		}
		return result
	}
	t.Cleanup(func() { n.stop() })
	return n, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func buyWith(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/rooms/demo/purchases", strings.NewReader(`{"id":"b1","product":"p1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func noEnv(string) string { return "" }

// refused runs the command, which must refuse to start, and returns its
// error; if it starts, the test fails and the command is stopped.
func refused(t *testing.T, args []string, env map[string]string, stderr io.Writer) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := run(ctx, args, func(k string) string { return env[k] }, stderr, func(string) { cancel() })
	if ctx.Err() != nil {
		t.Errorf("%q started", args)
		return nil
	}
	if err == nil {
		t.Errorf("%q: no error", args)
	}
	return err
}

// Without a secret the default address is loopback, so `go run
// ./cmd/liveserver` still just works; with one it is every interface.
func TestDevModeDefaultAddrIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "127.0.0.1:8080"},
		{[]string{"-dev"}, nil, "127.0.0.1:8080"},
		{nil, map[string]string{"LIVESERVER_JWT_SECRET": testSecret}, ":8080"},
		{[]string{"-addr", "localhost:9000"}, nil, "localhost:9000"},
	} {
		o, err := parse(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err != nil || o.addr != tc.want {
			t.Errorf("%q %v: addr %q, %v; want %q", tc.args, tc.env, o.addr, err, tc.want)
		}
	}
}

// Development mode refuses a non-loopback address or -redis unless -dev
// says so, with a message that says what to do; -dev with a secret is a
// contradiction.
func TestDevModeRefusedUnlessAsked(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", ":0"},
		{"-addr", "0.0.0.0:0"},
		{"-addr", "[::]:0"},
		{"-addr", "192.168.1.5:0"},
		{"-addr", "shop.example.com:0"},
		{"-addr", "127.0.0.1:0", "-redis", "redis://127.0.0.1:1/0"},
	} {
		err := refused(t, args, nil, io.Discard)
		if err == nil {
			continue
		}
		for _, want := range []string{"development mode", "LIVESERVER_JWT_SECRET", "-jwt-secret-file", "openssl rand -base64 32", "-dev"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error %q does not say %q", args, err, want)
			}
		}
	}
	// Asked for: allowed (checked without listening on a public address).
	if o, err := parse([]string{"-dev", "-addr", "0.0.0.0:8080", "-redis", "redis://127.0.0.1:1/0"}, noEnv, io.Discard); err != nil || o.addr != "0.0.0.0:8080" {
		t.Fatalf("-dev on 0.0.0.0: %v", err)
	}
	if _, err := parse([]string{"-dev"}, func(k string) string {
		return map[string]string{"LIVESERVER_JWT_SECRET": testSecret}[k]
	}, io.Discard); err == nil || !strings.Contains(err.Error(), "-dev") {
		t.Fatalf("-dev with a secret: %v", err)
	}
}

// An explicit -dev node warns at start and then every minute.
func TestDevFlagWarnsRepeatedly(t *testing.T) {
	old := devWarnEvery
	devWarnEvery = 50 * time.Millisecond
	defer func() { devWarnEvery = old }()
	n := startRun(t, []string{"-dev", "-addr", "127.0.0.1:0"}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(n.logText(), `"msg":"DEVELOPMENT MODE`) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 development-mode warnings in 10s:\n%s", n.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
}

// A node records its mode in Redis: a development node refuses a Redis
// used by production nodes, and the other way round.
func TestDevAndProductionNodesNeverShareRedis(t *testing.T) {
	prodRedis := redistest.Start(t)
	startRun(t, []string{"-addr", "127.0.0.1:0", "-redis", prodRedis.URL()}, map[string]string{"LIVESERVER_JWT_SECRET": testSecret})
	_, err := tryRun(t, []string{"-dev", "-addr", "127.0.0.1:0", "-redis", prodRedis.URL()}, nil)
	if err == nil || !strings.Contains(err.Error(), "used by production nodes") {
		t.Fatalf("a development node on a production Redis: %v", err)
	}

	devRedis := redistest.Start(t)
	startRun(t, []string{"-dev", "-addr", "127.0.0.1:0", "-redis", devRedis.URL()}, nil)
	_, err = tryRun(t, []string{"-addr", "127.0.0.1:0", "-redis", devRedis.URL()}, map[string]string{"LIVESERVER_JWT_SECRET": testSecret})
	if err == nil || !strings.Contains(err.Error(), "used by development nodes") {
		t.Fatalf("a production node on a development Redis: %v", err)
	}
}

// /dev/token answers the loopback Host it listens on, JSON only.
func TestDevTokenOverTheCommand(t *testing.T) {
	n := startRun(t, []string{"-addr", "127.0.0.1:0"}, nil)
	post := func(host, ctype string) int {
		req, _ := http.NewRequest("POST", "http://"+n.addr+"/dev/token", strings.NewReader(`{"sub":"a","role":"admin"}`))
		if host != "" {
			req.Host = host
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("", "application/json"); st != 200 {
		t.Errorf("loopback JSON: %d", st)
	}
	if st := post("attacker.example:80", "application/json"); st != 403 {
		t.Errorf("rebound Host: %d, want 403", st)
	}
	if st := post("", "text/plain"); st != 415 {
		t.Errorf("text/plain: %d, want 415", st)
	}
}

// Secrets come from the environment or a file; one on the command line
// works but is warned about (it is readable in /proc); short ones are
// refused.
func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "jwt")
	if err := os.WriteFile(file, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Sign(testSecret, auth.Identity{User: "v"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		warn bool
	}{
		"file":         {[]string{"-jwt-secret-file", file}, nil, false},
		"file via env": {nil, map[string]string{"LIVESERVER_JWT_SECRET_FILE": file}, false},
		"env":          {nil, map[string]string{"LIVESERVER_JWT_SECRET": testSecret}, false},
		"command line": {[]string{"-jwt-secret", testSecret}, nil, true},
	} {
		t.Run(name, func(t *testing.T) {
			n := startRun(t, append([]string{"-addr", "127.0.0.1:0"}, tc.args...), tc.env)
			if st := buyWith(t, n.addr, tok); st != 200 {
				t.Fatalf("purchase with a token signed by the secret: %d\n%s", st, n.logText())
			}
			if warned := strings.Contains(n.logText(), "on the command line"); warned != tc.warn {
				t.Fatalf("command-line warning %v, want %v:\n%s", warned, tc.warn, n.logText())
			}
			if strings.Contains(n.logText(), testSecret) {
				t.Fatal("the secret is in the log")
			}
		})
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("hunter2"), 0o600)
	for _, args := range [][]string{{"-jwt-secret", "hunter2"}, {"-jwt-secret-file", short}} {
		err := refused(t, append([]string{"-addr", "127.0.0.1:0"}, args...), nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "at least 32") || !strings.Contains(err.Error(), "openssl rand") {
			t.Errorf("%q: %v", args, err)
		}
	}
	if _, err := parse([]string{"-jwt-secret-file", file}, func(k string) string {
		return map[string]string{"LIVESERVER_JWT_SECRET": testSecret}[k]
	}, io.Discard); err == nil {
		t.Error("a secret and a secret file at once were accepted")
	}
	if _, err := parse([]string{"-jwt-secret-file", filepath.Join(dir, "missing")}, noEnv, io.Discard); err == nil {
		t.Error("a missing secret file was accepted")
	}
}

// The Redis password may come from LIVESERVER_REDIS_PASSWORD or a file,
// so the URL on the command line holds none; one in the URL there is
// warned about.
func TestRedisPasswordSources(t *testing.T) {
	rds := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	const pw = "redis-pw-0123456789"
	if err := rdb.ConfigSet(context.Background(), "requirepass", pw).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Close()
	file := filepath.Join(t.TempDir(), "redis-pw")
	os.WriteFile(file, []byte(pw+"\n"), 0o600)
	env := map[string]string{"LIVESERVER_JWT_SECRET": testSecret}
	withPw := map[string]string{"LIVESERVER_JWT_SECRET": testSecret, "LIVESERVER_REDIS_PASSWORD": pw}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		warn bool
	}{
		"env":             {[]string{"-redis", rds.URL()}, withPw, false},
		"file":            {[]string{"-redis", rds.URL(), "-redis-password-file", file}, env, false},
		"URL in the env":  {nil, map[string]string{"LIVESERVER_JWT_SECRET": testSecret, "LIVESERVER_REDIS_URL": "redis://:" + pw + "@" + rds.Addr() + "/0"}, false},
		"URL on cmd line": {[]string{"-redis", "redis://:" + pw + "@" + rds.Addr() + "/0"}, env, true},
	} {
		t.Run(name, func(t *testing.T) {
			n := startRun(t, append([]string{"-addr", "127.0.0.1:0"}, tc.args...), tc.env)
			if st, body := get(t, "http://"+n.addr+"/readyz"); st != 200 {
				t.Fatalf("readyz %d %s", st, body)
			}
			if warned := strings.Contains(n.logText(), "holds a password"); warned != tc.warn {
				t.Fatalf("password warning %v, want %v:\n%s", warned, tc.warn, n.logText())
			}
			if strings.Contains(n.logText(), pw) {
				t.Fatalf("the password is in the log:\n%s", n.logText())
			}
			n.stop()
		})
	}
	if _, err := tryRun(t, []string{"-addr", "127.0.0.1:0", "-redis", rds.URL()}, env); err == nil {
		t.Fatal("a node without the Redis password started")
	}
}

// A malformed Redis URL's password is not in the start-up error.
func TestRedisURLRedactedAtStart(t *testing.T) {
	for _, u := range []string{"redis://user:s3cretpw@127.0.0.1:notaport/0", "redis://user:s3cretpw@127.0.0.1:1/notadb"} {
		var logs bytes.Buffer
		err := refused(t, []string{"-addr", "127.0.0.1:0", "-redis", u}, map[string]string{"LIVESERVER_JWT_SECRET": testSecret}, &syncWriter{w: &logs})
		if err == nil || strings.Contains(err.Error(), "s3cretpw") || strings.Contains(logs.String(), "s3cretpw") {
			t.Fatalf("%s: error %v, log %s", u, err, logs.String())
		}
	}
}

// pprof stays on loopback unless forced, and never serves the command
// line (which may hold secrets).
func TestDebugAddr(t *testing.T) {
	n := startRun(t, []string{"-addr", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0"}, nil)
	dbg := n.auxAddr(t, "pprof listening")
	if st, _ := get(t, "http://"+dbg+"/debug/pprof/"); st != 200 {
		t.Fatalf("/debug/pprof/: %d", st)
	}
	if st, body := get(t, "http://"+dbg+"/debug/pprof/cmdline"); st != 404 {
		t.Fatalf("/debug/pprof/cmdline: %d %.100s", st, body)
	}
	if st, _ := get(t, "http://"+dbg+"/debug/pprof/heap"); st != 200 {
		t.Fatalf("/debug/pprof/heap: %d", st)
	}
	for _, a := range []string{":6060", "0.0.0.0:6060", "10.1.2.3:6060"} {
		if _, err := parse([]string{"-debug-addr", a}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "-debug-addr-public") {
			t.Errorf("-debug-addr %s: %v", a, err)
		}
		if _, err := parse([]string{"-debug-addr", a, "-debug-addr-public"}, noEnv, io.Discard); err != nil {
			t.Errorf("-debug-addr %s -debug-addr-public: %v", a, err)
		}
	}
}

// -metrics-addr moves /metrics off the public listener.
func TestMetricsAddr(t *testing.T) {
	n := startRun(t, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, nil)
	if st, body := get(t, "http://"+n.addr+"/metrics"); st != 404 || !strings.Contains(body, "not_found") {
		t.Fatalf("public /metrics: %d %.100s", st, body)
	}
	m := n.auxAddr(t, "metrics listening")
	if st, body := get(t, "http://"+m+"/metrics"); st != 200 || !strings.Contains(body, "liveserver_connections") {
		t.Fatalf("/metrics on -metrics-addr: %d %.100s", st, body)
	}
	// Without it, /metrics stays on the public listener.
	p := startRun(t, []string{"-addr", "127.0.0.1:0"}, nil)
	if st, _ := get(t, "http://"+p.addr+"/metrics"); st != 200 {
		t.Fatalf("public /metrics without -metrics-addr: %d", st)
	}
}

// -jwt-audience, -jwt-issuer and -jwt-max-lifetime reach the verifier.
func TestJWTFlags(t *testing.T) {
	n := startRun(t, []string{"-addr", "127.0.0.1:0", "-jwt-audience", "shop", "-jwt-issuer", "idp", "-jwt-max-lifetime", "1h"},
		map[string]string{"LIVESERVER_JWT_SECRET": testSecret})
	mint := func(aud, iss string, life time.Duration) string {
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "v", "aud": aud, "iss": iss, "iat": now.Unix(), "exp": now.Add(life).Unix()}).SignedString([]byte(testSecret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if st := buyWith(t, n.addr, mint("shop", "idp", time.Hour)); st != 200 {
		t.Fatalf("good token: %d", st)
	}
	for name, tok := range map[string]string{
		"audience": mint("other", "idp", time.Hour),
		"issuer":   mint("shop", "other", time.Hour),
		"lifetime": mint("shop", "idp", 2*time.Hour),
	} {
		if st := buyWith(t, n.addr, tok); st != 401 {
			t.Errorf("wrong %s: %d, want 401", name, st)
		}
	}
	if _, err := parse([]string{"-jwt-max-lifetime", "0s"}, noEnv, io.Discard); err == nil {
		t.Error("-jwt-max-lifetime 0s accepted")
	}
}
