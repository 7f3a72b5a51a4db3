#!/usr/bin/env bash
# tlsgate vs nginx: TLS-terminating reverse-proxy benchmark.
#
#   bash bench/run.sh                  # full run (ROUNDS=6, DUR=5)
#   ROUNDS=2 DUR=2 bash bench/run.sh   # smoke run
#
# See bench/README.md for what is measured and how to read the table.
# Only loopback (127.0.0.1) is used; every load run is bounded in time
# (and hsload also in count) and wrapped in `timeout`.
set -euo pipefail

# ---------------------------------------------------------------- settings
# Remember which knobs the caller set explicitly, to print the command line.
KNOBS=(ROUNDS DUR WARMUP CONNS H2_STREAMS HS_CONNS SCENARIOS PROXY_CPU LOAD_CPU
	MAX_ERR_PCT TLSGATE_BIN NGINX_BIN KEEP OUT IDLE_CONNS HOLD_PAR MEM_ROUNDS
	BURST_CONNS BURST_SETTLE BURST_ROUNDS LOADED IDLE_SETTLE IDLE_SETTLE2 LAT_RPS)
SET_KNOBS=()
for k in "${KNOBS[@]}"; do
	if [[ -n "${!k+x}" ]]; then SET_KNOBS+=("$k=$(printf '%q' "${!k}")"); fi
done

ROUNDS=${ROUNDS:-6}         # interleaved A/B rounds per scenario
DUR=${DUR:-5}               # seconds per measured run
WARMUP=${WARMUP:-1}         # seconds of unmeasured warm-up per side per scenario (0 = none)
CONNS=${CONNS:-50}          # wrk / h2load connections
H2_STREAMS=${H2_STREAMS:-10} # h2load -m (concurrent streams per connection)
HS_CONNS=${HS_CONNS:-50}    # hsload concurrency
SCENARIOS=${SCENARIOS:-"h1 h1_eq h2 h2_eq full resume h1_16k h1_16k_eq lat_h1 lat_16k mtls_full mtls_h1 idle_h1 idle_h2 burst routes h3"}
PROXY_CPU=${PROXY_CPU:-0}   # core both proxies are pinned to
LOAD_CPU=${LOAD_CPU:-1}     # core the backend and load generators are pinned to
MAX_ERR_PCT=${MAX_ERR_PCT:-1}
TLSGATE_BIN=${TLSGATE_BIN:-} # optional prebuilt tlsgate binary (default: go build ./cmd/tlsgate)
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
KEEP=${KEEP:-0}             # 1 = keep the temp dir (logs, certs, raw results)
OUT=${OUT:-}                # also write the markdown report here
IDLE_CONNS=${IDLE_CONNS:-5000}  # idle_h1/idle_h2: idle keep-alive connections held open
HOLD_PAR=${HOLD_PAR:-100}       # idle_*/burst: connections being opened at a time
MEM_ROUNDS=${MEM_ROUNDS:-3}     # idle_*: rounds (A, B each on fresh processes)
IDLE_SETTLE=${IDLE_SETTLE:-2}   # idle_*: seconds all connections are idle before the first reading
IDLE_SETTLE2=${IDLE_SETTLE2:-10} # idle_*: ... before the second reading (0 = none; else > IDLE_SETTLE)
BURST_CONNS=${BURST_CONNS:-5000} # burst: h2 connections open at the peak
BURST_SETTLE=${BURST_SETTLE:-60} # burst: seconds after the close before the last reading
BURST_ROUNDS=${BURST_ROUNDS:-1} # burst: rounds
LOADED=${LOADED:-0}             # 1 = a CPU burner shares PROXY_CPU during the scenarios
LAT_RPS=${LAT_RPS:-}            # lat_*: offered load, req/s (default 15000; 7500 with LOADED=1)
ROUTES_PATH=/repos/tlsgate/tlsgate/actions/runs/123456/jobs # routes: an operation with 3 path parameters

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INVOCATION="${SET_KNOBS[*]:+${SET_KNOBS[*]} }bash $(printf '%q' "$0")${*:+ $*}"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
for k in ROUNDS DUR WARMUP CONNS H2_STREAMS HS_CONNS PROXY_CPU LOAD_CPU MAX_ERR_PCT IDLE_CONNS IDLE_SETTLE IDLE_SETTLE2 HOLD_PAR \
	MEM_ROUNDS BURST_CONNS BURST_SETTLE BURST_ROUNDS LOADED; do
	is_uint "${!k}" || { echo "run.sh: $k must be a non-negative integer (got '${!k}')" >&2; exit 2; }
done
if [[ -z $LAT_RPS ]]; then LAT_RPS=$((LOADED == 1 ? 7500 : 15000)); fi
is_uint "$LAT_RPS" && ((LAT_RPS >= 1)) || { echo "run.sh: LAT_RPS must be a positive integer (got '$LAT_RPS')" >&2; exit 2; }
LAT_OFFERED=$LAT_RPS
((ROUNDS >= 1 && DUR >= 1 && CONNS >= 1 && HS_CONNS >= 1 && H2_STREAMS >= 1 && IDLE_CONNS >= 1 && HOLD_PAR >= 1 &&
	MEM_ROUNDS >= 1 && BURST_CONNS >= 1 && BURST_ROUNDS >= 1)) ||
	{ echo "run.sh: ROUNDS, DUR, CONNS, HS_CONNS, H2_STREAMS, IDLE_CONNS, HOLD_PAR, MEM_ROUNDS, BURST_CONNS, BURST_ROUNDS must be >= 1" >&2; exit 2; }
((IDLE_SETTLE2 == 0 || IDLE_SETTLE2 > IDLE_SETTLE)) || { echo "run.sh: IDLE_SETTLE2 must be 0 or more than IDLE_SETTLE" >&2; exit 2; }
[[ $LOADED == 0 || $LOADED == 1 ]] || { echo "run.sh: LOADED must be 0 or 1" >&2; exit 2; }
for s in $SCENARIOS; do
	case $s in h1 | h1_eq | h2 | h2_eq | full | resume | h1_16k | h1_16k_eq | lat_h1 | lat_16k | mtls_full | mtls_h1 | idle_h1 | idle_h2 | burst | routes | h3) ;;
	*) echo "run.sh: unknown scenario '$s'" >&2; exit 2 ;;
	esac
done
# Scenarios measured as CPU per request with a load generator (run_once);
# idle_*/burst measure memory on fresh proxy processes of their own.
is_mem() { [[ $1 == idle_* || $1 == burst ]]; }
# *_eq: the same load against a second nginx server block that adds the
# header fields tlsgate adds by default (is_eq; nginx port EB_PORT).
is_eq() { [[ $1 == *_eq ]]; }
WANT_MEM=0 WANT_ROUTES=0 WANT_EQ=0
for s in $SCENARIOS; do
	is_mem "$s" && WANT_MEM=1
	is_eq "$s" && WANT_EQ=1
done
[[ " $SCENARIOS " == *" routes "* ]] && WANT_ROUTES=1
SPEC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/internal/oaslint/testdata/specs/node_modules/@octokit/openapi/generated/api.github.com.json
if ((WANT_ROUTES)) && [[ ! -f $SPEC ]]; then
	echo "run.sh: the routes scenario needs $SPEC: run 'make test-deps' (or: cd internal/oaslint/testdata/specs && npm ci)" >&2
	exit 2
fi
# File descriptors: every held connection costs the proxy one (nginx: plus
# upstream ones) and hsload one; nginx and tlsgate inherit this limit.
MAX_HELD=0
((WANT_MEM)) && MAX_HELD=$((IDLE_CONNS > BURST_CONNS ? IDLE_CONNS : BURST_CONNS))
NOFILE_NEED=$((MAX_HELD + 4096))
if (($(ulimit -n) < NOFILE_NEED)); then
	ulimit -n "$NOFILE_NEED" 2>/dev/null ||
		{ echo "run.sh: need 'ulimit -n' >= $NOFILE_NEED for $MAX_HELD held connections (hard limit: $(ulimit -Hn))" >&2; exit 2; }
fi
NGINX_CONNS=$((2 * MAX_HELD + 4096)) # worker_connections counts client and upstream connections
# The mTLS scenarios use a second tlsgate (serve mode, with a config file)
# and a second nginx server block, each on its own port.
WANT_MTLS=0
[[ " $SCENARIOS " == *" mtls_"* ]] && WANT_MTLS=1
for tool in go openssl curl taskset timeout wrk h2load awk pgrep getconf; do
	command -v "$tool" >/dev/null || { echo "run.sh: '$tool' not found in PATH" >&2; exit 2; }
done
[[ -x "$NGINX_BIN" ]] || { echo "run.sh: nginx not found at $NGINX_BIN" >&2; exit 2; }

CLK_TCK=$(getconf CLK_TCK)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
T=$(mktemp -d /tmp/tlsgate-bench.XXXXXX)
RAW="$T/raw.tsv"
: >"$RAW"

# ---------------------------------------------------------------- cleanup
STARTED_PIDS=()   # processes this script started (killed on exit)
NGINX_WORKERS=()

proc_alive() { # PID: running and not a zombie
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s:0:1} != Z ]]
}

cleanup() {
	local rc=$? pid i any
	trap - EXIT INT TERM
	for pid in "${STARTED_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for ((i = 0; i < 100; i++)); do
		any=0
		for pid in "${STARTED_PIDS[@]}" "${NGINX_WORKERS[@]}"; do proc_alive "$pid" && any=1; done
		((any == 0)) && break
		sleep 0.1
	done
	for pid in "${STARTED_PIDS[@]}" "${NGINX_WORKERS[@]}"; do
		if proc_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	done
	wait 2>/dev/null || true
	if ((rc != 0)); then
		echo "run.sh: FAILED (exit $rc). Last lines of the server logs:" >&2
		for f in "$T"/backend.log "$T"/tlsgate.log "$T"/tlsgate-mtls.log "$T"/tlsgate-routes-*.log "$T"/tlsgate-mem.log \
			"$T"/nginx-error.log; do
			[[ -s "$f" ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
		done
	fi
	if [[ "$KEEP" == 1 ]]; then
		echo "run.sh: temp dir kept: $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "run.sh: ERROR: $*" >&2; exit 1; }
show_cmd() { # quoted command line with the temp dir shown as $TMP
	local out="" a
	for a in "$@"; do
		[[ $a =~ ^[][A-Za-z0-9_./:=+,@%-]+$ ]] || a="'${a//\'/\'\\\'\'}'"
		out+="${out:+ }$a"
	done
	echo "${out//$T\//\$TMP/}"
}

# ---------------------------------------------------------------- build
log "temp dir: $T"
cd "$ROOT"
if [[ -n "$TLSGATE_BIN" ]]; then
	[[ -x "$TLSGATE_BIN" ]] || die "TLSGATE_BIN=$TLSGATE_BIN is not executable"
	cp "$TLSGATE_BIN" "$T/tlsgate"
	TLSGATE_ORIGIN="prebuilt binary TLSGATE_BIN=$TLSGATE_BIN"
else
	log "building tlsgate (./cmd/tlsgate)"
	go build -o "$T/tlsgate" ./cmd/tlsgate || die "go build ./cmd/tlsgate failed"
	TLSGATE_ORIGIN="built from ./cmd/tlsgate"
fi
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
if [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ]]; then GIT_REV+=" (+ uncommitted changes)"; fi
log "building bench/backend and bench/hsload"
go build -o "$T/backend" ./bench/backend
go build -o "$T/hsload" ./bench/hsload
go build -o "$T/h3load" ./bench/h3load

# ---------------------------------------------------------------- certificates
log "generating ECDSA P-256 CA + leaf for 127.0.0.1/localhost"
(
	cd "$T"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
	openssl req -x509 -new -key ca.key -sha256 -days 7 -subj "/CN=tlsgate bench CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key 2>/dev/null
	openssl req -new -key leaf.key -subj "/CN=127.0.0.1" -out leaf.csr
	cat >leaf.ext <<-'EOF'
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature
		extendedKeyUsage=serverAuth
		subjectAltName=IP:127.0.0.1,DNS:localhost
	EOF
	openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 -sha256 \
		-extfile leaf.ext -out leaf.pem 2>/dev/null
	openssl verify -CAfile ca.pem leaf.pem >/dev/null
	# mTLS: a separate client CA and one client certificate (no SANs, so
	# tlsgate sends no X-Client-SAN-* headers, which nginx could not mirror).
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client-ca.key 2>/dev/null
	openssl req -x509 -new -key client-ca.key -sha256 -days 7 -subj "/CN=tlsgate bench client CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out client-ca.pem
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client.key 2>/dev/null
	openssl req -new -key client.key -subj "/O=tlsgate bench/CN=bench-client" -out client.csr
	cat >client.ext <<-'EOF'
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature
		extendedKeyUsage=clientAuth
	EOF
	openssl x509 -req -in client.csr -CA client-ca.pem -CAkey client-ca.key -CAcreateserial -days 7 \
		-sha256 -extfile client.ext -out client.pem 2>/dev/null
	openssl verify -CAfile client-ca.pem -purpose sslclient client.pem >/dev/null
) || die "certificate generation failed"
CA="$T/ca.pem" CERT="$T/leaf.pem" KEY="$T/leaf.key"
CLIENT_CA="$T/client-ca.pem" CLIENT_CERT="$T/client.pem" CLIENT_KEY="$T/client.key"

# ---------------------------------------------------------------- ports
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { # below the ephemeral range (32768+), not in use, not already picked
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ " ${PICKED[*]-} " == *" $p "* ]] && continue
		port_in_use "$p" && continue
		echo "$p"
		return 0
	done
	return 1
}
PICKED=()
BACKEND_PORT=$(pick_port) || die "no free port"
PICKED+=("$BACKEND_PORT")
A_PORT=$(pick_port) || die "no free port"
PICKED+=("$A_PORT")
B_PORT=$(pick_port) || die "no free port"
PICKED+=("$B_PORT")
MA_PORT=$(pick_port) || die "no free port" # tlsgate serve (mTLS)
PICKED+=("$MA_PORT")
MB_PORT=$(pick_port) || die "no free port" # nginx mTLS server block
PICKED+=("$MB_PORT")
MEMA_PORT=$(pick_port) || die "no free port" # idle_*/burst: fresh tlsgate
PICKED+=("$MEMA_PORT")
MEMB_PORT=$(pick_port) || die "no free port" # idle_*/burst: fresh nginx
PICKED+=("$MEMB_PORT")
RA_PORT=$(pick_port) || die "no free port" # routes: tlsgate serve, GitHub spec site
PICKED+=("$RA_PORT")
RB_PORT=$(pick_port) || die "no free port" # routes: tlsgate serve, one-route site
PICKED+=("$RB_PORT")
EB_PORT=$(pick_port) || die "no free port" # *_eq: nginx server block adding tlsgate's header fields

# ---------------------------------------------------------------- servers
wait_ready() { # NAME PID URL [curl args...]
	local name=$1 pid=$2 url=$3 i
	shift 3
	for ((i = 0; i < 100; i++)); do
		proc_alive "$pid" || die "$name (pid $pid) exited during startup"
		curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null && return 0
		sleep 0.1
	done
	die "$name did not become ready at $url within 10s"
}

log "starting backend on 127.0.0.1:$BACKEND_PORT (CPU $LOAD_CPU)"
taskset -c "$LOAD_CPU" "$T/backend" -listen "127.0.0.1:$BACKEND_PORT" >"$T/backend.log" 2>&1 &
BACKEND_PID=$!
STARTED_PIDS+=("$BACKEND_PID")
wait_ready backend "$BACKEND_PID" "http://127.0.0.1:$BACKEND_PORT/"

TLSGATE_CMD=("$T/tlsgate" proxy --from "127.0.0.1:$A_PORT" --to "http://127.0.0.1:$BACKEND_PORT"
	--cert "$CERT" --key "$KEY" --access-log=false)
log "starting tlsgate on 127.0.0.1:$A_PORT (CPU $PROXY_CPU)"
taskset -c "$PROXY_CPU" "${TLSGATE_CMD[@]}" >"$T/tlsgate.log" 2>&1 &
TLSGATE_PID=$!
STARTED_PIDS+=("$TLSGATE_PID")
wait_ready tlsgate "$TLSGATE_PID" "https://127.0.0.1:$A_PORT/" --cacert "$CA"

TLSGATE_M_PID="" TLSGATE_M_CMD=()
if ((WANT_MTLS)); then
	# `proxy` mode has no client-auth flag: the mTLS side runs `serve` with a
	# config equivalent to what `proxy` builds, plus client_auth.
	mkdir -p "$T/tlsgate-data"
	cat >"$T/tlsgate-mtls.yaml" <<EOF
data_dir: $T/tlsgate-data
listen: {https: "127.0.0.1:$MA_PORT", http: "off"}
log: {access: false, format: json}
sites:
  - hosts: [127.0.0.1, localhost]
    default: true
    tls: {certificate: {cert: $CERT, key: $KEY}}
    client_auth: {ca: [$CLIENT_CA]}
    routes:
      - {path: /, upstreams: ["http://127.0.0.1:$BACKEND_PORT"], client_auth: require}
EOF
	"$T/tlsgate" config validate "$T/tlsgate-mtls.yaml" >"$T/tlsgate-validate.log" 2>&1 ||
		{ cat "$T/tlsgate-validate.log" >&2; die "tlsgate config validate failed for the mTLS config"; }
	TLSGATE_M_CMD=("$T/tlsgate" serve --config "$T/tlsgate-mtls.yaml")
	log "starting tlsgate (serve, mTLS) on 127.0.0.1:$MA_PORT (CPU $PROXY_CPU)"
	taskset -c "$PROXY_CPU" "${TLSGATE_M_CMD[@]}" >"$T/tlsgate-mtls.log" 2>&1 &
	TLSGATE_M_PID=$!
	STARTED_PIDS+=("$TLSGATE_M_PID")
	wait_ready "tlsgate (mTLS)" "$TLSGATE_M_PID" "https://127.0.0.1:$MA_PORT/" --cacert "$CA" \
		--cert "$CLIENT_CERT" --key "$CLIENT_KEY"
fi

# routes: two `tlsgate serve` instances, one site each, same upstream; A's
# routes come from GitHub's OpenAPI document (routes_from), B has one route.
# bench/openapi.sh runs just this scenario.
TLSGATE_RA_PID="" TLSGATE_RB_PID="" TLSGATE_R_CMD=()
if ((WANT_ROUTES)); then
	cp "$SPEC" "$T/gh.json"
	for c in gh one; do
		if [[ $c == gh ]]; then p=$RA_PORT; else p=$RB_PORT; fi
		{
			echo "data_dir: $T/tlsgate-data-$c"
			echo "listen: {https: \"127.0.0.1:$p\", http: \"off\"}"
			echo "log: {format: json, access: false, level: warn}"
			echo "sites:"
			echo "  - hosts: [localhost, 127.0.0.1]"
			echo "    default: true"
			echo "    tls: {certificate: {cert: $CERT, key: $KEY}}"
			if [[ $c == gh ]]; then
				echo "    routes_from: {openapi: gh.json, upstreams: [\"http://127.0.0.1:$BACKEND_PORT\"]}"
			else
				echo "    routes: [{path: /repos/, upstreams: [\"http://127.0.0.1:$BACKEND_PORT\"]}]"
			fi
		} >"$T/routes-$c.yaml"
		mkdir -p "$T/tlsgate-data-$c"
		"$T/tlsgate" config validate "$T/routes-$c.yaml" >"$T/tlsgate-validate.log" 2>&1 ||
			{ cat "$T/tlsgate-validate.log" >&2; die "tlsgate config validate failed for $T/routes-$c.yaml"; }
		TLSGATE_R_CMD=("$T/tlsgate" serve --config "$T/routes-$c.yaml")
		log "starting tlsgate (serve, routes: $c) on 127.0.0.1:$p (CPU $PROXY_CPU)"
		taskset -c "$PROXY_CPU" "${TLSGATE_R_CMD[@]}" >"$T/tlsgate-routes-$c.log" 2>&1 &
		pid=$!
		STARTED_PIDS+=("$pid")
		if [[ $c == gh ]]; then TLSGATE_RA_PID=$pid; else TLSGATE_RB_PID=$pid; fi
		wait_ready "tlsgate (routes: $c)" "$pid" "https://127.0.0.1:$p$ROUTES_PATH" --cacert "$CA"
	done
fi

mkdir -p "$T/nginx/tmp" "$T/nginx/logs"
# `user` only matters when nginx runs as root (it does here): keep the workers
# as the invoking user so they can use the temp dir. Ignored (with a warning)
# for non-root users.
# write_nginx_conf FILE PORT PIDFILE MTLS(0|1) EQ(0|1): the nginx config of
# side B (the idle_*/burst scenarios start extra nginx instances from it).
write_nginx_conf() {
	local file=$1 port=$2 pidfile=$3 mtls=$4 eq=${5:-0}
	# Every server block's TLS: the same leaf, protocols, suites and
	# session resumption.
	local tls="ssl_certificate     $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        # Same TLS 1.3 suite as Go picks on AES-NI hardware (AES-128-GCM),
        # so both sides do the same bulk crypto.
        ssl_prefer_server_ciphers on;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
        ssl_session_cache shared:BENCHSSL:10m;
        ssl_session_timeout 1h;
        ssl_session_tickets on;"
	cat >"$file" <<EOF
user $(id -un) $(id -gn);
worker_processes 1;
pid $pidfile;
worker_rlimit_nofile $NGINX_CONNS;
error_log $T/nginx-error.log warn;
events {
    worker_connections $NGINX_CONNS;
}
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $T/nginx/tmp/client_body;
    proxy_temp_path       $T/nginx/tmp/proxy;
    fastcgi_temp_path     $T/nginx/tmp/fastcgi;
    uwsgi_temp_path       $T/nginx/tmp/uwsgi;
    scgi_temp_path        $T/nginx/tmp/scgi;

    # Do not recycle client connections every 1000 requests (nginx default);
    # tlsgate (Go net/http) does not either, and wrk/h2load would otherwise
    # pay for extra handshakes on the nginx side only.
    keepalive_requests 1000000;
    keepalive_timeout 75s;

    upstream bench_backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }

    server {
        listen 127.0.0.1:$port ssl http2;
        server_name localhost;

        $tls

        location / {
            proxy_pass http://bench_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
$( ((mtls)) && cat <<EOM

    # mTLS: same certificate, TLS settings and upstream; a client
    # certificate from the client CA is required (none: HTTP 400).
    server {
        listen 127.0.0.1:$MB_PORT ssl http2;
        server_name localhost;

        $tls

        ssl_verify_client on;
        ssl_client_certificate $CLIENT_CA;

        location / {
            proxy_pass http://bench_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # tlsgate always passes the verified identity upstream
            # (X-Client-Verify/-DN/-Cert/-Fingerprint); do the same here.
            proxy_set_header X-Client-Verify      \$ssl_client_verify;
            proxy_set_header X-Client-DN          \$ssl_client_s_dn;
            proxy_set_header X-Client-Cert        \$ssl_client_escaped_cert;
            proxy_set_header X-Client-Fingerprint \$ssl_client_fingerprint;
        }
    }
EOM
)
$( ((eq)) && cat <<EOM

    # *_eq: the same as the first server block, plus the header fields
    # tlsgate adds by default, so that both do the same work per request
    # (the sanity checks compare them with tlsgate's): to the client HSTS,
    # X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Alt-Svc and
    # the request ID; to the upstream X-Forwarded-For/-Host/-Proto (the
    # client's own replaced), the request ID, and no Forwarded.
    server {
        listen 127.0.0.1:$EB_PORT ssl http2;
        server_name localhost;

        $tls

        location / {
            proxy_pass http://bench_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Forwarded "";
            proxy_set_header X-Forwarded-For   \$remote_addr;
            proxy_set_header X-Forwarded-Host  \$http_host;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Request-Id      \$request_id;
            add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
            add_header X-Content-Type-Options nosniff always;
            add_header X-Frame-Options DENY always;
            add_header Referrer-Policy strict-origin-when-cross-origin always;
            add_header Alt-Svc 'h3=":$EB_PORT"; ma=86400' always;
            add_header X-Request-Id \$request_id always;
        }
    }
EOM
)
}
EOF
}
write_nginx_conf "$T/nginx.conf" "$B_PORT" "$T/nginx/nginx.pid" "$WANT_MTLS" "$WANT_EQ"
NGINX_CMD=("$NGINX_BIN" -p "$T/nginx/" -e "$T/nginx-error.log" -c "$T/nginx.conf" -g 'daemon off;')
"${NGINX_CMD[@]}" -t -q 2>"$T/nginx-t.log" || { cat "$T/nginx-t.log" >&2; die "nginx config test failed"; }
log "starting nginx on 127.0.0.1:$B_PORT (CPU $PROXY_CPU)"
taskset -c "$PROXY_CPU" "${NGINX_CMD[@]}" >>"$T/nginx-error.log" 2>&1 &
NGINX_PID=$!
STARTED_PIDS+=("$NGINX_PID")
wait_ready nginx "$NGINX_PID" "https://127.0.0.1:$B_PORT/" --cacert "$CA"
if ((WANT_MTLS)); then
	wait_ready "nginx (mTLS)" "$NGINX_PID" "https://127.0.0.1:$MB_PORT/" --cacert "$CA" \
		--cert "$CLIENT_CERT" --key "$CLIENT_KEY"
fi
if ((WANT_EQ)); then
	wait_ready "nginx (tlsgate's header fields)" "$NGINX_PID" "https://127.0.0.1:$EB_PORT/" --cacert "$CA"
fi
for ((i = 0; i < 50; i++)); do
	mapfile -t NGINX_WORKERS < <(pgrep -P "$NGINX_PID" || true)
	((${#NGINX_WORKERS[@]} >= 1)) && break
	sleep 0.1
done
((${#NGINX_WORKERS[@]} >= 1)) || die "nginx has no worker process"

# ---------------------------------------------------------------- CPU accounting
# All processes of a proxy: the main PID plus its direct children
# (nginx: master + workers; tlsgate: normally just itself).
# Side A of the mtls_* scenarios (AM) is the second tlsgate (serve mode);
# nginx serves both of its server blocks from the same processes.
proxy_pids() { # A|AM|RA|RB|B, or a PID
	local main
	case $1 in A) main=$TLSGATE_PID ;; AM) main=$TLSGATE_M_PID ;; RA) main=$TLSGATE_RA_PID ;;
	RB) main=$TLSGATE_RB_PID ;; B) main=$NGINX_PID ;; *) main=$1 ;; esac
	# shellcheck disable=SC2046 # one PID per word
	echo "$main" $(pgrep -P "$main" | sort -n || true)
}
# utime+stime (fields 14 and 15 of /proc/PID/stat), in clock ticks, summed.
cpu_ticks() {
	local pid s f total=0
	for pid in "$@"; do
		s=$(cat "/proc/$pid/stat") || die "cannot read /proc/$pid/stat (process gone?)"
		s=${s##*) }   # drop "pid (comm) " -- comm may contain spaces
		read -r -a f <<<"$s"
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}
PIDS_A=$(proxy_pids A)
PIDS_B=$(proxy_pids B)
PIDS_AM="" PIDS_RA="" PIDS_RB=""
if ((WANT_MTLS)); then PIDS_AM=$(proxy_pids AM); fi
if ((WANT_ROUTES)); then PIDS_RA=$(proxy_pids RA) PIDS_RB=$(proxy_pids RB); fi

# ---------------------------------------------------------------- sanity checks
BODY_DIRECT=$(curl -fsS --max-time 5 "http://127.0.0.1:$BACKEND_PORT/")
declare -A NEGOTIATED
for side in A B; do
	if [[ $side == A ]]; then port=$A_PORT name=tlsgate; else port=$B_PORT name=nginx; fi
	base="https://127.0.0.1:$port"
	body=$(curl -fsS --max-time 5 --cacert "$CA" "$base/") || die "$name: GET / failed"
	[[ "$body" == "$BODY_DIRECT" ]] || die "$name: GET / body differs from the backend's: '$body'"
	size=$(curl -fsS --max-time 5 --cacert "$CA" -o /dev/null -w '%{size_download}' "$base/16k") || die "$name: GET /16k failed"
	[[ "$size" == 16384 ]] || die "$name: GET /16k returned $size bytes, want 16384"
	v=$(curl -fsS --max-time 5 --cacert "$CA" --http2 -o /dev/null -w '%{http_version}' "$base/") || die "$name: h2 GET failed"
	[[ "$v" == 2 ]] || die "$name: curl --http2 negotiated HTTP/$v, want HTTP/2"
	v=$(curl -fsS --max-time 5 --cacert "$CA" --http1.1 -o /dev/null -w '%{http_version}' "$base/") || die "$name: h1 GET failed"
	[[ "$v" == 1.1 ]] || die "$name: curl --http1.1 negotiated HTTP/$v"
	curl -fsS --max-time 5 --cacert "$CA" --tlsv1.2 --tls-max 1.2 -o /dev/null "$base/" || die "$name: TLS 1.2 handshake failed"
	# What a stock OpenSSL client (like wrk/h2load) negotiates.
	sc=$({ timeout 10 openssl s_client -connect "127.0.0.1:$port" -alpn h2,http/1.1 \
		-CAfile "$CA" </dev/null 2>&1 || true; } | tr -d '\000')
	proto=$(awk '/^New, /{ sub(/,$/, "", $2); print $2; exit }' <<<"$sc")   # "New, TLSv1.3, Cipher is X"
	ciph=$(awk '/^New, /{ print $NF; exit }' <<<"$sc")
	group=$(awk -F': ' '/^Server Temp Key/{ sub(/,.*/, "", $2); print $2; exit }' <<<"$sc")
	alpn=$(awk -F': ' '/^ALPN protocol/{ print $2; exit }' <<<"$sc")
	NEGOTIATED[$side]="${proto:-?} ${ciph:-?} ${group:-?} ALPN=${alpn:-none}"
	log "$name ok: body/16k/h2/h1.1/TLS1.2 checks passed; openssl client gets: ${NEGOTIATED[$side]}"
done

hsload_counts() { # FILE -> "requests errors"
	awk 'match($0, /"requests":[0-9]+,"errors":[0-9]+/) { s = substr($0, RSTART, RLENGTH); gsub(/[^0-9,]/, "", s); sub(/,/, " ", s); print s; exit }' "$1"
}
if ((WANT_MTLS)); then
	# Without a client certificate the route must be refused (tlsgate: 403
	# from the route's client_auth: require; nginx: 400 from
	# ssl_verify_client on); with it, 200 and the backend's body.
	for side in A B; do
		if [[ $side == A ]]; then port=$MA_PORT name="tlsgate (mTLS)" want=403; else port=$MB_PORT name="nginx (mTLS)" want=400; fi
		base="https://127.0.0.1:$port"
		code=$(curl -sS --max-time 5 --cacert "$CA" --http1.1 -o /dev/null -w '%{http_code}' "$base/") ||
			die "$name: GET / without a client certificate failed at the TLS level (want HTTP $want)"
		[[ "$code" == "$want" ]] || die "$name: GET / without a client certificate gave HTTP $code, want $want"
		code=$(curl -sS --max-time 5 --cacert "$CA" --http2 -o /dev/null -w '%{http_code}' "$base/") ||
			die "$name: h2 GET / without a client certificate failed at the TLS level (want HTTP $want)"
		[[ "$code" == "$want" ]] || die "$name: h2 GET / without a client certificate gave HTTP $code, want $want"
		code=$(curl -sS --max-time 5 --cacert "$CA" --http1.1 --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
			-o "$T/mtls-body.$side" -w '%{http_code}' "$base/") || die "$name: GET / with the client certificate failed"
		[[ "$code" == 200 ]] || die "$name: GET / with the client certificate gave HTTP $code, want 200"
		[[ "$(cat "$T/mtls-body.$side")" == "$BODY_DIRECT" ]] || die "$name: body with the client certificate differs from the backend's"
		# A certificate from another CA (the server leaf) must not get through either.
		code=$(curl -sS --max-time 5 --cacert "$CA" --http1.1 --cert "$CERT" --key "$KEY" -o /dev/null -w '%{http_code}' "$base/" 2>/dev/null) || code="TLS alert"
		[[ "$code" != 200 ]] || die "$name: a client certificate from another CA was accepted"
		# hsload as the scenarios use it: with the certificate every request
		# gets a 2xx, without it none does (in both of its modes).
		for mode in "" -keepalive; do
			timeout 30 "$T/hsload" -url "$base/" -c 2 -d 5s -n 6 $mode -cacert "$CA" -cert "$CLIENT_CERT" -key "$CLIENT_KEY" \
				>"$T/mtls-hs.$side" 2>&1 || die "$name: hsload $mode with the client certificate failed: $(cat "$T/mtls-hs.$side")"
			[[ $(hsload_counts "$T/mtls-hs.$side") == "6 0" ]] || die "$name: hsload $mode with the client certificate: $(cat "$T/mtls-hs.$side")"
			timeout 30 "$T/hsload" -url "$base/" -c 1 -d 5s -n 2 $mode -cacert "$CA" \
				>"$T/mtls-hs.$side" 2>&1 || die "$name: hsload $mode without a client certificate did not run: $(cat "$T/mtls-hs.$side")"
			[[ $(hsload_counts "$T/mtls-hs.$side") == "0 2" ]] || die "$name: hsload $mode without a client certificate was not refused: $(cat "$T/mtls-hs.$side")"
		done
		log "$name ok: no client cert -> HTTP $want (curl h1/h2, hsload), other CA's cert -> $code, client cert -> 200 with the backend's body"
	done
fi

if ((WANT_EQ)); then
	# The *_eq server block must add what tlsgate adds: every response field
	# tlsgate sets that the backend did not (less Date and Server, which
	# both send anyway), and the same request fields at the backend.
	fields() { # CURL ARGS... -> the response's field names, lower case, sorted
		curl -fsS --max-time 5 --cacert "$CA" -o /dev/null -D - "$@" | tr -d '\r' |
			awk -F: 'NR > 1 && NF > 1 { print tolower($1) }' | sort -u
	}
	direct=$(curl -fsS --max-time 5 -o /dev/null -D - "http://127.0.0.1:$BACKEND_PORT/" | tr -d '\r' |
		awk -F: 'NR > 1 && NF > 1 { print tolower($1) }' | sort -u)
	for v in --http1.1 --http2; do
		added=$(comm -23 <(fields "$v" "https://127.0.0.1:$A_PORT/") <(printf '%s\n' "$direct" date server | sort -u))
		missing=$(comm -23 <(printf '%s\n' "$added") <(fields "$v" "https://127.0.0.1:$EB_PORT/"))
		[[ -z $missing ]] || die "nginx (*_eq, $v): lacks response fields tlsgate adds: $(echo $missing)"
	done
	up_a=$(curl -fsS --max-time 5 --cacert "$CA" --http1.1 "https://127.0.0.1:$A_PORT/headers") || die "tlsgate: GET /headers failed"
	up_b=$(curl -fsS --max-time 5 --cacert "$CA" --http1.1 "https://127.0.0.1:$EB_PORT/headers") || die "nginx (*_eq): GET /headers failed"
	[[ $up_a == "$up_b" ]] || die "request fields at the backend differ: tlsgate sends $(echo $up_a), nginx (*_eq) $(echo $up_b)"
	log "nginx (*_eq) ok: adds $(echo $added) to responses, as tlsgate; the backend sees the same request fields from both: $(echo $up_a)"
fi

if [[ " $SCENARIOS " == *" h3 "* ]]; then
	# HTTP/3 on tlsgate's UDP port (same as HTTPS), advertised by Alt-Svc;
	# h3load checks every response is HTTP/3.
	altsvc=$(curl -fsS --max-time 5 --cacert "$CA" -o /dev/null -D - "https://127.0.0.1:$A_PORT/" | tr -d '\r' | awk -F': ' 'tolower($1) == "alt-svc" { print $2 }')
	[[ $altsvc == "h3=\":$A_PORT\""* ]] || die "tlsgate: no Alt-Svc h3 for port $A_PORT on HTTPS responses (got '$altsvc')"
	timeout 30 "$T/h3load" -url "https://127.0.0.1:$A_PORT/" -c 1 -m 1 -d 2s -cacert "$CA" >"$T/h3-check" 2>&1 ||
		die "tlsgate: h3load failed: $(cat "$T/h3-check")"
	[[ $(awk 'match($0, /"errors":[0-9]+/) { print substr($0, RSTART + 9, RLENGTH - 9) }' "$T/h3-check") == 0 ]] ||
		die "tlsgate: h3load saw errors: $(cat "$T/h3-check")"
	log "tlsgate HTTP/3 ok: Alt-Svc $altsvc; h3load: $(cat "$T/h3-check")"
fi

if ((WANT_ROUTES)); then
	for side in A B; do
		if [[ $side == A ]]; then port=$RA_PORT name="tlsgate (routes: spec)"; else port=$RB_PORT name="tlsgate (routes: one)"; fi
		body=$(curl -fsS --max-time 5 --cacert "$CA" "https://127.0.0.1:$port$ROUTES_PATH") || die "$name: GET $ROUTES_PATH failed"
		[[ "$body" == "$BODY_DIRECT" ]] || die "$name: GET $ROUTES_PATH body differs from the backend's: '$body'"
	done
	code=$(curl -sS --max-time 5 --cacert "$CA" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$RA_PORT/no/such/operation") ||
		die "tlsgate (routes: spec): GET /no/such/operation failed"
	[[ $code != 200 ]] || die "tlsgate (routes: spec): a path that is no operation of the spec got 200: routes_from is not in effect"
	log "routes ok: GET $ROUTES_PATH -> backend body on both; spec site answers $code for a path outside the spec"
fi

log "PIDs (attach pprof/perf here): tlsgate=$TLSGATE_PID${TLSGATE_M_PID:+  tlsgate (mTLS)=$TLSGATE_M_PID}${TLSGATE_RA_PID:+  tlsgate (routes: spec/one)=$TLSGATE_RA_PID/$TLSGATE_RB_PID}  nginx master+workers=$PIDS_B  backend=$BACKEND_PID"
log "logs: $T/tlsgate.log${TLSGATE_M_PID:+ $T/tlsgate-mtls.log} $T/nginx-error.log $T/backend.log"

# ---------------------------------------------------------------- scenarios
scenario_title() {
	case $1 in
	h1) echo "HTTP/1.1 keep-alive, 66 B body" ;;
	h1_eq) echo "HTTP/1.1 keep-alive, 66 B body; nginx adding tlsgate's header fields" ;;
	h2) echo "HTTP/2, 66 B body" ;;
	h2_eq) echo "HTTP/2, 66 B body; nginx adding tlsgate's header fields" ;;
	full) echo "TLS 1.3 full handshake, 1 req/conn" ;;
	resume) echo "TLS 1.3 resumed handshake, 1 req/conn" ;;
	h1_16k) echo "HTTP/1.1 keep-alive, 16 KiB body" ;;
	h1_16k_eq) echo "HTTP/1.1 keep-alive, 16 KiB body; nginx adding tlsgate's header fields" ;;
	lat_h1) echo "latency of HTTP/1.1 keep-alive, 66 B body, at the same offered load ($LAT_OFFERED req/s, Poisson arrivals)" ;;
	lat_16k) echo "latency of HTTP/1.1 keep-alive, 16 KiB body, at the same offered load ($LAT_OFFERED req/s, Poisson arrivals)" ;;
	mtls_full) echo "mTLS: TLS 1.3 full handshake with a client certificate, 1 req/conn" ;;
	mtls_h1) echo "mTLS: HTTP/1.1 keep-alive with a client certificate, 66 B body" ;;
	idle_h1) echo "memory per idle HTTP/1.1 keep-alive connection ($IDLE_CONNS connections, one request each)" ;;
	idle_h2) echo "memory per idle HTTP/2 connection ($IDLE_CONNS connections, one request each)" ;;
	burst) echo "memory before / at / ${BURST_SETTLE}s after a burst of $BURST_CONNS HTTP/2 connections" ;;
	routes) echo "tlsgate: site with GitHub's OpenAPI routes (routes_from) vs a one-route site, HTTP/1.1 keep-alive" ;;
	h3) echo "tlsgate: HTTP/3 (h3load) vs its own HTTP/2 (h2load), 66 B body" ;;
	esac
}
tool_of() { case ${1%_eq} in h1 | h1_16k | routes) echo wrk ;; h2) echo h2load ;; lat_*) echo hsload_lat ;; h3) echo h3load ;; *) echo hsload ;; esac; }
is_mtls() { [[ $1 == mtls_* ]]; }

# load_cmd SCENARIO PORT SECONDS -> sets LOAD (array)
load_cmd() {
	local url="https://127.0.0.1:$2" d=$3
	case ${1%_eq} in
	h1) LOAD=(wrk -t1 "-c$CONNS" "-d${d}s" --latency --timeout 10s "$url/") ;;
	h1_16k) LOAD=(wrk -t1 "-c$CONNS" "-d${d}s" --latency --timeout 10s "$url/16k") ;;
	routes) LOAD=(wrk -t1 "-c$CONNS" "-d${d}s" --latency --timeout 10s "$url$ROUTES_PATH") ;;
	idle_h1 | idle_h2 | burst) # hold mode; the count is set by the caller (HOLD_N)
		local proto=h1
		[[ $1 == idle_h1 ]] || proto=h2
		LOAD=("$T/hsload" -url "$url/" -hold "${HOLD_N:-N}" -proto "$proto" -c "$HOLD_PAR" -d "${d}s" -timeout 30s -cacert "$CA") ;;
	h2) LOAD=(h2load -t1 -c "$CONNS" -m "$H2_STREAMS" -D "$d" "$url/") ;;
	# Open loop at a fixed rate below both proxies' capacity: requests
	# arrive as a Poisson process of LAT_RPS a second over CONNS HTTP/1.1
	# keep-alive connections, whether or not the answers keep up; each
	# request's latency counts from its scheduled arrival.
	lat_h1 | lat_16k)
		local path=/
		[[ $1 == lat_16k ]] && path=/16k
		LOAD=("$T/hsload" -url "$url$path" -c "$CONNS" -d "${d}s" -keepalive -rate "$LAT_RPS" -cacert "$CA") ;;
	# Debian's h2load has no HTTP/3: h3load (quic-go's client), same
	# connections and requests in flight as h2 (side B of h3 runs exactly that).
	h3) LOAD=("$T/h3load" -url "$url/" -c "$CONNS" -m "$H2_STREAMS" -d "${d}s" -cacert "$CA") ;;
	full) LOAD=("$T/hsload" -url "$url/" -c "$HS_CONNS" -d "${d}s" -n 10000000 -cacert "$CA") ;;
	resume) LOAD=("$T/hsload" -url "$url/" -c "$HS_CONNS" -d "${d}s" -n 10000000 -cacert "$CA" -resume) ;;
	mtls_full) LOAD=("$T/hsload" -url "$url/" -c "$HS_CONNS" -d "${d}s" -n 10000000 -cacert "$CA"
		-cert "$CLIENT_CERT" -key "$CLIENT_KEY") ;;
	mtls_h1) LOAD=("$T/hsload" -url "$url/" -c "$CONNS" -d "${d}s" -n 100000000 -keepalive -cacert "$CA"
		-cert "$CLIENT_CERT" -key "$CLIENT_KEY") ;;
	esac
}

# Parsers print: requests errors non2xx req_per_sec p99_ms MiB_per_sec resumed
parse_wrk() {
	awk '
	function ms(v,   n, u) { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") return n / 1000; if (u == "ms") return n; if (u == "s") return n * 1000
		if (u == "m") return n * 60000; if (u == "h") return n * 3600000; return -1 }
	function mib(v,   n, u) { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "B") return n / 1048576; if (u == "KB") return n / 1024; if (u == "MB") return n
		if (u == "GB") return n * 1024; if (u == "TB") return n * 1048576; return -1 }
	/ requests in / { req = $1 }
	/Socket errors:/ { line = $0; gsub(/,/, "", line); split(line, f, " "); err = f[4] + f[6] + f[8] + f[10] }
	/Non-2xx or 3xx responses:/ { non = $NF }
	$1 == "99%" { p99 = ms($2) }
	/^Requests\/sec:/ { rps = $2 }
	/^Transfer\/sec:/ { mbs = mib($2) }
	END { if (req == "" || rps == "") exit 1
		printf "%d %d %d %.2f %.3f %.2f 0\n", req, err + 0, non + 0, rps, (p99 == "" ? -1 : p99), mbs }
	' "$1"
}
parse_h2load() {
	awk '
	/^finished in/ { rps = $4 }
	/^requests:/ { ok = $8; failed = $10; errored = $12; tmo = $14 }
	/^status codes:/ { non = $5 + $7 + $9 }
	/^Application protocol:/ { proto = $3 }
	END { if (ok == "" || rps == "") exit 1
		if (proto != "h2") { print "h2load did not negotiate h2 (Application protocol: " proto ")" > "/dev/stderr"; exit 1 }
		e = failed; if (errored + tmo > e) e = errored + tmo
		printf "%d %d %d %.2f -1 -1 0\n", ok, e, non, rps }
	' "$1"
}
# parse_hsload_lat: hsload -rate; p99 from its "latency_ms" (nearest rank
# over every answered request).
parse_hsload_lat() {
	local p99
	p99=$(grep -o '"p99":[0-9.eE+-]*' "$1" | cut -d: -f2) && [[ -n $p99 ]] || return 1
	parse_hsload "$1" | awk -v p="$p99" '{ $5 = sprintf("%.3f", p); print }'
}
parse_h3load() { parse_hsload "$1"; } # h3load prints hsload's JSON
parse_hsload() {
	awk '
	function num(key,   m) { if (match($0, "\"" key "\":[0-9.eE+-]+")) { m = substr($0, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m + 0 } return "" }
	/"requests":/ { req = num("requests"); err = num("errors"); res = num("resumed"); sec = num("seconds"); non = num("non2xx") }
	END { if (req == "" || sec == "" || sec <= 0) exit 1
		printf "%d %d %d %.2f -1 -1 %d\n", req, err, non, req / sec, res }
	' "$1"
}

run_once() { # SCENARIO SIDE ROUND SECONDS MEASURED(0|1)
	local scen=$1 side=$2 round=$3 d=$4 measured=$5 port pids want_pids c0 c1 rc tool outf name pside=$2
	if is_mtls "$scen"; then
		if [[ $side == A ]]; then port=$MA_PORT name=tlsgate pside=AM want_pids=$PIDS_AM; else port=$MB_PORT name=nginx want_pids=$PIDS_B; fi
	elif [[ $scen == routes ]]; then
		if [[ $side == A ]]; then port=$RA_PORT name=tlsgate-spec pside=RA want_pids=$PIDS_RA; else port=$RB_PORT name=tlsgate-1route pside=RB want_pids=$PIDS_RB; fi
	elif is_eq "$scen"; then # side B is nginx's server block with tlsgate's header fields
		if [[ $side == A ]]; then port=$A_PORT name=tlsgate want_pids=$PIDS_A; else port=$EB_PORT name=nginx-eq want_pids=$PIDS_B; fi
	elif [[ $scen == h3 ]]; then # one tlsgate; side B is its HTTP/2
		port=$A_PORT pside=A want_pids=$PIDS_A
		if [[ $side == A ]]; then name=tlsgate-h3; else name=tlsgate-h2; fi
	else
		if [[ $side == A ]]; then port=$A_PORT name=tlsgate want_pids=$PIDS_A; else port=$B_PORT name=nginx want_pids=$PIDS_B; fi
	fi
	if [[ $scen == h3 && $side == B ]]; then
		load_cmd h2 "$port" "$d"
		tool=h2load
	else
		load_cmd "$scen" "$port" "$d"
		tool=$(tool_of "$scen")
	fi
	outf="$T/out.$scen.$side.$round"
	pids=$(proxy_pids "$pside")
	[[ "$pids" == "$want_pids" ]] || die "$name process set changed (crashed worker?): '$want_pids' -> '$pids'"
	# shellcheck disable=SC2086 # $pids: one PID per word
	c0=$(cpu_ticks $pids)
	set +e
	timeout -k 5 $((d + 60)) taskset -c "$LOAD_CPU" "${LOAD[@]}" >"$outf" 2>"$outf.err"
	rc=$?
	set -e
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	((measured)) || { ((rc == 0)) || die "warm-up of $scen on $name failed (exit $rc): $(cat "$outf.err")"; return 0; }
	if [[ $scen == resume ]] && ((rc == 3)); then
		cat "$outf" "$outf.err" >&2
		die "resume on $name: hsload -resume saw 0 resumed handshakes -- TLS 1.3 session tickets are not working"
	fi
	if ((rc != 0)); then
		cat "$outf" "$outf.err" >&2
		die "$scen on $name: '${LOAD[*]}' exited with $rc"
	fi
	local parsed
	parsed=$("parse_$tool" "$outf") || { cat "$outf" "$outf.err" >&2; die "$scen on $name: could not parse $tool output"; }
	local req err non rps p99 mbs res
	read -r req err non rps p99 mbs res <<<"$parsed"
	((req > 0)) || { cat "$outf" >&2; die "$scen on $name: zero successful requests"; }
	((non == 0)) || { cat "$outf" >&2; die "$scen on $name: $non non-2xx responses"; }
	if ((err * 100 > (req + err) * MAX_ERR_PCT)); then
		cat "$outf" "$outf.err" >&2
		die "$scen on $name: $err errors out of $((req + err)) (> $MAX_ERR_PCT%)"
	fi
	if [[ $scen == lat_* ]]; then
		# the load offered must be the load served, or the proxy was saturated
		if awk -v r="$rps" -v o="$LAT_OFFERED" 'BEGIN { exit !(r < 0.95 * o) }'; then
			LAT_SHORT+=("$name round $round: $(printf '%.0f' "$rps") of $LAT_OFFERED req/s")
			log "WARNING: $scen on $name served $(printf '%.0f' "$rps") req/s of $LAT_OFFERED offered: saturated, so its p99 is not at the same load (lower LAT_RPS)"
		fi
	fi
	if [[ $scen == resume ]] && ((res == 0)); then
		cat "$outf" >&2
		die "resume on $name: hsload -resume saw 0 resumed handshakes -- session tickets are not working"
	fi
	if [[ $scen == full || $scen == mtls_full ]] && ((res != 0)); then die "$scen on $name: $res connections resumed without a session cache?!"; fi
	local cpu_us
	cpu_us=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
	printf '%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%d\n' \
		"$scen" "$side" "$round" "$req" "$err" "$non" "$rps" "$p99" "$mbs" "$cpu_us" "$res" $((c1 - c0)) >>"$RAW"
	local extra=""
	(((c1 - c0) < 50)) && extra+=" [only $((c1 - c0)) CPU ticks: low confidence]"
	[[ $p99 != -1 ]] && extra+=" p99=${p99}ms"
	[[ $mbs != -1 ]] && extra+=" ${mbs}MiB/s"
	[[ $scen == resume ]] && extra+=" resumed=$res/$req"
	log "$(printf '%-9s %-7s round %d/%d: %9.0f req/s  %7.2f CPU-us/req  (%d req, %d err, %d ticks)%s' \
		"$scen" "$name" "$round" "$ROUNDS" "$rps" "$cpu_us" "$req" "$err" $((c1 - c0)) "$extra")"
}

# ---------------------------------------------------------------- memory (idle_*, burst)
# Memory of a proxy = the sum of Pss ("proportional set size", from
# /proc/PID/smaps_rollup) over its processes, in kB. For nginx this counts
# the pages master and worker share once (VmRSS would count them twice); for
# the single tlsgate process Pss is its resident memory less what it shares
# with other processes (nothing but the vdso for a static Go binary).
# The fresh tlsgate runs its own copy of the binary, so that its text pages
# are not shared with (and their Pss split among) the other tlsgates.
# rss_kb (sum of VmRSS) goes to the log next to it, for comparison.
mem_kb() { # PIDS...
	local pid total=0 v
	for pid in "$@"; do
		v=$(awk '/^Pss:/ { print $2; exit }' "/proc/$pid/smaps_rollup" 2>/dev/null) ||
			die "cannot read /proc/$pid/smaps_rollup (process gone?)"
		[[ -n $v ]] || die "no Pss in /proc/$pid/smaps_rollup"
		total=$((total + v))
	done
	echo "$total"
}
rss_kb() { # PIDS...
	local pid total=0 v
	for pid in "$@"; do
		v=$(awk '/^VmRSS:/ { print $2; exit }' "/proc/$pid/status" 2>/dev/null) || die "cannot read /proc/$pid/status"
		total=$((total + ${v:-0}))
	done
	echo "$total"
}
cp "$T/tlsgate" "$T/tlsgate-mem"
MEMRAW="$T/mem.tsv" # scenario side round conns before_kB peak_kB after_kB ("-" = none): idle_*: peak = IDLE_SETTLE, after = IDLE_SETTLE2 reading
: >"$MEMRAW"
write_nginx_conf "$T/nginx-mem.conf" "$MEMB_PORT" "$T/nginx/mem.pid" 0
forget_pid() { # PID: no longer ours to kill on exit
	local keep=() p
	for p in "${STARTED_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	STARTED_PIDS=("${keep[@]}")
}
stop_pid() { # PID [SIGNAL]: signal it, wait for it, forget it
	kill "-${2:-TERM}" "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}
# fresh_start A|B: a fresh proxy of that side on its own port (MEMA_PORT /
# MEMB_PORT), one HTTP/1.1 and one HTTP/2 request through it; sets FRESH_PID,
# FRESH_PIDS (main + children) and FRESH_PORT.
fresh_start() {
	local side=$1 i w=()
	if [[ $side == A ]]; then
		FRESH_PORT=$MEMA_PORT
		taskset -c "$PROXY_CPU" "$T/tlsgate-mem" proxy --from "127.0.0.1:$FRESH_PORT" --to "http://127.0.0.1:$BACKEND_PORT" \
			--cert "$CERT" --key "$KEY" --access-log=false >>"$T/tlsgate-mem.log" 2>&1 &
	else
		FRESH_PORT=$MEMB_PORT
		# shellcheck disable=SC2094 # nginx -e names its log; the shell does not read it
		taskset -c "$PROXY_CPU" "$NGINX_BIN" -p "$T/nginx/" -e "$T/nginx-error.log" -c "$T/nginx-mem.conf" -g 'daemon off;' \
			>>"$T/nginx-error.log" 2>&1 &
	fi
	FRESH_PID=$!
	STARTED_PIDS+=("$FRESH_PID")
	wait_ready "fresh $side" "$FRESH_PID" "https://127.0.0.1:$FRESH_PORT/" --cacert "$CA"
	curl -fsS --max-time 5 --cacert "$CA" --http2 -o /dev/null "https://127.0.0.1:$FRESH_PORT/" || die "fresh $side: h2 GET failed"
	if [[ $side == B ]]; then
		for ((i = 0; i < 50; i++)); do
			mapfile -t w < <(pgrep -P "$FRESH_PID" || true)
			((${#w[@]} >= 1)) && break
			sleep 0.1
		done
		((${#w[@]} >= 1)) || die "fresh nginx has no worker process"
	fi
	FRESH_PIDS=$(proxy_pids "$FRESH_PID")
}
fresh_stop() { # PID
	local i
	stop_pid "$1"
	for ((i = 0; i < 50; i++)); do port_in_use "$FRESH_PORT" || return 0; sleep 0.1; done
	die "fresh proxy on port $FRESH_PORT still listening after it exited"
}
# hold_start SCENARIO SIDE PORT N: hsload -hold N on PORT; waits for its
# "ready" line; sets HOLD_PID, HOLD_OUT. Fails on errors above MAX_ERR_PCT.
hold_start() {
	local scen=$1 side=$2 port=$3 n=$4 i line opened errs
	HOLD_N=$n load_cmd "$scen" "$port" 600
	HOLD_OUT="$T/out.$scen.$side.hold"
	timeout -k 5 660 taskset -c "$LOAD_CPU" "${LOAD[@]}" >"$HOLD_OUT" 2>"$HOLD_OUT.err" &
	HOLD_PID=$!
	STARTED_PIDS+=("$HOLD_PID")
	# Opening is bounded by the per-connection -timeout (30 s) x N / HOLD_PAR.
	for ((i = 0; i < 6000; i++)); do
		line=$(grep -m1 '^ready ' "$HOLD_OUT" 2>/dev/null || true)
		[[ -n $line ]] && break
		proc_alive "$HOLD_PID" || { cat "$HOLD_OUT" "$HOLD_OUT.err" >&2; die "$scen: hsload -hold exited before it was ready"; }
		sleep 0.1
	done
	[[ -n $line ]] || die "$scen: hsload -hold not ready after 600 s"
	opened=$(sed -E 's/.*"opened":([0-9]+).*/\1/' <<<"$line")
	errs=$(sed -E 's/.*"errors":([0-9]+).*/\1/' <<<"$line")
	if ((opened == 0 || errs * 100 > n * MAX_ERR_PCT)); then
		echo "$line" >&2
		die "$scen on side $side: $errs of $n connections failed (> $MAX_ERR_PCT%)"
	fi
	HOLD_OPENED=$opened
	log "$scen side $side: hsload holds $opened connections ($line)"
}

mem_idle_round() { # SCENARIO ROUND
	local scen=$1 r=$2 side name before after after2 pid pids rss0 rss1 rss2 open_conns
	for side in A B; do
		[[ $side == A ]] && name=tlsgate || name=nginx
		fresh_start "$side"
		pid=$FRESH_PID pids=$FRESH_PIDS
		sleep 2
		# shellcheck disable=SC2086
		before=$(mem_kb $pids) rss0=$(rss_kb $pids)
		hold_start "$scen" "$side" "$FRESH_PORT" "$IDLE_CONNS"
		sleep "$IDLE_SETTLE" # all connections idle this long
		[[ $(proxy_pids "$pid") == "$pids" ]] || die "$name process set changed during $scen (crashed worker?)"
		# shellcheck disable=SC2086
		after=$(mem_kb $pids) rss1=$(rss_kb $pids)
		after2=- rss2=-
		if ((IDLE_SETTLE2 > 0)); then
			sleep $((IDLE_SETTLE2 - IDLE_SETTLE))
			# shellcheck disable=SC2086
			after2=$(mem_kb $pids) rss2=$(rss_kb $pids)
		fi
		# All held connections must still be open on the proxy's side (nginx's
		# keepalive_timeout is 75 s, tlsgate's idle timeout 120 s).
		open_conns=$(ss -Htn state established "( sport = :$FRESH_PORT )" 2>/dev/null | wc -l)
		((open_conns >= HOLD_OPENED)) ||
			die "$scen on $name: only $open_conns of $HOLD_OPENED held connections are still established (idle timeout while opening? lower IDLE_CONNS)"
		stop_pid "$HOLD_PID"
		printf '%s\t%s\t%d\t%d\t%d\t%d\t%s\n' "$scen" "$side" "$r" "$HOLD_OPENED" "$before" "$after" "$after2" >>"$MEMRAW"
		log "$(printf '%-9s %-7s round %d/%d: Pss %d kB -> %d kB (%ds idle) -> %s kB (%ds) with %d idle connections: %.2f kB/conn, %s kB/conn (VmRSS sum %d -> %d -> %s kB)' \
			"$scen" "$name" "$r" "$MEM_ROUNDS" "$before" "$after" "$IDLE_SETTLE" "$after2" "$IDLE_SETTLE2" "$HOLD_OPENED" \
			"$(awk -v a="$after" -v b="$before" -v n="$HOLD_OPENED" 'BEGIN { print (a - b) / n }')" \
			"$(awk -v a="$after2" -v b="$before" -v n="$HOLD_OPENED" 'BEGIN { if (a == "-") print "-"; else printf "%.2f", (a - b) / n }')" "$rss0" "$rss1" "$rss2")"
		fresh_stop "$pid"
	done
}

mem_burst_round() { # ROUND: both sides burst one after the other, then both settle
	local r=$1 side name pid after open_conns
	declare -A bpid bpids before peak closed rss
	for side in A B; do
		fresh_start "$side"
		bpid[$side]=$FRESH_PID bpids[$side]=$FRESH_PIDS
		sleep 2
		# shellcheck disable=SC2086
		before[$side]=$(mem_kb ${bpids[$side]})
		# shellcheck disable=SC2086
		rss[$side]="$(rss_kb ${bpids[$side]})"
		hold_start burst "$side" "$FRESH_PORT" "$BURST_CONNS"
		sleep 1
		# shellcheck disable=SC2086
		peak[$side]=$(mem_kb ${bpids[$side]})
		open_conns=$(ss -Htn state established "( sport = :$FRESH_PORT )" 2>/dev/null | wc -l)
		((open_conns >= HOLD_OPENED)) ||
			die "burst on side $side: only $open_conns of $HOLD_OPENED connections are established at the peak (idle timeout while opening?)"
		# shellcheck disable=SC2086
		rss[$side]+=" -> $(rss_kb ${bpids[$side]})"
		stop_pid "$HOLD_PID" # hsload closes all its connections and exits
		closed[$side]=$SECONDS
		BURST_OPENED[$side]=$HOLD_OPENED
	done
	for side in A B; do
		[[ $side == A ]] && name=tlsgate || name=nginx
		pid=${bpid[$side]}
		while ((SECONDS < closed[$side] + BURST_SETTLE)); do sleep 1; done
		[[ $(proxy_pids "$pid") == "${bpids[$side]}" ]] || die "$name process set changed during burst (crashed worker?)"
		# shellcheck disable=SC2086
		after=$(mem_kb ${bpids[$side]})
		# shellcheck disable=SC2086
		rss[$side]+=" -> $(rss_kb ${bpids[$side]})"
		FRESH_PORT=$([[ $side == A ]] && echo "$MEMA_PORT" || echo "$MEMB_PORT")
		open_conns=$(ss -Htn state established "( sport = :$FRESH_PORT )" 2>/dev/null | wc -l)
		((open_conns == 0)) || log "burst: WARNING: $name still has $open_conns established client connections ${BURST_SETTLE}s after the close"
		printf 'burst\t%s\t%d\t%d\t%d\t%d\t%d\n' "$side" "$r" "${BURST_OPENED[$side]}" "${before[$side]}" "${peak[$side]}" "$after" >>"$MEMRAW"
		log "$(printf 'burst     %-7s round %d/%d: Pss %d kB before, %d kB with %d connections, %d kB %ds after they closed: after/before %.2f (VmRSS sum %s kB)' \
			"$name" "$r" "$BURST_ROUNDS" "${before[$side]}" "${peak[$side]}" "${BURST_OPENED[$side]}" "$after" "$BURST_SETTLE" \
			"$(awk -v a="$after" -v b="${before[$side]}" 'BEGIN { print a / b }')" "${rss[$side]}")"
		fresh_stop "$pid"
	done
}
declare -A BURST_OPENED

# ---------------------------------------------------------------- loaded host
BURNER_PID=""
if ((LOADED)); then
	# A busy loop on the proxies' core: the proxy under test gets about half
	# of it (CFS), as on a host where something else is busy.
	taskset -c "$PROXY_CPU" sh -c 'while :; do :; done' &
	BURNER_PID=$!
	STARTED_PIDS+=("$BURNER_PID")
	log "LOADED=1: CPU burner (pid $BURNER_PID) busy on CPU $PROXY_CPU during all scenarios"
fi

declare -A LOAD_CMDLINE
LAT_SHORT=()
for scen in $SCENARIOS; do
	if is_mem "$scen"; then
		HOLD_N=$([[ $scen == burst ]] && echo "$BURST_CONNS" || echo "$IDLE_CONNS") load_cmd "$scen" PORT 600
		LOAD_CMDLINE[$scen]="$(show_cmd taskset -c "$LOAD_CPU" "${LOAD[@]}") (until SIGTERM), on fresh proxies"
		log "=== scenario $scen: $(scenario_title "$scen") -- ${LOAD_CMDLINE[$scen]}"
		if [[ $scen == burst ]]; then
			for ((r = 1; r <= BURST_ROUNDS; r++)); do mem_burst_round "$r"; done
		else
			for ((r = 1; r <= MEM_ROUNDS; r++)); do mem_idle_round "$scen" "$r"; done
		fi
		continue
	fi
	load_cmd "$scen" PORT "$DUR"
	LOAD_CMDLINE[$scen]=$(show_cmd taskset -c "$LOAD_CPU" "${LOAD[@]}")
	log "=== scenario $scen: $(scenario_title "$scen") -- ${LOAD_CMDLINE[$scen]}"
	if ((WARMUP > 0)); then
		run_once "$scen" A 0 "$WARMUP" 0
		run_once "$scen" B 0 "$WARMUP" 0
	fi
	for ((r = 1; r <= ROUNDS; r++)); do
		for side in A B; do
			sleep 0.5
			run_once "$scen" "$side" "$r" "$DUR" 1
		done
	done
done

for pid in $PIDS_A $PIDS_AM $PIDS_RA $PIDS_RB $PIDS_B "$BACKEND_PID"; do proc_alive "$pid" || die "process $pid died during the run"; done
if [[ -n $BURNER_PID ]]; then stop_pid "$BURNER_PID" KILL; fi

# ---------------------------------------------------------------- report
first_line() { local s; s=$("$@" 2>&1 || true); echo "${s%%$'\n'*}"; }
CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
GO_V=$(go version)
TG_GO_V=$(go version "$T/tlsgate" 2>/dev/null | awk '{print $2}' || true)
NGINX_V=$(first_line "$NGINX_BIN" -v)
NGINX_V=${NGINX_V#nginx version: }
NGINX_SSL=$("$NGINX_BIN" -V 2>&1 | awk '/built with/{print $3, $4; exit}')
WRK_V=$(first_line wrk -v)
WRK_V=${WRK_V%% Copyright*}
H2LOAD_V=$(first_line h2load --version)
OPENSSL_V=$(first_line openssl version)

CPU_SCENS=""
for scen in $SCENARIOS; do is_mem "$scen" || [[ $scen == routes || $scen == h3 ]] || CPU_SCENS+="${CPU_SCENS:+ }$scen"; done

# Medians of per-round ratios. cpu_ratio SCEN COL: RAW column COL (8 = p99,
# 10 = CPU/req) of side A ÷ side B, per round. Prints "" if there is none.
AWK_MED='function sortn(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
function med(list,   a, n) { if (list == "") return ""; n = split(list, a, " "); sortn(a, n)
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'
raw_ratio() { # SCEN COL
	awk -F'\t' -v s="$1" -v c="$2" "$AWK_MED"'
	$1 == s && $c + 0 > 0 { v[$2, $3] = $c; r[$3] = 1 }
	END { for (i in r) if ((("A", i) in v) && (("B", i) in v)) l = l " " v["A", i] / v["B", i]
		m = med(l); if (m != "") printf "%.2f", m }' "$RAW"
}
# mem_stat SCEN SIDE WHAT: median over rounds of kB/conn (idle: (peak-before)/conns)
# or after/before (burst); mem_ratio SCEN: median per-round A÷B of kB/conn.
mem_stat() {
	awk -F'\t' -v s="$1" -v sd="$2" -v w="$3" "$AWK_MED"'
	$1 == s && $2 == sd { if (w == "kbconn") l = l " " ($6 - $5) / $4; else if (w == "kbconn2") { if ($7 != "-") l = l " " ($7 - $5) / $4 }
		else if (w == "settled") l = l " " $7 / $5
		else if (w == "before") l = l " " $5; else if (w == "peak") l = l " " $6; else if (w == "after") l = l " " $7 }
	END { m = med(l); if (m != "") printf((w ~ /^kbconn/ || w == "settled") ? "%.2f" : "%.0f", m) }' "$MEMRAW"
}
mem_ratio() { # SCEN [2: the IDLE_SETTLE2 reading]
	awk -F'\t' -v s="$1" -v c="$(( ${2:-1} == 2 ? 7 : 6 ))" "$AWK_MED"'
	$1 == s && $c != "-" { v[$2, $3] = ($c - $5) / $4; r[$3] = 1 }
	END { for (i in r) if ((("A", i) in v) && (("B", i) in v) && v["B", i] > 0) l = l " " v["A", i] / v["B", i]
		m = med(l); if (m != "") printf "%.2f", m }' "$MEMRAW"
}
report_extra() {
	local scen
	if [[ " $SCENARIOS " == *" idle_"* ]]; then
		echo
		local when="${IDLE_SETTLE}s"
		((IDLE_SETTLE2 > 0)) && when+=" and ${IDLE_SETTLE2}s"
		echo "### Memory per idle keep-alive connection ($IDLE_CONNS connections, one request each, read $when after all were idle, medians over $MEM_ROUNDS rounds)"
		echo
		echo "| scenario | reading | Pss before kB tlsgate | with all idle kB tlsgate | kB/conn tlsgate | Pss before kB nginx | with all idle kB nginx | kB/conn nginx | kB/conn tlsgate÷nginx (lower = better) |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
		for scen in idle_h1 idle_h2; do
			[[ " $SCENARIOS " == *" $scen "* ]] || continue
			echo "| $scen | ${IDLE_SETTLE}s idle | $(mem_stat "$scen" A before) | $(mem_stat "$scen" A peak) | $(mem_stat "$scen" A kbconn) | $(mem_stat "$scen" B before) | $(mem_stat "$scen" B peak) | $(mem_stat "$scen" B kbconn) | $(mem_ratio "$scen") |"
			((IDLE_SETTLE2 > 0)) &&
				echo "| $scen | ${IDLE_SETTLE2}s idle | $(mem_stat "$scen" A before) | $(mem_stat "$scen" A after) | $(mem_stat "$scen" A kbconn2) | $(mem_stat "$scen" B before) | $(mem_stat "$scen" B after) | $(mem_stat "$scen" B kbconn2) | $(mem_ratio "$scen" 2) |"
		done
		echo
		echo "kB/conn = (Pss with all connections idle − Pss before) ÷ connections held; the ratio is the median of per-round ratios. Both readings are of the same connections."
	fi
	if [[ " $SCENARIOS " == *" burst "* ]]; then
		echo
		echo "### Burst: $BURST_CONNS HTTP/2 connections (one request each), then all closed (medians over $BURST_ROUNDS rounds)"
		echo
		echo "| side | Pss before kB | Pss at peak kB | Pss ${BURST_SETTLE}s after close kB | after ÷ before |"
		echo "|---|---:|---:|---:|---:|"
		echo "| tlsgate | $(mem_stat burst A before) | $(mem_stat burst A peak) | $(mem_stat burst A after) | $(mem_stat burst A settled) |"
		echo "| nginx | $(mem_stat burst B before) | $(mem_stat burst B peak) | $(mem_stat burst B after) | $(mem_stat burst B settled) |"
	fi
	if [[ " $SCENARIOS " == *" routes "* ]]; then
		echo
		echo "### Routes: GitHub's OpenAPI document (api.github.com.json, $(grep -o '"operationId"' "$T/gh.json" | wc -l) \"operationId\" entries; routes_from) vs one route, tlsgate only"
		echo
		echo "| site | req/s | CPU µs/req |"
		echo "|---|---:|---:|"
		awk -F'\t' "$AWK_MED"'
		$1 == "routes" { rps[$2] = rps[$2] " " $7; cpu[$2] = cpu[$2] " " $10 }
		END { printf "| one route (`routes: [{path: /repos/}]`) | %.0f | %.1f |\n", med(rps["B"]), med(cpu["B"])
			printf "| GitHub spec (`routes_from: {openapi: gh.json}`) | %.0f | %.1f |\n", med(rps["A"]), med(cpu["A"]) }' "$RAW"
		echo
		echo "CPU/req spec ÷ one route (median of per-round ratios, $ROUNDS rounds): $(raw_ratio routes 10); request: \`GET $ROUTES_PATH\`"
	fi
	if [[ " $SCENARIOS " == *" h3 "* ]]; then
		echo
		echo "### HTTP/3 vs HTTP/2, tlsgate only (same process, same port: UDP for h3, TCP for h2; $CONNS connections × $H2_STREAMS requests in flight)"
		echo
		echo "Debian's nginx and h2load have no HTTP/3, so HTTP/3 is measured against tlsgate's own HTTP/2. Load generators: h3load (bench/h3load, quic-go's http3.Transport) and h2load."
		echo
		echo "| protocol | req/s | CPU µs/req |"
		echo "|---|---:|---:|"
		awk -F'\t' "$AWK_MED"'
		$1 == "h3" { rps[$2] = rps[$2] " " $7; cpu[$2] = cpu[$2] " " $10 }
		END { printf "| HTTP/2 (h2load) | %.0f | %.1f |\n", med(rps["B"]), med(cpu["B"])
			printf "| HTTP/3 (h3load) | %.0f | %.1f |\n", med(rps["A"]), med(cpu["A"]) }' "$RAW"
		echo
		echo "CPU/req HTTP/3 ÷ HTTP/2 (median of per-round ratios, $ROUNDS rounds): $(raw_ratio h3 10); h2 side: \`$(load_cmd h2 PORT "$DUR"; show_cmd taskset -c "$LOAD_CPU" "${LOAD[@]}")\`"
	fi
	targets_table
}
# Targets (issue 17): NAME SCENARIO MEASURED LIMIT
target_row() {
	local what=$1 scen=$2 v=$3 lim=$4 met
	if [[ " $SCENARIOS " != *" $scen "* ]]; then
		echo "| $what | ≤ $lim | not run | not run |"
	elif [[ -z $v ]]; then
		echo "| $what | ≤ $lim | no data | no |"
	else
		met=$(awk -v v="$v" -v l="$lim" 'BEGIN { print (v + 0 <= l + 0) ? "yes" : "no" }')
		echo "| $what | ≤ $lim | $v | $met |"
	fi
}
targets_table() {
	echo
	if ((LOADED)); then echo "### Targets (issue 17) — LOADED=1 (CPU burner on the proxies' core)"; else echo "### Targets (issue 17)"; fi
	echo
	echo "| target | limit | measured (median ratio) | met |"
	echo "|---|---:|---:|---|"
	target_row "CPU/request h1, tlsgate÷nginx" h1 "$(raw_ratio h1 10)" 1.00
	target_row "(the same, nginx adding tlsgate's header fields: h1_eq)" h1_eq "$(raw_ratio h1_eq 10)" 1.00
	target_row "CPU/request h2, tlsgate÷nginx" h2 "$(raw_ratio h2 10)" 1.25
	target_row "(the same, nginx adding tlsgate's header fields: h2_eq)" h2_eq "$(raw_ratio h2_eq 10)" 1.25
	target_row "CPU/request 16 KiB (h1_16k), tlsgate÷nginx" h1_16k "$(raw_ratio h1_16k 10)" 1.00
	target_row "(the same, nginx adding tlsgate's header fields: h1_16k_eq)" h1_16k_eq "$(raw_ratio h1_16k_eq 10)" 1.00
	target_row "CPU/full handshake, tlsgate÷nginx" full "$(raw_ratio full 10)" 1.00
	target_row "CPU/resumed handshake, tlsgate÷nginx" resume "$(raw_ratio resume 10)" 0.95
	target_row "p99 latency h1 at the same offered load ($LAT_OFFERED req/s, lat_h1), tlsgate÷nginx" lat_h1 "$(raw_ratio lat_h1 8)" 1.00
	target_row "p99 latency 16 KiB at the same offered load ($LAT_OFFERED req/s, lat_16k), tlsgate÷nginx" lat_16k "$(raw_ratio lat_16k 8)" 1.00
	target_row "memory per idle conn h1 (${IDLE_SETTLE}s idle), tlsgate÷nginx" idle_h1 "$(mem_ratio idle_h1)" 1.00
	target_row "memory per idle conn h2 (${IDLE_SETTLE}s idle), tlsgate÷nginx" idle_h2 "$(mem_ratio idle_h2)" 1.00
	if ((IDLE_SETTLE2 > 0)); then
		target_row "memory per idle conn h1 (${IDLE_SETTLE2}s idle), tlsgate÷nginx" idle_h1 "$(mem_ratio idle_h1 2)" 1.00
		target_row "memory per idle conn h2 (${IDLE_SETTLE2}s idle), tlsgate÷nginx" idle_h2 "$(mem_ratio idle_h2 2)" 1.00
	fi
	target_row "tlsgate Pss ${BURST_SETTLE}s after a $BURST_CONNS-conn burst ÷ before" burst "$(mem_stat burst A settled)" 1.50
	target_row "CPU/request routes, GitHub spec ÷ one route" routes "$(raw_ratio routes 10)" 1.02
}

{
	echo "## tlsgate vs nginx — TLS-terminating reverse proxy benchmark"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "- command: \`$INVOCATION\` (ROUNDS=$ROUNDS DUR=${DUR}s WARMUP=${WARMUP}s CONNS=$CONNS H2_STREAMS=$H2_STREAMS HS_CONNS=$HS_CONNS)"
	echo "- side A: tlsgate, $TLSGATE_ORIGIN (git $GIT_REV, ${TG_GO_V:-?}): \`$(show_cmd "${TLSGATE_CMD[@]}")\`"
	if ((WANT_MTLS)); then
		echo "- side A for mtls_*: \`$(show_cmd "${TLSGATE_M_CMD[@]}")\` (one site, same leaf, \`client_auth: {ca: [client CA]}\`, route \`/\` with \`client_auth: require\`, access log off)"
	fi
	echo "- side B: $NGINX_V ($NGINX_SSL), worker_processes 1: \`$(show_cmd "${NGINX_CMD[@]}")\`"
	if ((WANT_EQ)); then
		echo "- side B for *_eq: another server block in the same nginx, the same as the first plus the header fields tlsgate adds by default (\`add_header ... always\`: HSTS, X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Alt-Svc, X-Request-Id \`\$request_id\`; \`proxy_set_header\`: X-Forwarded-For \`\$remote_addr\`, X-Forwarded-Host, X-Forwarded-Proto, X-Request-Id, no Forwarded), checked against tlsgate's before measuring"
	fi
	if ((WANT_MTLS)); then
		echo "- side B for mtls_*: a second server block in the same nginx, same leaf and TLS settings, \`ssl_verify_client on; ssl_client_certificate\` client CA, X-Client-Verify/-DN/-Cert/-Fingerprint passed upstream as tlsgate does"
		echo "- mTLS client: ECDSA P-256 certificate (extendedKeyUsage=clientAuth) from a separate ECDSA P-256 client CA; without it tlsgate answers 403 and nginx 400 (checked before measuring)"
	fi
	echo "- machine: nproc=$(nproc), CPU: $CPU_MODEL, kernel $(uname -r); load average at start: $LOADAVG_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- versions: $GO_V; $NGINX_V; $WRK_V; $H2LOAD_V; $OPENSSL_V"
	echo "- pinning: both proxies on CPU $PROXY_CPU; backend and load generators on CPU $LOAD_CPU; rounds interleaved A,B,A,B,…"
	echo "- TLS seen by an OpenSSL client: tlsgate: ${NEGOTIATED[A]}; nginx: ${NEGOTIATED[B]} (hsload offers X25519 only)"
	echo "- CPU = utime+stime of all proxy processes (/proc/PID/stat, CLK_TCK=$CLK_TCK) over the run ÷ requests served"
	if ((WANT_MEM)); then
		echo "- memory (idle_*, burst) = sum of Pss (/proc/PID/smaps_rollup) over the proxy's processes (nginx: master + worker), in kB, on a fresh proxy process per side and round (ports of their own, same command line/config as above; nginx: worker_connections $NGINX_CONNS, worker_rlimit_nofile $NGINX_CONNS; ulimit -n $(ulimit -n))"
	fi
	if ((LOADED)); then
		echo "- **LOADED=1: loaded host** — a CPU burner (\`taskset -c $PROXY_CPU sh -c 'while :; do :; done'\`) was busy on the proxies' core $PROXY_CPU during every scenario, so the proxy under test got about half of that core"
	else
		echo "- LOADED=0: nothing else of ours ran on the proxies' core"
	fi
	echo
	awk -F'\t' -v scen_list="$CPU_SCENS" -v rounds="$ROUNDS" '
	function sortn(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
	function med(list,   a, n) { if (list == "") return ""; n = split(list, a, " "); sortn(a, n)
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	function add(k, v) { vals[k] = (k in vals) ? vals[k] " " v : v }
	function f(v, fmt) { return (v == "" || v < 0) ? "-" : sprintf(fmt, v) }
	{ s = $1; side = $2; r = $3
	  add(s SUBSEP side SUBSEP "rps", $7); add(s SUBSEP side SUBSEP "cpu", $10)
	  if ($8 >= 0) add(s SUBSEP side SUBSEP "p99", $8)
	  if ($9 >= 0) add(s SUBSEP side SUBSEP "mbs", $9)
	  rps[s, side, r] = $7; cpu[s, side, r] = $10
	  if ($12 < 50) lowrun[s " " (s == "routes" ? (side == "A" ? "spec" : "one-route") : s == "h3" ? (side == "A" ? "h3" : "h2") : (side == "A" ? "tlsgate" : s ~ /_eq$/ ? "nginx-eq" : "nginx")) " round " r " (" $12 " ticks)"] = 1 }
	END {
	  title["h1"] = "HTTP/1.1 keep-alive, 66 B (wrk)"
	  title["h2"] = "HTTP/2, 66 B (h2load)"
	  title["full"] = "TLS 1.3 full handshake, 1 req/conn (hsload)"
	  title["resume"] = "TLS 1.3 resumed handshake, 1 req/conn (hsload -resume)"
	  title["h1_16k"] = "HTTP/1.1 keep-alive, 16 KiB (wrk)"
	  title["h1_eq"] = "HTTP/1.1 keep-alive, 66 B (wrk), nginx adding tlsgate\047s header fields"
	  title["h2_eq"] = "HTTP/2, 66 B (h2load), nginx adding tlsgate\047s header fields"
	  title["h1_16k_eq"] = "HTTP/1.1 keep-alive, 16 KiB (wrk), nginx adding tlsgate\047s header fields"
	  title["lat_h1"] = "HTTP/1.1 keep-alive, 66 B, same offered load (hsload -rate)"
	  title["lat_16k"] = "HTTP/1.1 keep-alive, 16 KiB, same offered load (hsload -rate)"
	  title["mtls_full"] = "mTLS: TLS 1.3 full handshake + client cert, 1 req/conn (hsload -cert)"
	  title["mtls_h1"] = "mTLS: HTTP/1.1 keep-alive + client cert, 66 B (hsload -keepalive -cert)"
	  low = ""
	  for (k in lowrun) low = low (low == "" ? "" : ", ") k
	  if (scen_list != "") { # none with SCENARIOS of memory, routes or h3 only
	    print "| scenario | req/s tlsgate | req/s nginx | p99 ms tlsgate | p99 ms nginx | CPU µs/req tlsgate | CPU µs/req nginx | CPU/req tlsgate÷nginx (lower = better) | req/s tlsgate÷nginx (higher = better) | MiB/s tlsgate | MiB/s nginx |"
	    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	  }
	  n = split(scen_list, S, " ")
	  for (i = 1; i <= n; i++) {
	    s = S[i]; rr = ""; cr = ""
	    for (r = 1; r <= rounds; r++) {
	      if (((s, "A", r) in rps) && ((s, "B", r) in rps)) {
	        if (rps[s, "B", r] > 0) rr = rr (rr == "" ? "" : " ") rps[s, "A", r] / rps[s, "B", r]
	        if (cpu[s, "B", r] > 0) cr = cr (cr == "" ? "" : " ") cpu[s, "A", r] / cpu[s, "B", r]
	      }
	    }
	    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", title[s],
	      f(med(vals[s, "A", "rps"]), "%.0f"), f(med(vals[s, "B", "rps"]), "%.0f"),
	      f(med(vals[s, "A", "p99"]), "%.2f"), f(med(vals[s, "B", "p99"]), "%.2f"),
	      f(med(vals[s, "A", "cpu"]), "%.1f"), f(med(vals[s, "B", "cpu"]), "%.1f"),
	      f(med(cr), "%.2f"), f(med(rr), "%.2f"),
	      f(med(vals[s, "A", "mbs"]), "%.1f"), f(med(vals[s, "B", "mbs"]), "%.1f")
	  }
	  if (low != "") printf "\nLow-confidence runs (under 50 CPU ticks, so over ±2%% tick error; the machine was probably busy): %s.\n", low
	}' "$RAW"
	if [[ -n $CPU_SCENS ]]; then
		echo
		echo "Medians over $ROUNDS rounds; the two ratio columns are medians of the per-round ratios (round i of A ÷ round i of B)."
		if [[ " $SCENARIOS " == *" lat_"* ]]; then
			echo
			echo "p99 of wrk rows: closed loop, each proxy as fast as it goes (its own load). p99 of lat_* rows: open loop, $LAT_OFFERED req/s (LAT_RPS) offered to each as Poisson arrivals over $CONNS keep-alive connections, each request timed from its scheduled arrival (hsload -rate); the load generator and the backend share CPU $LOAD_CPU, so their queueing is in both sides' figures."
			if ((${#LAT_SHORT[@]})); then
				echo
				echo "**Offered load not served** (saturated, so those p99s are not at the same load; lower LAT_RPS): ${LAT_SHORT[*]}."
			fi
		fi
	fi
	report_extra
	echo
	echo "Load generators (PORT = the proxy under test):"
	echo
	for scen in $SCENARIOS; do echo "- $scen: \`${LOAD_CMDLINE[$scen]}\`"; done
} >"$T/report.md"

cat "$T/report.md"
if [[ -n "$OUT" ]]; then
	cp "$T/report.md" "$OUT"
	cp "$RAW" "$OUT.raw.tsv"
	log "report written to $OUT (per-round data: $OUT.raw.tsv)"
fi
