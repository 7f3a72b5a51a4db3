#!/usr/bin/env bash
# bench/lint/run.sh: tlsgate lint against Spectral on the same OpenAPI
# documents: GitHub's (@octokit/openapi, 13 MB of JSON) and the 133-document
# sample of the real-spec tests (internal/oaslint/testdata/specs/sample.txt).
#
# The figure is CPU seconds, user+sys of the process and its children (GNU
# time), because the machine is shared and wall-clock time is noisy; wall
# time and peak memory (max RSS) are reported too. Rounds are interleaved
# (tlsgate, Spectral, tlsgate, ...) and the tables give medians.
#
# Spectral (@stoplight/spectral-cli with @stoplight/spectral-owasp-ruleset)
# runs twice: restricted to the OWASP ruleset's transport rules
# (spectral-transport.yaml: the same job as tlsgate lint), and with the
# whole OWASP ruleset (spectral-owasp.yaml), which is slower.
#
#   bash bench/lint/run.sh                       # ROUNDS=5 FULL_ROUNDS=1, about 5 minutes
#   ROUNDS=3 OUT=/tmp/lint-bench.md bash bench/lint/run.sh
#
# Versions are pinned by bench/lint/package-lock.json and
# internal/oaslint/testdata/specs/package-lock.json; the script installs
# them with npm ci when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-5}
FULL_ROUNDS=${FULL_ROUNDS:-1}
OUT=${OUT:-}
BENCH=bench/lint
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

say() { echo "bench/lint: $*" >&2; }

for p in go node npm; do
	command -v "$p" >/dev/null || { say "$p is needed"; exit 1; }
done
if [ ! -x /usr/bin/time ]; then
	say "installing GNU time"
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time >/dev/null
fi

# Spectral and GitHub's document, then the sample (make lint-deps).
if [ ! -f $BENCH/node_modules/.package-lock.json ] || [ $BENCH/package-lock.json -nt $BENCH/node_modules/.package-lock.json ]; then
	say "npm ci in $BENCH"
	(cd $BENCH && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
make -s lint-deps

# tlsgate from this tree. Until main.go dispatches "lint", an overlay adds
# the case, so that the binary measured is the real CLI either way.
BIN=$TMP/tlsgate
if grep -q 'case "lint"' cmd/tlsgate/main.go; then
	go build -o "$BIN" ./cmd/tlsgate
else
	awk '/^\tcase "certs":$/ { print "\tcase \"lint\":"; print "\t\treturn runLint(ctx, rest, stdout, stderr)" } { print }' \
		cmd/tlsgate/main.go >"$TMP/main.go"
	printf '{"Replace":{"%s":"%s"}}\n' "$ROOT/cmd/tlsgate/main.go" "$TMP/main.go" >"$TMP/overlay.json"
	go build -overlay "$TMP/overlay.json" -o "$BIN" ./cmd/tlsgate
fi

SPECTRAL=$BENCH/node_modules/.bin/spectral
GITHUB=$BENCH/node_modules/@octokit/openapi/generated/api.github.com.json
mapfile -t SAMPLE < <(grep -v '^#' internal/oaslint/testdata/specs/sample.txt | grep . | sed 's|^|internal/oaslint/testdata/specs/node_modules/|')
github_mb=$(awk -v b="$(stat -c %s "$GITHUB")" 'BEGIN { printf "%.1f", b / 1048576 }')
sample_mb=$(du -cb "${SAMPLE[@]}" | tail -1 | awk '{ printf "%.1f", $1 / 1048576 }')

# run NAME OUTPUT CMD...: one measured run; appends "NAME cpu wall maxrss_kb"
# to $TMP/results. Exit statuses are those of linters with findings: ignored.
run() {
	local name=$1 out=$2
	shift 2
	/usr/bin/time -o "$TMP/time" -f "%U %S %e %M" "$@" >"$out" 2>"$TMP/stderr" || true
	if grep -qi 'error' "$TMP/stderr" && ! grep -q 'at or above' "$TMP/stderr"; then
		say "$name: $(head -c 300 "$TMP/stderr")"
	fi
	tail -1 "$TMP/time" | awk -v n="$name" '{ printf "%s %.2f %.2f %d\n", n, $1 + $2, $3, $4 }' >>"$TMP/results"
}

tlsgate_github() { run tlsgate-github "$TMP/t-github.json" "$BIN" lint --format json --fail-on none "$GITHUB"; }
tlsgate_sample() { run tlsgate-sample "$TMP/t-sample.json" "$BIN" lint --format json --fail-on none "${SAMPLE[@]}"; }
tlsgate_sample1() { run tlsgate-sample-jobs1 "$TMP/t-sample1.json" "$BIN" lint --jobs 1 --format json --fail-on none "${SAMPLE[@]}"; }
spectral() { # NAME RULESET FILES...
	local name=$1 rules=$2
	shift 2
	rm -f "$TMP/$name.json"
	run "$name" /dev/null "$SPECTRAL" lint -q -r "$BENCH/$rules" -f json -o "$TMP/$name.json" "$@"
	if [ ! -s "$TMP/$name.json" ]; then
		# Spectral stopped without a result: its time is no measure.
		sed -i '$ s/^\([^ ]*\)/\1-failed/' "$TMP/results"
		echo "$name: $(grep -m1 -i error "$TMP/stderr" || head -1 "$TMP/stderr")" >>"$TMP/failed"
	fi
}

say "tlsgate: $("$BIN" version)"
say "spectral: $("$SPECTRAL" --version)"
say "GitHub's document: $github_mb MiB; sample: ${#SAMPLE[@]} documents, $sample_mb MiB"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
	say "round $r/$ROUNDS"
	tlsgate_github
	spectral spectral-transport-github spectral-transport.yaml "$GITHUB"
	tlsgate_sample
	spectral spectral-transport-sample spectral-transport.yaml "${SAMPLE[@]}"
	tlsgate_sample1
done
for r in $(seq "$FULL_ROUNDS"); do
	say "whole OWASP ruleset, round $r/$FULL_ROUNDS"
	tlsgate_github
	spectral spectral-owasp-github spectral-owasp.yaml "$GITHUB"
	tlsgate_sample
	spectral spectral-owasp-sample spectral-owasp.yaml "${SAMPLE[@]}"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# median NAME FIELD (2 cpu, 3 wall, 4 maxrss)
median() {
	awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$TMP/results" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
count() { awk -v n="$1" '$1 == n' "$TMP/results" | wc -l; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b > 0) printf "%.0f", a / b; else print "-" }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.0f", k / 1024 }'; }

# Findings, for a sense of what each reports (the rules differ).
findings() {
	[ -f "$2" ] || { echo "-"; return; }
	node -e '
const fs = require("fs");
const [kind, file] = process.argv.slice(1);
const d = JSON.parse(fs.readFileSync(file, "utf8"));
if (kind === "tlsgate") {
	const http = d.findings.filter(f => f.rule === "server-https" || f.rule === "http-localhost").length;
	console.log(`${d.findings.length} (${http} http servers)`);
} else {
	const http = d.filter(f => /no-(server|scheme)-http/.test(f.code)).length;
	console.log(`${d.length} (${http} http servers)`);
}' "$@"
}

tg=$(median tlsgate-github 2)
sg=$(median spectral-transport-github 2)
ts=$(median tlsgate-sample 2)
ss=$(median spectral-transport-sample 2)
report() {
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- internal/oaslint cmd/tlsgate || echo ' + uncommitted changes to the linter')"
	echo "- command: \`ROUNDS=$ROUNDS FULL_ROUNDS=$FULL_ROUNDS bash bench/lint/run.sh\`"
	echo "- machine: nproc=$(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load average at start: $load_start, at end: $load_end"
	echo "- versions: $("$BIN" version); node $(node --version); @stoplight/spectral-cli $("$SPECTRAL" --version), @stoplight/spectral-owasp-ruleset $(node -p 'require("./'$BENCH'/node_modules/@stoplight/spectral-owasp-ruleset/package.json").version'), @octokit/openapi $(node -p 'require("./'$BENCH'/node_modules/@octokit/openapi/package.json").version')"
	echo "- inputs: GitHub's api.github.com.json ($github_mb MiB); the sample of ${#SAMPLE[@]} documents ($sample_mb MiB, internal/oaslint/testdata/specs/sample.txt)"
	echo "- CPU = user+sys of the process and its children (GNU time), median of $ROUNDS rounds ($FULL_ROUNDS for the whole OWASP ruleset); wall and max RSS likewise"
	echo
	echo "| run | CPU s | wall s | max RSS MiB | findings | Spectral CPU ÷ tlsgate CPU |"
	echo "|---|---:|---:|---:|---|---:|"
	echo "| tlsgate lint, GitHub | $tg | $(median tlsgate-github 3) | $(mib "$(median tlsgate-github 4)") | $(findings tlsgate "$TMP/t-github.json") | |"
	echo "| Spectral, transport rules, GitHub | $sg | $(median spectral-transport-github 3) | $(mib "$(median spectral-transport-github 4)") | $(findings spectral "$TMP/spectral-transport-github.json") | **$(ratio "$sg" "$tg")×** |"
	echo "| Spectral, OWASP ruleset (all but no-numeric-ids), GitHub | $(median spectral-owasp-github 2) | $(median spectral-owasp-github 3) | $(mib "$(median spectral-owasp-github 4)") | $(findings spectral "$TMP/spectral-owasp-github.json") | $(ratio "$(median spectral-owasp-github 2)" "$tg")× |"
	echo "| tlsgate lint, sample | $ts | $(median tlsgate-sample 3) | $(mib "$(median tlsgate-sample 4)") | $(findings tlsgate "$TMP/t-sample.json") | |"
	echo "| tlsgate lint --jobs 1, sample | $(median tlsgate-sample-jobs1 2) | $(median tlsgate-sample-jobs1 3) | $(mib "$(median tlsgate-sample-jobs1 4)") | $(findings tlsgate "$TMP/t-sample1.json") | |"
	echo "| Spectral, transport rules, sample | $ss | $(median spectral-transport-sample 3) | $(mib "$(median spectral-transport-sample 4)") | $(findings spectral "$TMP/spectral-transport-sample.json") | **$(ratio "$ss" "$ts")×** |"
	echo "| Spectral, OWASP ruleset (all but no-numeric-ids), sample | $(median spectral-owasp-sample 2) | $(median spectral-owasp-sample 3) | $(mib "$(median spectral-owasp-sample 4)") | $(findings spectral "$TMP/spectral-owasp-sample.json") | $(ratio "$(median spectral-owasp-sample 2)" "$ts")× |"
	echo
	if [ -s "$TMP/failed" ]; then
		echo "Runs that failed (not in the medians):"
		echo
		sed 's/^/- /' "$TMP/failed"
		echo
	fi
	echo "Runs: $(count tlsgate-github) × tlsgate on GitHub, $(count spectral-transport-github) × Spectral (transport) on GitHub. Every run (name, CPU s, wall s, max RSS KiB):"
	echo
	echo '```'
	cat "$TMP/results"
	echo '```'
}
if [ -n "$OUT" ]; then
	report | tee "$OUT"
else
	report
fi
