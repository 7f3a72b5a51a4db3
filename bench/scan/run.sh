#!/usr/bin/env bash
# tlsgate scan vs testssl.sh: wall time of a full scan of one loopback
# endpoint, and of 50 endpoints from a file. Loopback (127.0.0.1) only.
#
#   bash bench/scan/run.sh                 # full run (testssl.sh's default run takes minutes)
#   RUNS=3 bash bench/scan/run.sh          # tlsgate scans of the single endpoint to take the median of
#   SKIP_TESTSSL=1 bash bench/scan/run.sh  # tlsgate only
#   OUT=scan-bench.md bash bench/scan/run.sh  # also write the report to a file
#   TLSGATE_BIN=/path/to/tlsgate bash bench/scan/run.sh  # a prebuilt binary
#
# Needs Go, nginx (Debian nginx-light), openssl and testssl.sh (Debian
# testssl.sh). Writes nothing outside a temp dir under /tmp (unless OUT).
#
# Targets (issue 5): one full scan < 5 s; >= 10x less wall time than
# testssl.sh's default run on the same endpoint; 50 targets < 30 s.
set -euo pipefail

RUNS=${RUNS:-5}
N_TARGETS=${N_TARGETS:-50}
TESTSSL_TIMEOUT=${TESTSSL_TIMEOUT:-1800}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
TESTSSL_BIN=${TESTSSL_BIN:-$(command -v testssl || command -v testssl.sh || true)}

log() { echo "scan-bench: $*" >&2; }
die() { echo "scan-bench: ERROR: $*" >&2; exit 1; }
[[ -x "$NGINX_BIN" ]] || die "nginx not found at $NGINX_BIN (apt-get install nginx-light)"
command -v openssl >/dev/null || die "openssl not found"
if [[ "${SKIP_TESTSSL:-}" != 1 && -z "$TESTSSL_BIN" ]]; then die "testssl.sh not found (apt-get install testssl.sh), or set SKIP_TESTSSL=1"; fi

T=$(mktemp -d /tmp/tlsgate-scan-bench.XXXXXX)
NGINX_PID=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "$NGINX_PID" ]]; then
		kill -TERM "$NGINX_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NGINX_PID" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	((rc != 0)) && [[ -s "$T/nginx-error.log" ]] && tail -n 20 "$T/nginx-error.log" >&2
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

# ---------------------------------------------------------------- build
cd "$ROOT"
if [[ -n "${TLSGATE_BIN:-}" ]]; then
	[[ -x "$TLSGATE_BIN" ]] || die "TLSGATE_BIN=$TLSGATE_BIN is not executable"
	cp "$TLSGATE_BIN" "$T/tlsgate"
else
	log "building tlsgate"
	go build -o "$T/tlsgate" ./cmd/tlsgate || die "go build ./cmd/tlsgate failed"
fi
if "$T/tlsgate" scan -h >/dev/null 2>&1; then
	SCAN=("$T/tlsgate" scan --format json)
	SCANNER="tlsgate scan (${TLSGATE_BIN:-./cmd/tlsgate})"
else
	log "this tlsgate has no scan command yet: measuring bench/scan/scanonly (the same internal/scan)"
	go build -o "$T/scanonly" ./bench/scan/scanonly || die "go build ./bench/scan/scanonly failed"
	SCAN=("$T/scanonly")
	SCANNER="bench/scan/scanonly (internal/scan; tlsgate had no scan command)"
fi
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
[[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ]] && GIT_REV+=" (+ uncommitted changes)"

# ---------------------------------------------------------------- PKI
log "making a CA and a leaf for scan.test and 127.0.0.1"
(
	cd "$T"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
	openssl req -x509 -new -key ca.key -sha256 -days 7 -subj "/CN=tlsgate scan bench CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key 2>/dev/null
	openssl req -new -key leaf.key -subj "/CN=scan.test" -out leaf.csr
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" "subjectAltName=DNS:scan.test,IP:127.0.0.1" >leaf.ext
	openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 -sha256 -extfile leaf.ext -out leaf.pem 2>/dev/null
) || die "certificate generation failed"

# ---------------------------------------------------------------- nginx
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PICKED=" "
pick_port() { # sets PORT: below the ephemeral range, free, not picked before
	local p
	for _ in $(seq 500); do
		p=$((20000 + RANDOM % 12000))
		[[ "$PICKED" == *" $p "* ]] && continue
		port_in_use "$p" && continue
		PICKED+="$p "
		PORT=$p
		return 0
	done
	die "no free port"
}
pick_port; ONE=$PORT
pick_port; HTTP=$PORT
MANY=()
for _ in $(seq "$N_TARGETS"); do pick_port; MANY+=("$PORT"); done

mkdir -p "$T/nginx/tmp"
{
	echo "user $(id -un) $(id -gn);"
	echo "worker_processes 1; pid $T/nginx/nginx.pid; error_log $T/nginx-error.log warn;"
	echo "events { worker_connections 1024; }"
	echo "http { access_log off; client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp;"
	echo "  fastcgi_temp_path $T/nginx/tmp; uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp;"
	echo "  ssl_certificate $T/leaf.pem; ssl_certificate_key $T/leaf.key;"
	echo "  ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on;"
	echo "  ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;"
	echo "  ssl_session_cache shared:bench:1m;"
	echo "  server {"
	echo "    listen 127.0.0.1:$ONE ssl http2;"
	for p in "${MANY[@]}"; do echo "    listen 127.0.0.1:$p ssl http2;"; done
	echo "    server_name scan.test;"
	echo '    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;'
	echo '    location / { return 200 "ok\n"; }'
	echo "  }"
	echo "  server { listen 127.0.0.1:$HTTP; return 301 https://scan.test:$ONE\$request_uri; }"
	echo "}"
} >"$T/nginx.conf"
"$NGINX_BIN" -p "$T/nginx/" -e "$T/nginx-error.log" -c "$T/nginx.conf" -t -q || die "nginx config test failed"
"$NGINX_BIN" -p "$T/nginx/" -e "$T/nginx-error.log" -c "$T/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 100); do port_in_use "$ONE" && port_in_use "${MANY[-1]}" && break; sleep 0.1; done
port_in_use "$ONE" || die "nginx does not listen on 127.0.0.1:$ONE"
log "nginx: 127.0.0.1:$ONE (+ $N_TARGETS more ports), HTTP redirect on $HTTP"
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- one endpoint
SINGLE=("${SCAN[@]}" --ca "$T/ca.pem" --sni scan.test --http-port "$HTTP" "127.0.0.1:$ONE")
"${SINGLE[@]}" >"$T/first.out" || die "scan failed: $(cat "$T/first.out")"
TIMES=()
for i in $(seq "$RUNS"); do
	s=$(now)
	"${SINGLE[@]}" >"$T/one.out" || die "scan failed"
	TIMES+=("$(since "$s")")
done
ONE_MEDIAN=$(printf '%s\n' "${TIMES[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
ONE_MAX=$(printf '%s\n' "${TIMES[@]}" | sort -n | tail -n 1 | awk '{printf "%.3f", $1}')
GRADE=$( (grep -o '"letter": "[^"]*"' "$T/one.out" || true) | head -n 1 | cut -d'"' -f4)
[[ -n "$GRADE" ]] || GRADE=$(awk '{print $2}' "$T/one.out")
log "one endpoint: median $ONE_MEDIAN s of $RUNS (max $ONE_MAX s), grade $GRADE"

# ---------------------------------------------------------------- 50 endpoints
for p in "${MANY[@]}"; do echo "127.0.0.1:$p"; done >"$T/targets.txt"
s=$(now)
"${SCAN[@]}" --ca "$T/ca.pem" --http-port 0 -f "$T/targets.txt" >"$T/many.out" || die "scan of $N_TARGETS targets failed"
MANY_WALL=$(since "$s" | awk '{printf "%.3f", $1}')
log "$N_TARGETS endpoints: $MANY_WALL s"

# ---------------------------------------------------------------- testssl.sh
TESTSSL_WALL="" RATIO=""
if [[ "${SKIP_TESTSSL:-}" != 1 ]]; then
	TESTSSL_VERSION=$( ("$TESTSSL_BIN" --version 2>/dev/null || true) | grep -o 'testssl[^ ]* *[0-9][0-9.a-z]*' | head -n 1 | tr -s ' ')
	TESTSSL_CMD=("$TESTSSL_BIN" --quiet --warnings off --color 0 -n none --ip 127.0.0.1 --add-ca "$T/ca.pem" --jsonfile "$T/testssl.json" "scan.test:$ONE")
	log "testssl.sh default run (this takes minutes)"
	s=$(now)
	timeout "$TESTSSL_TIMEOUT" "${TESTSSL_CMD[@]}" >"$T/testssl.out" 2>&1 || log "testssl.sh exited $? (timing kept)"
	TESTSSL_WALL=$(since "$s" | awk '{printf "%.1f", $1}')
	RATIO=$(echo "scale=0; $TESTSSL_WALL / $ONE_MEDIAN" | bc)
	log "testssl.sh: $TESTSSL_WALL s, ratio ${RATIO}x"
fi
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
ok() { if [[ $(echo "$1" | bc) == 1 ]]; then echo "met"; else echo "MISSED"; fi; }
REPORT=$(
	echo "## tlsgate scan vs testssl.sh ($(date -u +%Y-%m-%d))"
	echo
	echo "\`bash bench/scan/run.sh\` at $GIT_REV on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))," \
		"load average $LOADAVG_START at the start and $LOADAVG_END at the end (the machine is shared)."
	echo "Endpoint: nginx $("$NGINX_BIN" -v 2>&1 | cut -d/ -f2) on 127.0.0.1, TLS 1.2 + 1.3, ECDSA P-256, HSTS, HTTP redirect port. Scanner: $SCANNER."
	echo
	echo "| Measure | Result | Target |"
	echo "|---|---|---|"
	echo "| full scan of one endpoint (median of $RUNS; max) | ${ONE_MEDIAN} s; ${ONE_MAX} s (grade $GRADE) | < 5 s: $(ok "$ONE_MAX < 5") |"
	if [[ -n "$TESTSSL_WALL" ]]; then
		echo "| testssl.sh default run, same endpoint (${TESTSSL_VERSION:-testssl.sh}) | ${TESTSSL_WALL} s | |"
		echo "| ratio testssl.sh / tlsgate | ${RATIO}x | >= 10x: $(ok "$RATIO >= 10") |"
	fi
	echo "| $N_TARGETS endpoints from a file (--concurrency 8) | ${MANY_WALL} s | < 30 s: $(ok "$MANY_WALL < 30") |"
	echo
	echo "Commands (\$TMP is the temp dir):"
	echo
	echo '```'
	echo "${SINGLE[*]//$T\//\$TMP/}"
	echo "${SCAN[*]//$T\//\$TMP/} --ca \$TMP/ca.pem --http-port 0 -f \$TMP/targets.txt"
	[[ -n "$TESTSSL_WALL" ]] && echo "${TESTSSL_CMD[*]//$T\//\$TMP/}"
	echo '```'
)
echo "$REPORT"
[[ -n "${OUT:-}" ]] && echo "$REPORT" >"$OUT"
exit 0
