package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveserver/liveserver/protocol"
)

type metrics struct {
	authFailures    prometheus.Counter
	purchases       *prometheus.CounterVec
	purchaseLatency prometheus.Histogram
	refused         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveserver_auth_failures_total", Help: "Tokens refused (HTTP, upgrade or auth message)."}),
		purchases:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveserver_purchases_total", Help: "Purchases by outcome (ok or an error code)."}, []string{"outcome"}),
		purchaseLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "liveserver_purchase_duration_seconds", Help: "Time the store took to answer a purchase.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveserver_ws_refused_total", Help: "WebSocket upgrades refused, by reason."}, []string{"reason"}),
	}
	reg.MustRegister(m.authFailures, m.purchases, m.purchaseLatency, m.refused)
	// Series that exist from the start, so that rate() and alerts see a 0
	// before the first event rather than no series at all.
	for _, outcome := range []string{"ok", protocol.CodeSoldOut, protocol.CodeUnavailable} {
		m.purchases.WithLabelValues(outcome)
	}
	for _, reason := range []string{"draining", "max_conns", "auth", "upgrade", "per_ip", "per_user", "unauthenticated"} {
		m.refused.WithLabelValues(reason)
	}
	return m
}
