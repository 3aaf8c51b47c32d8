package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/internal/redistest"
)

// The real binary, built here, runs three times on one redis-server through
// scripts/cluster.sh, and is driven from outside over HTTP and WebSocket: a
// pin on one node reaches viewers of the others, a purchase on one node is
// the remaining stock on all.
func TestClusterScriptRunsThreeNodes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (scripts/cluster.sh polls /readyz with it)")
	}
	rds := redistest.Start(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "liveserver")
	build := exec.Command(goTool(), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ports := clusterFreePorts(t, 3)
	const secret = "cluster-script-test-0123456789abcdef"
	cmd := exec.Command("bash", "../../scripts/cluster.sh", rds.URL())
	cmd.Env = append(os.Environ(),
		"LIVESERVER_BIN="+bin,
		"CLUSTER_PORTS="+strings.Join(ports, " "),
		"CLUSTER_LOG_DIR="+dir,
		"LIVESERVER_JWT_SECRET="+secret,
		"LIVESERVER_DRAIN_TIMEOUT=1s",
	)
	// Its own process group, so cleanup can stop the script and its nodes
	// whatever state the test ends in.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for range lines {
		}
		<-exited
	})
	var out []string
	ready := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("cluster.sh ended before the cluster was ready:\n%s\n%s", strings.Join(out, "\n"), clusterLogs(dir, ports))
			}
			out = append(out, l)
			done = strings.HasPrefix(l, "cluster ready")
		case <-ready:
			t.Fatalf("cluster not ready within 60s:\n%s", strings.Join(out, "\n"))
		}
	}

	urls := make([]string, 3)
	for i, p := range ports {
		urls[i] = "http://127.0.0.1:" + p
	}
	creator := clusterSign(t, secret, "creator", auth.RoleCreator, "r1")
	clusterHTTP(t, "PUT", urls[0]+"/api/rooms/r1", creator, map[string]any{"title": "Cluster", "products": []map[string]any{
		{"id": "p1", "name": "One", "price": 100, "currency": "USD", "stock": 10},
		{"id": "p2", "name": "Two", "price": 200, "currency": "USD", "stock": 10},
	}}, 201)
	var viewers []*clusterViewer
	for i := 1; i < 3; i++ {
		viewers = append(viewers, clusterJoin(t, urls[i], clusterSign(t, secret, fmt.Sprintf("v%d", i), auth.RoleViewer), "r1"))
	}

	clusterHTTP(t, "POST", urls[0]+"/api/rooms/r1/pin", creator, map[string]any{"product": "p2"}, 200)
	for i, v := range viewers {
		m := v.waitFor(t, func(m map[string]any) bool { return m["type"] == "pinned" })
		if m["seq"] != 1.0 || m["product"].(map[string]any)["id"] != "p2" {
			t.Fatalf("viewer on node %d: %v, want pinned p2 at seq 1", i+2, m)
		}
	}

	buyer := clusterSign(t, secret, "buyer", auth.RoleViewer)
	rec := clusterHTTP(t, "POST", urls[1]+"/api/rooms/r1/purchases", buyer, map[string]any{"id": "1", "product": "p1", "qty": 3}, 200)
	if rec["remaining"] != 7.0 {
		t.Fatalf("purchase on node 2: %v, want remaining 7", rec)
	}
	for _, u := range []string{urls[0], urls[2]} {
		snap := clusterHTTP(t, "GET", u+"/api/rooms/r1", "", nil, 200)
		if p := snap["products"].([]any)[0].(map[string]any); p["remaining"] != 7.0 {
			t.Fatalf("%s: p1 %v, want remaining 7", u, p)
		}
	}
	m := viewers[1].waitFor(t, func(m map[string]any) bool { return m["type"] == "stock" })
	if m["product"] != "p1" || m["remaining"] != 7.0 {
		t.Fatalf("viewer on node 3: %v, want stock p1 remaining 7", m)
	}

	// SIGTERM drains and stops every node; the script exits 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	select {
	case err := <-exited:
		exited <- err // for cleanup
		if err != nil {
			t.Fatalf("cluster.sh after SIGTERM: %v\n%s", err, clusterLogs(dir, ports))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cluster.sh did not stop within 20s of SIGTERM")
	}
	for _, p := range ports {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second); err == nil {
			c.Close()
			t.Fatalf("a node still listens on %s", p)
		}
	}
	if logs := clusterLogs(dir, ports); !strings.Contains(logs, "mode=\"cluster (Redis)\"") || strings.Count(logs, "msg=stopped") != 3 {
		t.Fatalf("node logs do not show three cluster nodes that stopped:\n%s", logs)
	}
}

// goTool is the go command that runs this test (go test puts its GOROOT's
// bin first on PATH), else the one in the standard install location.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// clusterFreePorts returns n ports that were free a moment ago.
func clusterFreePorts(t *testing.T, n int) []string {
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	return ports
}

func clusterLogs(dir string, ports []string) string {
	var b strings.Builder
	for _, p := range ports {
		data, _ := os.ReadFile(filepath.Join(dir, "node"+p+".log"))
		fmt.Fprintf(&b, "--- node %s ---\n%s", p, data)
	}
	return b.String()
}

func clusterSign(t *testing.T, secret, sub, role string, rooms ...string) string {
	t.Helper()
	tok, err := auth.Sign(secret, auth.Identity{User: sub, Role: role, Rooms: rooms}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// clusterHTTP makes a call and checks its status; it returns the JSON body.
func clusterHTTP(t *testing.T, method, url, token string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil || resp.StatusCode != want {
		t.Fatalf("%s %s: status %d (want %d), body %s", method, url, resp.StatusCode, want, data)
	}
	return out
}

// clusterViewer is a WebSocket client that has joined a room.
type clusterViewer struct {
	ws   *websocket.Conn
	msgs chan map[string]any
}

func clusterJoin(t *testing.T, url, token, room string) *clusterViewer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	v := &clusterViewer{ws: ws, msgs: make(chan map[string]any, 1000)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(v.msgs)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			for _, line := range bytes.Split(data, []byte("\n")) {
				var m map[string]any
				if json.Unmarshal(line, &m) == nil {
					v.msgs <- m
				}
			}
		}
	}()
	t.Cleanup(func() {
		ws.CloseNow()
		<-readDone
	})
	b, _ := json.Marshal(map[string]any{"type": "join", "room": room, "id": "j"})
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	if m := v.waitFor(t, func(m map[string]any) bool { return m["type"] == "snapshot" }); m["room"] != room {
		t.Fatalf("snapshot %v", m)
	}
	return v
}

func (v *clusterViewer) waitFor(t *testing.T, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-v.msgs:
			if !ok {
				t.Fatal("connection ended")
			}
			if pred(m) {
				return m
			}
		case <-deadline:
			t.Fatal("no such message within 10s")
		}
	}
}
