package room

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	conns, rooms                   prometheus.Gauge
	joins, messages, frames, bytes prometheus.Counter
	conflated, slowClosed, resyncs prometheus.Counter
	handoffs                       prometheus.Counter
	budgetClosed, snapshotEncodes  prometheus.Counter
	queueDelay                     prometheus.Histogram
	gapsRepaired                   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		conns:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "liveserver_connections", Help: "Open WebSocket connections."}),
		rooms:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "liveserver_rooms", Help: "Rooms with subscribers on this node."}),
		joins:           prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_joins_total", Help: "Successful room joins."}),
		messages:        prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_messages_sent_total", Help: "Messages written to clients."}),
		frames:          prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_frames_sent_total", Help: "WebSocket frames written to clients (a frame may hold several messages)."}),
		bytes:           prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_bytes_sent_total", Help: "Payload bytes written to clients."}),
		conflated:       prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_messages_conflated_total", Help: "Volatile messages replaced by a newer one before they were sent."}),
		slowClosed:      prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_slow_consumer_closes_total", Help: "Connections closed with 4000 (backlog over the limit or writes stalled)."}),
		resyncs:         prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_broker_resyncs_total", Help: "Broker reconnects after which every room was resynchronized."}),
		handoffs:        prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_writer_handoffs_total", Help: "Frames the writer pool could not write at once (a full socket, a control frame in progress), finished by a connection's own writer goroutine."}),
		budgetClosed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_queue_budget_closes_total", Help: "Connections closed with 4000 because the node's queued output was over -max-node-queue-bytes and theirs was among the largest."}),
		snapshotEncodes: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_snapshot_encodes_total", Help: "Snapshots encoded for joins; joins of a room at the same seq within a second share one encoding."}),
		queueDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "liveserver_queue_delay_seconds",
			Help:    "How long the oldest queued message waited before its write began.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		gapsRepaired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveserver_gaps_repaired_total", Help: "Room event gaps repaired, by how (history or snapshot)."}, []string{"how"}),
	}
	if reg != nil {
		reg.MustRegister(m.conns, m.rooms, m.joins, m.messages, m.frames, m.bytes, m.conflated, m.slowClosed, m.resyncs, m.handoffs, m.queueDelay, m.gapsRepaired, m.budgetClosed, m.snapshotEncodes)
	}
	// Both series exist from the start, so alerts see 0 rather than nothing.
	m.gapsRepaired.WithLabelValues("history")
	m.gapsRepaired.WithLabelValues("snapshot")
	return m
}
