#!/usr/bin/env bash
# Measures what an idle viewer costs a node: starts a memory node, forces a
# GC and reads its RSS, joins N idle viewers to one room with the bundled
# load tester (no events published), forces a GC again and prints the RSS
# over the baseline per connection, and the goroutine count. Loopback only;
# stops by itself.
#
#   scripts/idle.sh 10000
set -euo pipefail
n=${1:-10000}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=$(mktemp -d -t liveserver-idle.XXXXXX)
go build -o "$out/liveserver" ./cmd/liveserver
go build -o "$out/loadtest" ./loadtest
port=18197 debug=127.0.0.1:6067
"$out/liveserver" -addr "127.0.0.1:$port" -msg-rate 0 -max-conns 19900 -max-conns-per-ip 0 -http-rate-per-ip 0 -log-level warn -debug-addr "$debug" >"$out/node.log" 2>&1 &
node=$!
lt=
cleanup() {
	[[ -n $lt ]] && kill "$lt" 2>/dev/null || true
	kill -INT "$node" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
gc() { curl -s -o /dev/null "http://$debug/debug/pprof/heap?gc=1"; sleep 1; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$node/status"; }
gc
r0=$(rss)
"$out/loadtest" -url "ws://127.0.0.1:$port" -scenario viewers -viewers "$n" -rooms 1 -rate 0 \
	-duration 60s -dial-concurrency 512 >"$out/loadtest.txt" 2>&1 &
lt=$!
for _ in $(seq 120); do
	c=$(curl -s "127.0.0.1:$port/metrics" | awk '$1=="liveserver_joins_total" {print $2}')
	[[ ${c:-0} -ge $n ]] 2>/dev/null && break
	sleep 0.5
done
sleep 3
gc; gc
r1=$(rss)
metrics=$(curl -s "127.0.0.1:$port/metrics")
conns=$(awk '$1=="liveserver_connections" {print $2}' <<<"$metrics")
gor=$(awk '$1=="go_goroutines" {print $2}' <<<"$metrics")
echo "idle viewers   $conns connections (RSS $r0 KiB before, $r1 KiB with them, after GC)"
echo "per connection $(((r1 - r0) * 1024 / n)) bytes of RSS; $gor goroutines in all"
