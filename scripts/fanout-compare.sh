#!/usr/bin/env bash
# Issue 15's fan-out figure (BENCHMARKS.md): three nodes (scripts/cluster.sh)
# carry the events of 30 rooms to 6,000 viewers, first on one redis-server,
# then on a local Redis Cluster of 3 masters and 3 replicas; the same tester
# command both times. Prints the tester's lines and the CPU of the nodes and
# of the redis-server processes over 10 s of the run. Loopback only; stops
# by itself. Needs ports 8081-8083, 6390 and 7000-7005 free.
#
#   scripts/fanout-compare.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-$(mktemp -d -t liveserver-fanout.XXXXXX)}
go build -o "$out/liveserver" ./cmd/liveserver
go build -o "$out/loadtest" ./loadtest
lt=(-scenario viewers -rooms 30 -viewers 6000 -rate 10 -duration 30s -join-rate 1000)
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
sent() { for p in 8081 8082 8083; do curl -s "127.0.0.1:$p/metrics"; done | awk '$1=="liveserver_messages_sent_total" {s+=$2} END {printf "%.0f\n", s}'; }
busy() { head -1 /proc/stat | awk '{print $2+$3+$4+$7+$8}'; }
export LIVESERVER_DEV=true LIVESERVER_MAX_CONNS_PER_IP=0 LIVESERVER_MAX_CONNS_PER_USER=0 LIVESERVER_HTTP_RATE_PER_IP=0 \
	LIVESERVER_HTTP_RATE_PER_USER=0 LIVESERVER_MSG_RATE=0 LIVESERVER_LOG_LEVEL=warn LIVESERVER_BIN=$out/liveserver
for setup in one cluster; do
	echo "=== $setup ($(date +%T))"
	export CLUSTER_LOG_DIR=$out/$setup
	mkdir -p "$CLUSTER_LOG_DIR"
	if [[ $setup == one ]]; then
		redis-server --port 6390 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --logfile "$CLUSTER_LOG_DIR/redis.log"
		scripts/cluster.sh redis://127.0.0.1:6390/0 >"$CLUSTER_LOG_DIR/cluster.txt" 2>&1 &
	else
		scripts/cluster.sh -local-cluster >"$CLUSTER_LOG_DIR/cluster.txt" 2>&1 &
	fi
	cpid=$!
	ok=0
	for _ in $(seq 120); do
		ok=0
		for p in 8081 8082 8083; do curl -sf "127.0.0.1:$p/readyz" >/dev/null && ok=$((ok + 1)); done
		[[ $ok == 3 ]] && break
		sleep 0.5
	done
	[[ $ok == 3 ]] || { echo "the nodes did not start: $CLUSTER_LOG_DIR" >&2; kill -TERM $cpid; exit 1; }
	read -r -a nodes <<<"$(pgrep -f "$out/liveserver" | tr '\n' ' ')"
	read -r -a redises <<<"$(pgrep -f 'redis-server 127.0.0.1:(6390|700[0-5])' | tr '\n' ' ')"
	"$out/loadtest" -url ws://127.0.0.1:8081,ws://127.0.0.1:8082,ws://127.0.0.1:8083 "${lt[@]}" >"$out/$setup.txt" 2>&1 &
	ltpid=$!
	sleep 18 # past the joins (6 s at 1,000/s), into the steady flow
	n0=$(ticks "${nodes[@]}"); r0=$(ticks "${redises[@]}"); m0=$(sent); c0=$(busy)
	sleep 10
	n1=$(ticks "${nodes[@]}"); r1=$(ticks "${redises[@]}"); m1=$(sent); c1=$(busy)
	wait $ltpid || true
	grep -E '^(connections|delivered|event latency|seq gaps|verdict)' "$out/$setup.txt"
	awk -v n=$((n1 - n0)) -v r=$((r1 - r0)) -v c=$((c1 - c0)) -v m=$((m1 - m0)) -v k=${#redises[@]} 'BEGIN {
		printf "10 s window: nodes %.2f CPU-s, redis %.2f CPU-s (%d processes), machine %.2f CPU-s; %d messages sent, nodes %.2f us/message\n", n/100, r/100, k, c/100, m, n*10000/m }'
	kill -TERM $cpid
	wait $cpid || true
	[[ $setup == one ]] && { redis-cli -p 6390 shutdown nosave >/dev/null 2>&1 || true; }
	sleep 2
done
