package server_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/server"
)

// BenchmarkFanout measures the broadcast path end to end over loopback: one
// op is one pin delivered to every subscriber of the room. It reports the
// messages delivered per second and the frames per message (batching).
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) { benchFanout(b, subs) })
	}
}

func benchFanout(b *testing.B, subs int) {
	n := startNode(b, server.Config{SeedDemo: true, MaxQueueBytes: 64 << 20})
	var delivered atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	for range subs {
		c, _, err := tryDial(n.wsURL(), "")
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"join","room":"demo"}`)); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.CloseNow()
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					return
				}
				delivered.Add(int64(bytes.Count(data, []byte(`"pinned"`))))
			}
		}()
	}
	testutil.Eventually(b, "all joined", func() bool { return metricB(b, n, "liveserver_joins_total") >= float64(subs) })
	creator := dial(b, n.wsURL(), n.token(b, "cr", "creator", "demo"))
	frames0 := metricB(b, n, "liveserver_frames_sent_total")
	msgs0 := metricB(b, n, "liveserver_messages_sent_total")
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		creator.send(msg{"type": "pin", "room": "demo", "id": fmt.Sprint(i), "product": "p1"})
	}
	want := int64(b.N) * int64(subs)
	for delivered.Load() < want {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/el.Seconds(), "msgs/s")
	msgs := metricB(b, n, "liveserver_messages_sent_total") - msgs0
	b.ReportMetric((metricB(b, n, "liveserver_frames_sent_total")-frames0)/msgs, "frames/msg")
}

func metricB(b testing.TB, n *testNode, name string) float64 { return metric(b, n, name) }
