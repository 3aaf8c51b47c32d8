// Package deploy holds what an operator deploys beside liveserver: the
// Prometheus alerting rules (prometheus/alerts.yml, unit-tested by
// prometheus/alerts_test.yml with promtool) and the Grafana dashboard
// (grafana/liveserver.json). It has no Go code of its own: its test starts
// a real liveserver node and a real Prometheus scraping it, and checks that
// every metric README lists is scraped, every dashboard query returns a
// series and every alerting rule loads.
package deploy
