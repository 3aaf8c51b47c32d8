#!/usr/bin/env bash
# Starts three liveserver nodes, on ports 8081, 8082 and 8083, against one
# Redis: a local cluster to put behind a load balancer (docs/CLUSTER.md).
#
#   scripts/cluster.sh redis://127.0.0.1:6379/0
#
# Ctrl-C (or SIGTERM) drains and stops all three. Each node logs to
# $CLUSTER_LOG_DIR/node<port>.log (default: a new temporary directory).
#
# Every LIVESERVER_* variable reaches the nodes (the command reads its flags
# from them): set LIVESERVER_JWT_SECRET (or LIVESERVER_JWT_SECRET_FILE), and
# LIVESERVER_REDIS_PASSWORD rather than a password in the URL. Without a
# secret the script refuses, unless LIVESERVER_DEV=true asks for development
# mode (anyone may mint any token with POST /dev/token; the nodes share its
# signing secret through Redis, and refuse a Redis used by production nodes).
#
# Overrides, mainly for tests: LIVESERVER_BIN (a built binary; default: go
# build ./cmd/liveserver), CLUSTER_PORTS (default "8081 8082 8083").
set -euo pipefail

redis_url=${1:-${LIVESERVER_REDIS_URL:-}}
if [[ -z $redis_url ]]; then
	echo "usage: $0 redis://[user:password@]host:port/db" >&2
	exit 2
fi
if [[ -z ${LIVESERVER_JWT_SECRET:-}${LIVESERVER_JWT_SECRET_FILE:-} ]]; then
	if [[ ${LIVESERVER_DEV:-} != true ]]; then
		echo "LIVESERVER_JWT_SECRET is not set. Set it for a real cluster (export LIVESERVER_JWT_SECRET=\"\$(openssl rand -base64 32)\"), or set LIVESERVER_DEV=true for a development cluster" >&2
		exit 2
	fi
	echo "warning: LIVESERVER_DEV=true and no JWT secret: development mode, anyone can mint tokens with POST /dev/token" >&2
fi
read -r -a ports <<<"${CLUSTER_PORTS:-8081 8082 8083}"
log_dir=${CLUSTER_LOG_DIR:-$(mktemp -d -t liveserver-cluster.XXXXXX)}
mkdir -p "$log_dir"

bin=${LIVESERVER_BIN:-}
if [[ -z $bin ]]; then
	bin=$log_dir/liveserver
	echo "building $bin"
	(cd "$(dirname "${BASH_SOURCE[0]}")/.." && go build -o "$bin" ./cmd/liveserver)
fi

pids=()
stop() {
	trap - INT TERM
	echo "stopping nodes ${pids[*]}"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM

for port in "${ports[@]}"; do
	"$bin" -addr "127.0.0.1:$port" -redis "$redis_url" >"$log_dir/node$port.log" 2>&1 &
	pids+=($!)
	echo "node on http://127.0.0.1:$port (pid $!, log $log_dir/node$port.log)"
done

# Wait until every node answers /readyz (ready means Redis answers too).
for port in "${ports[@]}"; do
	tries=0
	until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
		for pid in "${pids[@]}"; do
			if ! kill -0 "$pid" 2>/dev/null; then
				echo "a node exited; see its log in $log_dir" >&2
				stop
				exit 1
			fi
		done
		if ((++tries > 150)); then
			echo "node on port $port not ready within 15s; see $log_dir" >&2
			stop
			exit 1
		fi
		sleep 0.1
	done
done
echo "cluster ready on ports ${ports[*]}"

# Run until a node exits or we are told to stop.
wait -n "${pids[@]}" || true
echo "a node exited; stopping the others (logs in $log_dir)" >&2
stop
exit 1
