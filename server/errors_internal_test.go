package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/protocol"
)

// failuresLogged is the number of failures the log accounts for: its
// "request failed" lines, plus those each line says it left out.
func failuresLogged(t *testing.T, out string) int {
	t.Helper()
	total := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `msg="request failed"`) {
			continue
		}
		total++
		if _, after, ok := strings.Cut(line, "also_failed_since_last_line="); ok {
			n, err := strconv.Atoi(strings.Fields(after)[0])
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	return total
}

// With Redis unreachable, a purchase (over HTTP and over WebSocket) is
// answered unavailable, without retry_after_ms, and its failure is logged
// exactly once: classifying it (for the metric, for the answer) has no
// side effect; only the edge that answers logs.
func TestFailedPurchaseLoggedOnce(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	var mu sync.Mutex
	var buf bytes.Buffer
	s, err := New(Config{
		RedisURL: "redis://" + proxy.Addr() + "/0", RedisKeyPrefix: "logonce:", MsgRate: -1,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.store.PutRoom(ctx, "r1", DemoRoom); err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	proxy.Cut()

	// countedSince logs a marker failure as if the log's second were over,
	// and returns the failures accounted for besides it since the last call.
	seen := 0
	countedSince := func() int {
		s.failLog.next.Store(0)
		s.failLog.failedAs("marker", errors.New("marker"))
		mu.Lock()
		total := failuresLogged(t, buf.String())
		mu.Unlock()
		n := total - seen - 1
		seen = total
		return n
	}
	countedSince()

	s.failLog.next.Store(0) // the purchase's failure gets a line of its own
	resp, err := http.Post(ts.URL+"/api/rooms/r1/purchases", "application/json", strings.NewReader(`{"id":"h1","product":"p1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error map[string]any }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || body.Error["code"] != protocol.CodeUnavailable || body.Error["retry_after_ms"] != nil {
		t.Fatalf("HTTP purchase with Redis unreachable: %d %v, want 503 unavailable without retry_after_ms", resp.StatusCode, body.Error)
	}
	if n := countedSince(); n != 1 {
		t.Fatalf("a failed HTTP purchase was logged %d times, want once:\n%s", n, buf.String())
	}

	s.failLog.next.Store(0)
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"buy","id":"w1","room":"r1","product":"p1"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Type, ID string
			Error    map[string]any
		}
		json.Unmarshal(data, &m)
		if m.Type != protocol.TypeReply || m.ID != "w1" {
			continue
		}
		if m.Error["code"] != protocol.CodeUnavailable {
			t.Fatalf("WebSocket purchase with Redis unreachable: %s, want unavailable", data)
		}
		break
	}
	if n := countedSince(); n != 1 {
		t.Fatalf("a failed WebSocket purchase was logged %d times, want once:\n%s", n, buf.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Count(buf.String(), "code=unavailable") != 2 {
		t.Fatalf("want a line naming code unavailable for each failed purchase:\n%s", buf.String())
	}
}

// An overloaded failure is answered 503 with code overloaded and
// retry_after_ms, over HTTP and in a WebSocket reply or error message;
// unavailable carries no retry_after_ms.
func TestOverloadedAnswers(t *testing.T) {
	s := &Server{failLog: newFailureLog(slog.New(slog.DiscardHandler))}
	overloaded := protocol.DependencyFailed(canceledCtx(), "buy", context.DeadlineExceeded)
	rec := httptest.NewRecorder()
	s.writeError(rec, overloaded)
	var body struct{ Error protocol.Error }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || body.Error.Code != protocol.CodeOverloaded || body.Error.RetryAfterMS != protocol.OverloadRetryAfterMS {
		t.Fatalf("HTTP: %d %s, want 503 overloaded with retry_after_ms", rec.Code, rec.Body)
	}
	pe := s.clientError(overloaded)
	for _, raw := range [][]byte{protocol.ReplyError("x", 1, pe), protocol.ErrorMessage(1, pe)} {
		if !bytes.Contains(raw, []byte(`"code":"overloaded"`)) || !bytes.Contains(raw, []byte(`"retry_after_ms":1000`)) {
			t.Fatalf("WebSocket: %s, want overloaded with retry_after_ms", raw)
		}
	}
	rec = httptest.NewRecorder()
	s.writeError(rec, protocol.DependencyFailed(context.Background(), "buy", errors.New("connection refused")))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"unavailable"`) || strings.Contains(rec.Body.String(), "retry_after_ms") {
		t.Fatalf("HTTP: %d %s, want 503 unavailable without retry_after_ms", rec.Code, rec.Body)
	}
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
