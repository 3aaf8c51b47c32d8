#!/usr/bin/env bash
# Runs one load test of the figures in BENCHMARKS.md: starts the nodes
# (memory, or N nodes on a fresh redis-server), runs the bundled load tester
# against them, and prints the tester's table plus the CPU the nodes and the
# whole machine used while events flowed. Everything runs on loopback and
# stops by itself.
#
#   scripts/bench.sh memory 1 -scenario viewers -rooms 1 -viewers 10000 -rate 10 -duration 30s
#   scripts/bench.sh redis 3 -scenario flashsale -buyers 20000 -stock 1000
#
# Environment: WARM (seconds before the CPU window opens, default 12),
# WINDOW (its length, default 10), NODE_FLAGS (extra liveserver flags),
# OUT (a directory for the JSON results and logs, default a temporary one),
# TESTER_GOMAXPROCS (GOMAXPROCS of the load tester only).
set -euo pipefail
mode=${1:?usage: $0 memory|redis NODES loadtest-flags...}
nodes=${2:?usage: $0 memory|redis NODES loadtest-flags...}
shift 2
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-$(mktemp -d -t liveserver-bench.XXXXXX)}
mkdir -p "$out"
go build -o "$out/liveserver" ./cmd/liveserver
go build -o "$out/loadtest" ./loadtest

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ -n ${redis_port:-} ]]; then redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

redis_flag=()
if [[ $mode == redis ]]; then
	redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --logfile "$out/redis.log" >/dev/null
	for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	redis_flag=(-redis "redis://127.0.0.1:$redis_port/0")
	# The tester mints its tokens at POST /dev/token: development mode,
	# which on Redis must be asked for.
	[[ -n ${LIVESERVER_JWT_SECRET:-} ]] || redis_flag+=(-dev)
fi

# The tester's connections all come from loopback: the per-client limits
# are off. A node holds what the open-file limit allows (20,000 here) less
# 64 and, in cluster mode, the Redis pool (201): -max-conns must fit.
max_conns=19900
if [[ $mode == redis ]]; then max_conns=19600; fi
limits=(-max-conns-per-ip 0 -max-conns-per-user 0 -http-rate-per-ip 0 -http-rate-per-user 0)
urls=()
node_pids=()
for i in $(seq "$nodes"); do
	port=$((18180 + i))
	"$out/liveserver" -addr "127.0.0.1:$port" -msg-rate 0 -max-conns "$max_conns" "${limits[@]}" -log-level warn \
		"${redis_flag[@]}" ${NODE_FLAGS:-} >"$out/node$port.log" 2>&1 &
	pids+=($!)
	node_pids+=($!)
	urls+=("ws://127.0.0.1:$port")
	for _ in $(seq 100); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done

cpu_of() { # summed utime+stime ticks of the nodes
	local t=0
	for p in "${node_pids[@]}"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
	echo $t
}
busy() { head -1 /proc/stat | awk '{print $2+$3+$4+$7+$8}'; }
scrape() { # messages and frames sent, summed over the nodes, scraped in parallel
	local i=0
	for u in "${urls[@]}"; do
		curl -s --max-time 20 "${u/ws:/http:}/metrics" >"$out/scrape.$i" &
		i=$((i + 1))
	done
	wait
	cat "$out"/scrape.* | awk '$1=="liveserver_messages_sent_total" {m+=$2} $1=="liveserver_frames_sent_total" {f+=$2} END {printf "%.0f %.0f\n", m, f}'
	rm -f "$out"/scrape.*
}

env ${TESTER_GOMAXPROCS:+GOMAXPROCS=$TESTER_GOMAXPROCS} "$out/loadtest" -url "$(IFS=,; echo "${urls[*]}")" -json "$out/result.json" "$@" >"$out/loadtest.txt" 2>&1 &
lt=$!
sleep "${WARM:-12}"
if kill -0 "$lt" 2>/dev/null; then
	# Counters first, then CPU and the clock at once: under load a metrics
	# scrape takes a while, and the window is what the clock says it was.
	# CPU and the clock are read just before each scrape; the scrape's own
	# duration is printed, as a node busy accepting thousands of
	# connections can be slow to answer one.
	t0=$(date +%s.%N); c0=$(cpu_of); b0=$(busy)
	read -r m0 f0 < <(scrape); s0=$(date +%s.%N)
	sleep "${WINDOW:-10}"
	t1=$(date +%s.%N); c1=$(cpu_of); b1=$(busy)
	read -r m1 f1 < <(scrape); s1=$(date +%s.%N)
fi
wait "$lt" && status=0 || status=$?
cat "$out/loadtest.txt"
if [[ -n ${c0:-} ]]; then
	python3 - "$c0" "$c1" "$b0" "$b1" "$m0" "$m1" "$f0" "$f1" "$t0" "$t1" "$(nproc)" "$s0" "$s1" <<'PY'
import sys
c0, c1, b0, b1, m0, m1, f0, f1, t0, t1, ncpu, s0, s1 = map(float, sys.argv[1:])
w = t1 - t0
if max(s0 - t0, s1 - t1) > 1:
    print(f"warning        a metrics scrape took {max(s0 - t0, s1 - t1):.1f}s: messages and CPU cover different windows; raise WARM")
m = m1 - m0
print(f"cpu window     {w:.1f}s: nodes {(c1-c0)/100:.2f} CPU-s, machine {(b1-b0)/100:.2f} CPU-s of {ncpu*w:.1f}; "
      f"{m:.0f} messages sent ({m/w:.0f}/s) in {f1-f0:.0f} frames")
if m > 0:
    print(f"cpu per msg    nodes {(c1-c0)*1e4/m:.2f} us (= {(c1-c0)*1e4/m:.2f} CPU-s per million), machine {(b1-b0)*1e4/m:.2f} us")
PY
fi
echo "results in $out (exit $status)"
exit "$status"
