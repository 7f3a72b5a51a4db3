#!/usr/bin/env bash
# CPU per request of a site whose routes come from GitHub's OpenAPI
# document (routes_from) against a one-route site, the same request (an
# operation with path parameters) in interleaved rounds: the operation
# table's cost must not grow with the spec (issues 16 and 17).
#
#   bash bench/openapi.sh            # ROUNDS=5 DUR=4
#
# This is the `routes` scenario of bench/run.sh on its own (same servers,
# checks and report); see bench/README.md. Needs wrk and 'make test-deps'
# (the spec, from npm). Loopback only; every load run is bounded by DUR.
set -euo pipefail
export ROUNDS=${ROUNDS:-5} DUR=${DUR:-4}
SCENARIOS=routes exec bash "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
