#!/usr/bin/env bash
# Issue 14's throughput target, measured in interleaved rounds (BENCHMARKS.md):
# accepted bids per second through one node on a fresh redis-server
# (loadtest -auction-rooms 500: every bid accepted), then, right after and on
# the same Redis, redis-benchmark of the same bid script: the EVALSHA of one
# real bid captured with redis-cli monitor, its idempotency id and its amount
# made __rand_int__. Prints one line per round with the ratio. Everything runs
# on loopback and stops by itself.
#
#   scripts/auction-ratio.sh            # 3 rounds
#   ROUNDS=8 scripts/auction-ratio.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-$(mktemp -d -t liveserver-ratio.XXXXXX)}
go build -o "$out/liveserver" ./cmd/liveserver
go build -o "$out/loadtest" ./loadtest
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

round() {
	local rp hp h node
	rp=$(free_port)
	hp=$(free_port)
	h=127.0.0.1:$hp
	redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --logfile "$out/redis.log"
	for _ in $(seq 50); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.1; done
	"$out/liveserver" -addr "$h" -msg-rate 0 -max-conns-per-ip 0 -max-conns-per-user 0 -http-rate-per-ip 0 \
		-http-rate-per-user 0 -log-level warn -redis "redis://127.0.0.1:$rp/0" -dev >"$out/node.log" 2>&1 &
	node=$!
	for _ in $(seq 50); do curl -sf "$h/readyz" >/dev/null && break; sleep 0.2; done
	"$out/loadtest" -url "ws://$h" -scenario auction -viewers 500 -auction-rooms 500 -duration 10s -extend 0s >"$out/loadtest.txt" 2>&1 || true
	local acc verdict
	acc=$(awk '$1=="throughput" {print $2}' "$out/loadtest.txt")
	verdict=$(awk '$1=="verdict" {print $2}' "$out/loadtest.txt")

	# One real bid in a fresh auction, captured as Redis runs it.
	tok() { curl -sf -X POST -H 'Content-Type: application/json' -d "{\"sub\":\"$1\",\"role\":\"$2\",\"rooms\":[\"rb\"]}" "http://$h/dev/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
	local ct vt aid
	ct=$(tok creator-rb creator)
	vt=$(tok viewer-rb viewer)
	curl -sf -X PUT -H "Authorization: Bearer $ct" -H 'Content-Type: application/json' \
		-d '{"title":"RB","products":[{"id":"a1","name":"A","price":100,"currency":"USD","stock":10}]}' "http://$h/api/rooms/rb" >/dev/null
	aid=$(curl -sf -X POST -H "Authorization: Bearer $ct" -H 'Content-Type: application/json' \
		-d '{"product":"a1","start_price":1,"increment":1,"duration_ms":600000,"extend_ms":0}' "http://$h/api/rooms/rb/auctions" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["auction"]["id"])')
	timeout 2 redis-cli -p "$rp" monitor >"$out/monitor.txt" &
	local mon=$!
	sleep 0.5
	curl -sf -X POST -H "Authorization: Bearer $vt" -H 'Content-Type: application/json' \
		-d '{"id":"bid-1","amount":5}' "http://$h/api/rooms/rb/auctions/$aid/bids" >/dev/null
	wait "$mon" || true
	python3 - "$(grep -i '"evalsha"' "$out/monitor.txt" | grep bid-1 | head -1)" >"$out/args.txt" <<'PY'
import shlex, sys
line = sys.argv[1]
toks = shlex.split(line[line.index('"evalsha"'):])
out = [t.replace("bid-1", "__rand_int__") for t in toks]
nkeys = int(out[2])
args = out[3 + nkeys:]
out[3 + nkeys + args.index("5")] = "__rand_int__"
print(" ".join(shlex.quote(t) for t in out[1:]))
PY
	local rb
	rb=$(eval redis-benchmark -p "$rp" -c 50 -n 200000 -r 1000000000 -q evalsha "$(cat "$out/args.txt")" 2>&1 |
		tr '\r' '\n' | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
	echo "$(date +%T) accepted bids/s through the node: $acc ($verdict); redis-benchmark of the bid script: $rb calls/s; ratio $(python3 -c "print(round($acc/$rb, 3))")"
	kill -TERM "$node"
	wait "$node" || true
	redis-cli -p "$rp" shutdown nosave >/dev/null 2>&1 || true
}

for _ in $(seq "${ROUNDS:-3}"); do round; done
