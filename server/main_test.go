package server_test

import (
	"runtime"
	"testing"

	"go.uber.org/goleak"

	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// Every goroutine a test starts must end with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), testutil.IgnoreRedisRedial)
}

// Goroutines return to their baseline once clients leave.
func TestGoroutinesReturnToBaseline(t *testing.T) {
	n := startNode(t, server.Config{SeedDemo: true})
	dial(t, n.wsURL(), "").join("demo") // warm up lazily started goroutines
	base := runtime.NumGoroutine()
	var clients []*client
	for range 50 {
		c := dial(t, n.wsURL(), "")
		c.join("demo")
		clients = append(clients, c)
	}
	if g := runtime.NumGoroutine(); g < base+50 {
		t.Fatalf("%d goroutines with 50 more clients, baseline %d: the test measures nothing", g, base)
	}
	for _, c := range clients {
		c.ws.CloseNow()
		<-c.done
	}
	testutil.Eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base })
	if n.srv.Conns() != 1 {
		t.Fatalf("%d connections registered, want 1", n.srv.Conns())
	}
}
