#!/usr/bin/env bash
# CPU per request of a site whose routes come from GitHub's OpenAPI
# document (~1,200 operations, routes_from) against a one-route site, the
# same request (an operation with four parameters) in interleaved rounds:
# the operation table's cost must not grow with the spec (issue 16).
#
#   bash bench/openapi.sh            # ROUNDS=5 DUR=4
# Needs wrk and 'make test-deps' (the spec, from npm). Loopback only;
# every load run is bounded by DUR.
set -euo pipefail
ROUNDS=${ROUNDS:-5}; DUR=${DUR:-4}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPEC=$ROOT/internal/oaslint/testdata/specs/node_modules/@octokit/openapi/generated/api.github.com.json
[[ -f $SPEC ]] || { echo "no $SPEC: run 'make test-deps'" >&2; exit 1; }
T=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
cd "$ROOT"; go build -o "$T/tlsgate" ./cmd/tlsgate; go build -o "$T/backend" ./bench/backend
cp "$SPEC" "$T/gh.json"
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
BP=$(port); taskset -c 1 "$T/backend" -listen "127.0.0.1:$BP" >/dev/null 2>&1 &
for c in one gh; do
	p=$(port); eval "${c}_port=$p"
	{ echo "data_dir: $T/data"; echo "listen: {https: \"127.0.0.1:$p\", http: \"off\"}"
	  echo "log: {format: json, access: false, level: warn}"
	  echo "sites:"; echo "  - hosts: [localhost, 127.0.0.1]"; echo "    default: true"
	  if [[ $c == gh ]]; then echo "    routes_from: {openapi: gh.json, upstreams: [\"http://127.0.0.1:$BP\"]}"
	  else echo "    routes: [{path: /repos/, upstreams: [\"http://127.0.0.1:$BP\"]}]"; fi; } > "$T/$c.yaml"
done
run() { # config port -> CPU µs per request
	taskset -c 0 "$T/tlsgate" serve --config "$T/$1.yaml" >/dev/null 2>&1 & local pid=$!
	sleep 1.5
	local url=https://127.0.0.1:$2/repos/tlsgate/tlsgate/actions/runs/123456/jobs
	timeout 10 taskset -c 1 wrk -t1 -c50 -d1s "$url" >/dev/null 2>&1
	local t0 t1 n; t0=$(awk '{print $14+$15}' /proc/$pid/stat)
	n=$(timeout $((DUR + 10)) taskset -c 1 wrk -t1 -c50 -d"${DUR}s" "$url" 2>/dev/null | awk '/requests in/{print $1}')
	t1=$(awk '{print $14+$15}' /proc/$pid/stat)
	kill $pid; wait $pid 2>/dev/null || true
	echo "scale=2; ($t1-$t0)*1000000/$(getconf CLK_TCK)/$n" | bc
}
echo "round  one-route µs/req  github-spec µs/req  ratio"
for i in $(seq "$ROUNDS"); do
	a=$(run one "$one_port"); b=$(run gh "$gh_port")
	echo "$i  $a  $b  $(echo "scale=3; $b/$a" | bc)"
done
