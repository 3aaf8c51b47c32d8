package redistest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/liveserver/liveserver/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartSetGet(t *testing.T) {
	t.Parallel()
	s := Start(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Fatalf("URL = %q, want %q", s.URL(), want)
	}
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := ctxT(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	// The server really is configured as documented.
	cfg, err := c.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1", "dir": s.Dir()} {
		if cfg[k] != want {
			t.Errorf("CONFIG %s = %q, want %q", k, cfg[k], want)
		}
	}
}

func TestServersAreIndependent(t *testing.T) {
	t.Parallel()
	a, b := Start(t), Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers on %s", a.Addr())
	}
	ctx := ctxT(t)
	if err := NewClient(t, a.Addr()).Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := NewClient(t, b.Addr()).Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET on the other server: %v, want redis.Nil", err)
	}
}

func TestKillRestartLosesDataWithoutAOF(t *testing.T) {
	t.Parallel()
	s := Start(t)
	addr := s.Addr()
	c := NewClient(t, addr)
	ctx := ctxT(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Kill")
	}
	s.Kill() // idempotent

	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, s.Addr())
	}
	testutil.EventuallyNil(t, "PING after Restart", func() error { return c.Ping(ctx).Err() })
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after restart without AOF: %v, want redis.Nil", err)
	}
}

func TestKillRestartKeepsDataWithAOF(t *testing.T) {
	t.Parallel()
	s := Start(t, WithAppendOnly())
	c := NewClient(t, s.Addr())
	ctx := ctxT(t)
	for i := range 100 {
		if err := c.IncrBy(ctx, "stock", 1).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := c.ConfigGet(ctx, "appendfsync").Result(); err != nil || v["appendfsync"] != "always" {
		t.Fatalf("appendfsync = %v, %v", v, err)
	}

	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Kill")
	}
	s.Restart()
	testutil.EventuallyNil(t, "PING after Restart", func() error { return c.Ping(ctx).Err() })
	if n, err := c.Get(ctx, "stock").Int(); err != nil || n != 100 {
		t.Fatalf("stock after restart = %d, %v; want 100", n, err)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 101 {
		t.Fatalf("DBSIZE after restart = %d, %v; want 101", n, err)
	}
}

func TestStopIsIdempotentAndReaps(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.mu.Lock()
	pid := s.proc.cmd.Process.Pid
	s.mu.Unlock()
	s.Stop()
	s.Stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("redis-server pid %d still exists after Stop: %v", pid, err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("server still accepting after Stop")
	}
	// Restart after a graceful stop works as well.
	s.Restart()
	testutil.EventuallyNil(t, "PING after Restart", func() error { return NewClient(t, s.Addr()).Ping(ctxT(t)).Err() })
}

func TestWithArgs(t *testing.T) {
	t.Parallel()
	s := Start(t, WithArgs("--databases", "3"))
	err := NewClient(t, s.Addr()).Do(ctxT(t), "SELECT", "5").Err()
	if err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("SELECT 5 with 3 databases: %v", err)
	}
}

// fakeTB records Skip and Fatal instead of acting on the real test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Skip(args ...any)          { f.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any)         { f.failed = fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeTB) Fatalf(s string, a ...any) { f.failed = fmt.Sprintf(s, a...); runtime.Goexit() }

func runFake(tb testing.TB) *fakeTB {
	f := &fakeTB{TB: tb}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f)
	}()
	<-done
	return f
}

func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())

	t.Setenv("LIVESERVER_REQUIRE_REDIS", "")
	f := runFake(t)
	if !strings.Contains(f.skipped, "redis-server not installed; apt-get install redis-server") || f.failed != "" {
		t.Fatalf("without LIVESERVER_REQUIRE_REDIS: skipped %q, failed %q", f.skipped, f.failed)
	}

	t.Setenv("LIVESERVER_REQUIRE_REDIS", "1")
	f = runFake(t)
	if !strings.Contains(f.failed, "redis-server not installed") || f.skipped != "" {
		t.Fatalf("with LIVESERVER_REQUIRE_REDIS=1: skipped %q, failed %q", f.skipped, f.failed)
	}
}

func TestProxyForwardsAndCutGivesEOF(t *testing.T) {
	t.Parallel()
	s := Start(t)
	p := NewProxy(t, s.Addr())
	c := NewClient(t, p.Addr())
	ctx := ctxT(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := NewClient(t, s.Addr()).Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET directly = %q, %v", got, err)
	}

	// A raw connection through the proxy sees EOF on Cut.
	raw, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := io.WriteString(raw, "PING\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(raw, buf); err != nil || string(buf) != "+PONG\r\n" {
		t.Fatalf("raw PING = %q, %v", buf, err)
	}
	p.Cut()
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(buf); err != io.EOF {
		t.Fatalf("read after Cut = %d, %v; want EOF", n, err)
	}

	// New connections are closed at once while cut.
	raw2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw2.Close()
	_ = raw2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw2.Read(buf); err == nil {
		t.Fatalf("new connection while cut read %d bytes", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("new connection while cut was not closed")
	}
}

func TestProxyCutBreaksGoRedisAndRestoreReconnects(t *testing.T) {
	t.Parallel()
	s := Start(t)
	p := NewProxy(t, s.Addr())
	ctx := ctxT(t)

	// A dedicated connection: the very one that is cut must fail.
	c := NewClient(t, p.Addr())
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if err := conn.Get(ctx, "k").Err(); err == nil {
		t.Fatal("GET on a cut connection succeeded")
	}
	// The pool cannot get a new connection either while cut.
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING through a cut proxy succeeded")
	}

	p.Restore()
	testutil.EventuallyNil(t, "GET after Restore", func() error {
		got, err := c.Get(ctx, "k").Result()
		if err == nil && got != "v" {
			return fmt.Errorf("GET = %q", got)
		}
		return err
	})

	// Cutting twice and closing early are harmless.
	p.Cut()
	p.Cut()
	p.Close()
	p.Restore()
}

func TestProxyToDeadTarget(t *testing.T) {
	t.Parallel()
	s := Start(t)
	p := NewProxy(t, s.Addr())
	c := NewClient(t, p.Addr())
	ctx := ctxT(t)
	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING through proxy to a killed server succeeded")
	}
	s.Restart()
	testutil.EventuallyNil(t, "PING after Restart", func() error { return c.Ping(ctx).Err() })
}
