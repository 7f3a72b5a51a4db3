#!/usr/bin/env bash
# Three-way handshake comparison: tlsgate, a plain Go ReverseProxy (Go
# defaults) and nginx, interleaved, one proxy at a time on core 0, the
# backend and hsload on core 1. Prints proxy CPU µs per connection (one
# request each) for full and resumed TLS 1.3 handshakes.
#
#   ROUNDS=4 DUR=4 bash bench/handshakes.sh
# Loopback only; every run is bounded by DUR seconds and `timeout`.
set -euo pipefail
ROUNDS=${ROUNDS:-4}; DUR=${DUR:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/tlsgate-hs.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$T"' EXIT
cd "$ROOT"
go build -o "$T/tlsgate" ./cmd/tlsgate
go build -o "$T/plainproxy" ./bench/plainproxy
go build -o "$T/backend" ./bench/backend
go build -o "$T/hsload" ./bench/hsload
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=hs-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext 2>/dev/null
chmod 600 leaf.key
mkdir -p ng/tmp
cat >ng.conf <<NGX
worker_processes 1; pid $T/ng/nginx.pid; error_log $T/ng/err.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $T/ng/tmp/c; proxy_temp_path $T/ng/tmp/p;
  fastcgi_temp_path $T/ng/tmp/f; uwsgi_temp_path $T/ng/tmp/u; scgi_temp_path $T/ng/tmp/s;
  upstream b { server 127.0.0.1:19101; keepalive 64; }
  server { listen 127.0.0.1:19144 ssl; ssl_certificate $T/leaf.pem; ssl_certificate_key $T/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
    ssl_session_cache shared:HS:10m; ssl_session_timeout 1h; ssl_session_tickets on;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGX
taskset -c 1 ./backend -listen 127.0.0.1:19101 2>/dev/null &

cpu() { awk '{s+=$14+$15} END{print s}' $(for p in "$@"; do echo /proc/$p/stat; done); }
measure() { # name port pids... ; reads $MODE
	local name=$1 port=$2; shift 2
	local t0 t1 out n
	t0=$(cpu "$@")
	out=$(timeout $((DUR + 15)) taskset -c 1 ./hsload -url "https://127.0.0.1:$port/" -c 50 -d "${DUR}s" -n 10000000 -cacert ca.pem $MODE)
	t1=$(cpu "$@")
	n=$(grep -oP '"requests":\K\d+' <<<"$out")
	awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b-a)/hz*1e6/n}'
}
run_one() { # which
	case $1 in
	tlsgate)
		taskset -c 0 ./tlsgate proxy --from 127.0.0.1:19143 --to http://127.0.0.1:19101 --cert leaf.pem --key leaf.key --access-log=false --log-format json >/dev/null 2>&1 &
		local p=$!; sleep 0.5; measure tlsgate 19143 $p; kill -INT $p; wait $p 2>/dev/null || true ;;
	plain)
		taskset -c 0 ./plainproxy 127.0.0.1:19145 http://127.0.0.1:19101 leaf.pem leaf.key >/dev/null 2>&1 &
		local p=$!; sleep 0.5; measure plain 19145 $p; kill $p; wait $p 2>/dev/null || true ;;
	nginx)
		taskset -c 0 nginx -p "$T/ng/" -c "$T/ng.conf" -g 'daemon off;' &
		local p=$!; sleep 0.5; measure nginx 19144 $p $(pgrep -P $p); kill $p; wait $p 2>/dev/null || true ;;
	esac
}
echo "| handshake | round | tlsgate µs/conn | plain Go µs/conn | nginx µs/conn | tlsgate÷nginx | plain÷nginx |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for MODE in "" "-resume"; do
	for r in $(seq "$ROUNDS"); do
		a=$(run_one tlsgate); b=$(run_one plain); c=$(run_one nginx)
		awk -v m="${MODE:-full}" -v r="$r" -v a="$a" -v b="$b" -v c="$c" \
			'BEGIN{sub(/^-/, "", m); printf "| %s | %d | %s | %s | %s | %.2f | %.2f |\n", m, r, a, b, c, a/c, b/c}'
	done
done
