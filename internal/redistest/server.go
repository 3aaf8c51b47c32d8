package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds how long a start or restart waits for PONG.
	readyTimeout = 10 * time.Second
	// stopTimeout bounds a graceful stop before SIGKILL.
	stopTimeout = 10 * time.Second
	// startAttempts is how many free ports Start tries when the one it
	// picked was taken before redis-server could bind it.
	startAttempts = 5
)

var errPortInUse = errors.New("port already in use")

// Option configures a Server.
type Option func(*options)

type options struct {
	appendOnly bool
	args       []string
	configFile string // first argument when set (a sentinel's, which Sentinel rewrites)
	tls        *Certs // WithTLS
}

func withConfigFile(path string) Option {
	return func(o *options) { o.configFile = path }
}

// WithAppendOnly enables the append-only file with appendfsync always, so
// every acknowledged write survives Kill and Restart.
func WithAppendOnly() Option {
	return func(o *options) { o.appendOnly = true }
}

// WithArgs passes extra command-line configuration to redis-server, for
// example WithArgs("--maxmemory", "10mb"). They come after the defaults and
// so override them.
func WithArgs(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// Server is a redis-server process owned by one test.
type Server struct {
	tb      testing.TB
	bin     string
	dir     string
	logPath string
	opts    options

	mu      sync.Mutex
	port    int
	tlsPort int      // WithTLS only; kept over restarts
	proc    *process // nil when not running
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts redis-server for tb and stops it in tb.Cleanup. If the
// redis-server binary is not on PATH the test is skipped, unless the
// environment variable LIVESERVER_REQUIRE_REDIS=1, in which case it fails.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		const msg = "redis-server not installed; apt-get install redis-server"
		if os.Getenv("LIVESERVER_REQUIRE_REDIS") == "1" {
			tb.Fatal(msg + " (LIVESERVER_REQUIRE_REDIS=1)")
		}
		tb.Skip(msg)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	s.logPath = filepath.Join(s.dir, "redis.log")
	for _, o := range opts {
		o(&s.opts)
	}
	// Registered after TempDir, so it runs before the directory is removed.
	tb.Cleanup(s.Stop)

	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err == nil && s.opts.tls != nil {
			s.tlsPort, err = freePort()
		}
		if err != nil {
			tb.Fatalf("redistest: no free port: %v", err)
		}
		err = s.startLocked(port)
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortInUse) || attempt == startAttempts {
			tb.Fatalf("redistest: %v", err)
		}
	}
}

// Addr returns the server's address, "127.0.0.1:port".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns the server's address as a URL for redis.ParseURL,
// "redis://127.0.0.1:port/0".
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Dir returns the server's data directory, which also holds redis.log.
func (s *Server) Dir() string { return s.dir }

// Kill sends SIGKILL to redis-server and waits for it to exit, as a crash
// would. It does nothing if the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Kill()
	<-s.proc.done
	s.proc = nil
}

// Restart starts redis-server again on the same port and data directory
// and waits until it answers PING. It is meant to follow Kill or Stop; if
// the server is still running it is stopped gracefully first. Without
// WithAppendOnly the data is gone; with it every acknowledged write is back.
// It fails the test if the server does not come back.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	// The port was ours a moment ago; someone else may grab it in between,
	// in which case wait a little for it to be released.
	deadline := time.Now().Add(readyTimeout)
	for {
		err := s.startLocked(s.port)
		if err == nil {
			return
		}
		if !errors.Is(err, errPortInUse) || time.Now().After(deadline) {
			s.tb.Fatalf("redistest: restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops redis-server gracefully (SIGTERM, then SIGKILL after 10s) and
// waits for it to exit. It may be called any number of times.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// startLocked starts redis-server on port and waits until it answers PING.
// On failure the process is gone and the error holds the log's tail.
func (s *Server) startLocked(port int) error {
	var logStart int64
	if fi, err := os.Stat(s.logPath); err == nil {
		logStart = fi.Size()
	}
	p, err := s.launch(port)
	if err != nil {
		return err
	}
	err = waitReady(p, port)
	if err == nil {
		s.port, s.proc = port, p
		return nil
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	tail := s.logTail(logStart)
	if strings.Contains(tail, "Address already in use") {
		err = fmt.Errorf("%w: %v", errPortInUse, err)
	}
	return fmt.Errorf("redis-server on port %d: %w\n--- %s (tail) ---\n%s", port, err, s.logPath, tail)
}

func (s *Server) args(port int) []string {
	var args []string
	if s.opts.configFile != "" {
		args = append(args, s.opts.configFile)
	}
	args = append(args,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--save", "",
		"--logfile", "", // stdout, which goes to s.logPath
	)
	if s.opts.appendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, s.opts.tlsArgs(s.tlsPort)...)
	return append(args, s.opts.args...)
}

func itoa(n int) string { return strconv.Itoa(n) }

// launch starts the process. The goroutine that starts it stays locked to
// its OS thread until the process exits, because Pdeathsig is tied to the
// thread that forked the child, not to the whole test binary.
func (s *Server) launch(port int) (*process, error) {
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(s.bin, s.args(port)...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()

	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", s.bin, err)
	}
	return p, nil
}

// waitReady polls with PING until PONG, the process exits, or readyTimeout.
func waitReady(p *process, port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("exited before answering PING (%s)", p.cmd.ProcessState)
		}
		if last = ping(addr); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v: %v", readyTimeout, last)
		}
		select {
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ping sends one RESP PING and expects +PONG (not -LOADING while an AOF
// is being replayed).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// logTail returns at most the last 4 KiB written to the log since offset.
func (s *Server) logTail(offset int64) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if offset > int64(len(b)) {
		offset = 0
	}
	b = b[offset:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// freePort asks the kernel for a free port on 127.0.0.1 and releases it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
