package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The whole command starts on 127.0.0.1:0, serves, and stops cleanly when
// its context ends (as on SIGTERM).
func TestRunServesAndDrains(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	env := map[string]string{"LIVESERVER_LOG_FORMAT": "json", "LIVESERVER_DRAIN_TIMEOUT": "1s"}
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &syncWriter{w: &logs}, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/api/rooms/demo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"room":"demo"`) {
		t.Fatalf("seeded demo room: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"WARN","msg":"DEVELOPMENT MODE`) || !strings.Contains(out, `"msg":"stopped"`) {
		t.Fatalf("JSON logs from the environment's -log-format missing the dev-mode warning or the stop: %s", out)
	}
}

func TestParseFlagsAndEnv(t *testing.T) {
	env := map[string]string{"LIVESERVER_MAX_CONNS": "123", "LIVESERVER_REDIS_URL": "redis://x:1/0", "LIVESERVER_MSG_RATE": "7", "LIVESERVER_JWT_SECRET": testSecret}
	o, err := parse([]string{"-msg-rate", "9", "-allowed-origins", "a.com"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.maxConns != 123 || o.redis != "redis://x:1/0" || o.msgRate != 9 || o.allowedOrigins != "a.com" || o.addr != ":8080" {
		t.Fatalf("options %+v", o)
	}
	if _, err := parse(nil, func(k string) string {
		if k == "LIVESERVER_MAX_CONNS" {
			return "lots"
		}
		return ""
	}, io.Discard); err == nil || !strings.Contains(err.Error(), "LIVESERVER_MAX_CONNS") {
		t.Fatalf("bad env value: %v", err)
	}
	var help bytes.Buffer
	if _, err := parse([]string{"-h"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, name := range []string{"-addr", "-jwt-secret", "-allowed-origins", "-redis", "-max-conns", "-max-rooms-per-conn", "-msg-rate", "-msg-burst", "-max-frame", "-drain-timeout", "-volatile-interval", "-log-format", "LIVESERVER_",
		"-dev", "-jwt-secret-file", "-jwt-audience", "-jwt-issuer", "-jwt-max-lifetime", "-redis-password-file", "LIVESERVER_REDIS_PASSWORD", "-debug-addr-public", "-metrics-addr",
		"-max-tcp-conns", "-max-conns-per-ip", "-max-conns-per-user", "-max-unauthenticated", "-trusted-proxies", "-http-rate-per-ip", "-http-rate-per-user"} {
		if !strings.Contains(help.String(), name) {
			t.Errorf("-h does not document %s", name)
		}
	}
	if err := run(context.Background(), []string{"-log-format", "xml"}, func(string) string { return "" }, io.Discard, nil); err == nil {
		t.Fatal("-log-format xml accepted")
	}
	for _, v := range []string{"0s", "-1ms", "11s"} {
		if _, err := parse([]string{"-volatile-interval", v}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "-volatile-interval") {
			t.Errorf("-volatile-interval %s: %v", v, err)
		}
	}
	if o, err := parse(nil, func(k string) string {
		if k == "LIVESERVER_VOLATILE_INTERVAL" {
			return "200ms"
		}
		return ""
	}, io.Discard); err != nil || o.volatileInterval != 200*time.Millisecond {
		t.Errorf("LIVESERVER_VOLATILE_INTERVAL=200ms: %v, %v", o.volatileInterval, err)
	}
}

// syncWriter lets the server's goroutines log while the test runs.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// The command's listener holds at most -max-tcp-conns connections: idle
// keep-alives beyond it are closed to make room (so a client never waits
// on a full listener); caps the open-file limit cannot hold, or -max-conns
// above -max-tcp-conns, refuse to start.
func TestRunConnectionCaps(t *testing.T) {
	none := func(string) string { return "" }
	for _, args := range [][]string{
		{"-addr", "127.0.0.1:0", "-max-tcp-conns", "8", "-max-conns", "9"},
		{"-addr", "127.0.0.1:0", "-max-tcp-conns", "100000000"},
		{"-addr", "127.0.0.1:0", "-trusted-proxies", "10.0.0.0/99"},
		{"-addr", "127.0.0.1:0", "-max-conns-per-ip", "-1"},
	} {
		if err := run(context.Background(), args, none, io.Discard, nil); err == nil {
			t.Errorf("%q: started", args)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-max-tcp-conns", "3", "-max-conns", "2", "-log-level", "error"}, none, io.Discard, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}
	// Three clients each with their own keep-alive connection, then more:
	// every request is answered, none waits for a place.
	for i := range 6 {
		c := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("client %d: %d", i, resp.StatusCode)
		}
		defer c.CloseIdleConnections()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
