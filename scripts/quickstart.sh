#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start: install dependencies (as root), build, and run leakwatch's
# judgement on the embedded default: a real trace of a Go service that builds
# an http.Transport per request (tests/fixtures/traces/http-transport),
# against a 64Mi limit. Pass another trace directory and limit to try yours:
#   scripts/quickstart.sh [TRACE_DIR] [LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build >/dev/null
trace=${1:-tests/fixtures/traces/http-transport}
limit=${2:-64Mi}
echo "\$ build/leakwatch analyze $trace --limit $limit"
set +e
build/leakwatch analyze "$trace" --limit "$limit"
rc=$?
set -e
echo "(exit code $rc: 0 no leak, 3 leak, 4 leak with OOM predicted)"
[ $rc -le 4 ] && [ $rc -ne 1 ] && [ $rc -ne 2 ]
