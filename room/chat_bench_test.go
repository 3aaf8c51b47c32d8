package room

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// BenchmarkCommentFanout measures the hub's comment path over loopback:
// one op is one comment envelope handed to the hub (as the broker does),
// delivered to every subscriber, or, sampled, to about rate/count of them.
// It reports the delivered comments per second.
func BenchmarkCommentFanout(b *testing.B) {
	for _, c := range []struct {
		subs, rate int
	}{{1000, 10000}, {1000, 50}} {
		b.Run(fmt.Sprintf("subs=%d/rate=%d", c.subs, c.rate), func(b *testing.B) { benchCommentFanout(b, c.subs, c.rate) })
	}
}

func benchCommentFanout(b *testing.B, subs, rate int) {
	store := inventory.NewMemoryStore(inventory.MemoryConfig{Publisher: &lossyPublisher{got: make(chan []byte, 16)}})
	defer store.Close()
	if _, err := store.PutRoom(context.Background(), "r", inventory.RoomSpec{Title: "R"}); err != nil {
		b.Fatal(err)
	}
	hub := NewHub(Config{Source: store, ViewersInterval: time.Hour, ChatFanoutRate: rate, MaxQueueBytes: 64 << 20})
	if err := hub.Run(); err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	var joined atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := hub.Accept(w, r, AcceptOptions{})
		if err != nil {
			return
		}
		if err := hub.Join(context.Background(), c, "r", nil, nil); err == nil {
			joined.Add(1)
		}
		go c.ReadLoop(func(websocket.MessageType, []byte) {})
	}))
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	var delivered atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	for range subs {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.CloseNow()
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					return
				}
				delivered.Add(int64(bytes.Count(data, []byte(`"type":"comment"`))))
			}
		}()
	}
	for joined.Load() < int64(subs) {
		time.Sleep(time.Millisecond)
	}
	at := time.Now().UnixMilli()
	author := protocol.Author{ID: "AAAAAAAAAAAAAAAA", Name: "Ann", Role: "viewer"}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		c := protocol.Comment{ID: fmt.Sprint(i + 1), Author: author, Text: "does it come in blue?", At: at}
		hub.HandleMessage("r", protocol.VolatileEnvelope(protocol.CommentKey(author.ID),
			protocol.Marshal(protocol.CommentMsg{Type: protocol.TypeComment, Room: "r", TS: at, Comment: c})))
	}
	// Everyone gets the first rate comments of the window; the rest a
	// sample: wait until deliveries stop growing.
	for last := int64(-1); ; {
		time.Sleep(50 * time.Millisecond)
		if d := delivered.Load(); d == last {
			break
		} else {
			last = d
		}
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(delivered.Load())/el.Seconds(), "deliveries/s")
	b.ReportMetric(float64(delivered.Load())/float64(b.N)/float64(subs), "delivered/sent")
}
