#!/usr/bin/env bash
# Starts three liveserver nodes, on ports 8081, 8082 and 8083, against one
# Redis, a Redis Cluster or a master watched by Sentinels: a local cluster
# to put behind a load balancer (docs/CLUSTER.md).
#
#   scripts/cluster.sh redis://127.0.0.1:6379/0               # one Redis
#   scripts/cluster.sh -cluster 127.0.0.1:7000,127.0.0.1:7001  # a Redis Cluster (seeds)
#   scripts/cluster.sh -sentinel 127.0.0.1:26379,... mymaster  # Sentinels and the master's name
#   scripts/cluster.sh -local-cluster    # starts a local Redis Cluster first (3 masters, 3 replicas, ports 7000-7005)
#   scripts/cluster.sh -local-sentinel   # starts a master, a replica and 3 Sentinels first (6380, 6381, 26380-26382)
#
# The local setups need redis-server and redis-cli, keep their data in the
# log directory and stop with the nodes; they are for trying failovers on
# one machine (kill a master: the nodes follow the promoted replica), not
# for production.
#
# Ctrl-C (or SIGTERM) drains and stops all three. Each node logs to
# $CLUSTER_LOG_DIR/node<port>.log (default: a new temporary directory).
#
# Every LIVESERVER_* variable reaches the nodes (the command reads its flags
# from them): set LIVESERVER_JWT_SECRET (or LIVESERVER_JWT_SECRET_FILE), and
# LIVESERVER_REDIS_PASSWORD rather than a password in the URL
# (LIVESERVER_REDIS_SENTINEL_PASSWORD for Sentinels, LIVESERVER_REDIS_TLS=true
# for TLS, LIVESERVER_REDIS_WAIT_REPLICAS=1 to acknowledge purchases only once
# a replica has them). Without a secret the script refuses, unless
# LIVESERVER_DEV=true asks for development mode (anyone may mint any token
# with POST /dev/token; the nodes share its signing secret through Redis,
# and refuse a Redis used by production nodes).
#
# Overrides, mainly for tests: LIVESERVER_BIN (a built binary; default: go
# build ./cmd/liveserver), CLUSTER_PORTS (default "8081 8082 8083").
set -euo pipefail

usage() {
	echo "usage: $0 redis://[user:password@]host:port/db | -cluster host:port,... | -sentinel host:port,... master | -local-cluster | -local-sentinel" >&2
	exit 2
}
redis_flags=()
local_setup=
case ${1:-} in
-cluster)
	[[ -n ${2:-} ]] || usage
	redis_flags=(-redis-cluster "$2")
	;;
-sentinel)
	[[ -n ${2:-} && -n ${3:-} ]] || usage
	redis_flags=(-redis-sentinel "$2" -redis-master "$3")
	;;
-local-cluster)
	local_setup=cluster
	redis_flags=(-redis-cluster 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002)
	;;
-local-sentinel)
	local_setup=sentinel
	redis_flags=(-redis-sentinel 127.0.0.1:26380,127.0.0.1:26381,127.0.0.1:26382 -redis-master liveserver)
	;;
-*) usage ;;
*)
	redis_url=${1:-${LIVESERVER_REDIS_URL:-}}
	[[ -n $redis_url ]] || usage
	redis_flags=(-redis "$redis_url")
	;;
esac
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
redis_pids=()
stop() {
	trap - INT TERM
	echo "stopping nodes ${pids[*]}"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	if ((${#redis_pids[@]})); then
		echo "stopping the local Redis processes ${redis_pids[*]}"
		kill -TERM "${redis_pids[@]}" 2>/dev/null || true
		wait "${redis_pids[@]}" 2>/dev/null || true
	fi
}
trap 'stop; exit 0' INT TERM

# start_redis PORT ARGS...: a local redis-server in its own directory.
start_redis() {
	local port=$1 dir=$log_dir/redis$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && exec redis-server "$@" --port "$port" --bind 127.0.0.1 --dir "$dir" --logfile "$dir/redis.log") &
	redis_pids+=($!)
	until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
}
case $local_setup in
cluster)
	for port in 7000 7001 7002 7003 7004 7005; do
		start_redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 --appendonly yes
	done
	redis-cli --cluster create 127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 127.0.0.1:7004 127.0.0.1:7005 \
		--cluster-replicas 1 --cluster-yes >"$log_dir/cluster-create.log"
	until redis-cli -p 7000 cluster info | grep -q cluster_state:ok; do sleep 0.1; done
	echo "local Redis Cluster on 127.0.0.1:7000-7005 (3 masters, 3 replicas; data in $log_dir)"
	;;
sentinel)
	start_redis 6380 --appendonly yes
	start_redis 6381 --appendonly yes --replicaof 127.0.0.1 6380
	for port in 26380 26381 26382; do
		mkdir -p "$log_dir/redis$port"
		printf 'sentinel monitor liveserver 127.0.0.1 6380 2\nsentinel down-after-milliseconds liveserver 1000\nsentinel failover-timeout liveserver 5000\n' >"$log_dir/redis$port/sentinel.conf"
		start_redis "$port" "$log_dir/redis$port/sentinel.conf" --sentinel
	done
	echo "local Sentinel setup: master 127.0.0.1:6380, replica :6381, Sentinels :26380-26382 (data in $log_dir)"
	;;
esac

for port in "${ports[@]}"; do
	"$bin" -addr "127.0.0.1:$port" "${redis_flags[@]}" >"$log_dir/node$port.log" 2>&1 &
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
