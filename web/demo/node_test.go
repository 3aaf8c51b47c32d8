package demo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The JavaScript client's tests run under `node --test` (testdata/*.test.mjs):
// unit tests with a fake WebSocket (liveclient.test.mjs), the declarations
// against the module's exports (declarations.test.mjs), and the client
// against a real liveserver binary (server.test.mjs: join, resume with
// since, backoff after a node restart on Redis, stock by highest v, an
// idempotent buy retry). `npm test` in this folder runs the same files.
// Without Node.js the tests skip, unless LIVESERVER_REQUIRE_NODE=1 (CI).

// nodeJS returns the node binary, or skips the test.
func nodeJS(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("LIVESERVER_REQUIRE_NODE") == "1" {
			t.Fatal("Node.js is not installed and LIVESERVER_REQUIRE_NODE=1")
		}
		t.Skip("Node.js is not installed: skipping the tests of liveclient.js (the browser tests still cover it)")
	}
	return node
}

// goTool is the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command to build the node with: %v", err)
	}
	return p
}

// TestLiveClientJS builds cmd/liveserver and runs every testdata/*.test.mjs
// with `node --test`.
func TestLiveClientJS(t *testing.T) {
	node := nodeJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "liveserver")
	build := exec.CommandContext(ctx, goTool(t), "build", "-o", bin, "github.com/liveserver/liveserver/cmd/liveserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/liveserver: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.test.mjs: %v", err)
	}
	args := []string{"--test", "--test-reporter=spec"}
	// Node.js 20 has a WebSocket only behind a flag; 22 and later have it.
	if exec.CommandContext(ctx, node, "-e", "typeof WebSocket === 'function' || process.exit(1)").Run() != nil {
		args = append([]string{"--experimental-websocket"}, args...)
	}
	cmd := exec.CommandContext(ctx, node, append(args, files...)...)
	cmd.Env = append(os.Environ(), "LIVESERVER_BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", strings.Join(files, " "), err, out)
	}
	// The Redis test skips without redis-server, unless
	// LIVESERVER_REQUIRE_REDIS=1 (passed on in the environment) makes that
	// a failure.
	t.Logf("node --test:\n%s", out)
}

// TestLiveClientTypes type-checks example/app.ts against liveclient.d.ts
// with the TypeScript of package-lock.json (`npm ci` in this folder
// installs it; CI does). Skipped when it is not installed, unless
// LIVESERVER_REQUIRE_NODE=1.
func TestLiveClientTypes(t *testing.T) {
	node := nodeJS(t)
	tsc := filepath.Join("node_modules", "typescript", "bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		if os.Getenv("LIVESERVER_REQUIRE_NODE") == "1" {
			t.Fatalf("TypeScript is not installed in web/demo (run npm ci there): %v", err)
		}
		t.Skip("TypeScript is not installed in web/demo: run `npm ci` there")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, tsc, "--noEmit", "-p", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("tsc --noEmit -p web/demo: %v\n%s", err, out)
	}
}
