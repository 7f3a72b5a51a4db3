#!/usr/bin/env bash
# Fleet benchmarks (issue 8): certificates per minute for 100 names from
# Pebble by one gateway vs a fleet of three sharing a 3-member etcd, and
# handshake latency on a node while etcd loses its leader. Real etcd
# (Debian's etcd-server), Pebble and tlsgate processes on loopback.
#   bash bench/cluster/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s tools test-deps >/dev/null
go test -run '^$' -bench 'BenchmarkFleetIssuance|BenchmarkHandshakeDuringEtcdLeaderLoss' -benchtime 1x -timeout 30m ./cmd/tlsgate
