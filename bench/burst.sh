#!/usr/bin/env bash
# RSS before, during and after a burst of HTTP/2 TLS connections (issue 17).
#
#   bash bench/burst.sh                                   # tlsgate built from ./cmd/tlsgate
#   BINS="main=/tmp/tlsgate-main new=/tmp/tlsgate-new" bash bench/burst.sh
#
# For each binary in turn: start `tlsgate proxy` in front of bench/backend,
# take RSS (VmRSS, /proc/PID/status) after a small warm-up ("before"), run
# `h2load -c CONNS -n CONNS` (one request per connection, every connection
# closed when h2load exits), and take RSS at the burst's peak (max of 0.1 s
# samples) and AFTER seconds after h2load exited. Loopback only; h2load is
# bounded by count (-n) and by `timeout`.
set -euo pipefail

CONNS=${CONNS:-5000}
AFTER=${AFTER:-"2 10 30 60"}   # seconds after the burst closed
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
LOG_LEVEL=${LOG_LEVEL:-debug}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=$(mktemp -d /tmp/tlsgate-burst.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
ulimit -n $((CONNS * 2 + 1024))

cd "$ROOT"
if [[ -z "${BINS:-}" ]]; then go build -o "$T/tlsgate" ./cmd/tlsgate; BINS="head=$T/tlsgate"; fi
go build -o "$T/backend" ./bench/backend
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null

rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
wait_up() { for _ in $(seq 100); do curl -fsk -o /dev/null --max-time 1 "$1" && return; sleep 0.1; done; echo "not ready: $1" >&2; exit 1; }

taskset -c "$LOAD_CPU" "$T/backend" -listen 127.0.0.1:18081 >"$T/backend.log" 2>&1 &
PIDS+=($!)
wait_up http://127.0.0.1:18081/

printf '| binary | h2load ok | before | peak | fds at peak |'
for a in $AFTER; do printf ' +%ss |' "$a"; done
printf '\n|---|---|---|---|---|'
for _ in $AFTER; do printf -- '---|'; done
echo
for nb in $BINS; do
	name=${nb%%=*} bin=${nb#*=}
	taskset -c "$PROXY_CPU" "$bin" proxy --from 127.0.0.1:18443 --to http://127.0.0.1:18081 \
		--cert "$T/cert.pem" --key "$T/key.pem" --access-log=false --log-level "$LOG_LEVEL" \
		>"$T/tlsgate-$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_up https://127.0.0.1:18443/
	timeout 30 taskset -c "$LOAD_CPU" h2load -c 50 -n 500 https://127.0.0.1:18443/ >/dev/null # warm-up
	sleep 2
	before=$(rss "$pid")
	timeout 120 taskset -c "$LOAD_CPU" h2load -c "$CONNS" -n "$CONNS" https://127.0.0.1:18443/ \
		>"$T/h2load-$name.txt" 2>&1 &
	hp=$!
	peak=0 peakfd=0
	while kill -0 "$hp" 2>/dev/null; do
		r=$(rss "$pid") f=$(ls "/proc/$pid/fd" | wc -l)
		awk -v a="$r" -v b="$peak" 'BEGIN{exit !(a>b)}' && peak=$r
		((f > peakfd)) && peakfd=$f
		sleep 0.1
	done
	wait "$hp" || echo "h2load ($name) failed: see $T/h2load-$name.txt" >&2
	ok=$(awk '/^requests:/ {print $8}' "$T/h2load-$name.txt")
	row="| $name | ${ok:-?}/$CONNS | $before | $peak | $peakfd |"
	t0=$(date +%s%N)
	for a in $AFTER; do
		while (($(date +%s%N) - t0 < a * 1000000000)); do sleep 0.05; done
		row+=" $(rss "$pid") |"
	done
	echo "$row"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	grep -i trim "$T/tlsgate-$name.log" >&2 || true
done
echo "(RSS in MiB; logs in $T)" >&2
