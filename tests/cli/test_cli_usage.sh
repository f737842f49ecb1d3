#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CLI contract: --help on every command, exit codes, errors that name the
# file or URL and what was wrong.
. "$(dirname "$0")/lib.sh"

expect_rc "no args is a usage error" 2 "$LEAKWATCH"
expect_rc "--help" 0 "$LEAKWATCH" --help
expect_grep "--help lists commands" "$TMP/out" "record URL --out DIR"
for c in record analyze top watch; do
  expect_rc "$c --help" 0 "$LEAKWATCH" "$c" --help
  expect_grep "$c --help shows usage" "$TMP/out" "^usage: leakwatch $c"
  expect_grep "$c --help documents exit codes" "$TMP/out" "Exit codes"
  expect_rc "help $c" 0 "$LEAKWATCH" help "$c"
  expect_rc "$c unknown flag" 2 "$LEAKWATCH" "$c" --bogus-flag x
  expect_grep "$c unknown flag is named" "$TMP/err" "unknown flag '--bogus-flag'"
done
expect_rc "unknown command" 2 "$LEAKWATCH" frobnicate
expect_grep "unknown command named" "$TMP/err" "unknown command 'frobnicate'"
expect_rc "version" 0 "$LEAKWATCH" version

# analyze errors
expect_rc "analyze missing dir" 1 "$LEAKWATCH" analyze "$TMP/nope" --limit 64Mi
expect_grep "analyze names the path" "$TMP/err" "$TMP/nope: No such file"
mkdir "$TMP/empty"
expect_rc "analyze empty dir" 1 "$LEAKWATCH" analyze "$TMP/empty"
expect_grep "analyze empty says no trace files" "$TMP/err" "no trace files"
expect_rc "analyze bad limit" 2 "$LEAKWATCH" analyze "$TMP/empty" --limit 12Mo
expect_grep "bad limit named" "$TMP/err" "--limit '12Mo'"
expect_rc "analyze bad limit negative" 2 "$LEAKWATCH" analyze "$TMP/empty" --limit -5Mi
mkdir "$TMP/badjson"; printf '{"t": 1, "bytes": 5}\nnot json\n' >"$TMP/badjson/usage.jsonl"
expect_rc "analyze bad usage.jsonl" 1 "$LEAKWATCH" analyze "$TMP/badjson"
expect_grep "bad jsonl names file and line" "$TMP/err" "usage.jsonl:2: not a JSON object"

# record/watch argument errors
expect_rc "record needs --out" 2 "$LEAKWATCH" record http://127.0.0.1:1/debug/pprof
expect_rc "record rejects ftp" 2 "$LEAKWATCH" record ftp://x/debug/pprof --out "$TMP/r"
expect_grep "record names the URL" "$TMP/err" "ftp://x/debug/pprof"
expect_rc "record bad duration" 2 "$LEAKWATCH" record http://127.0.0.1:1/ --out "$TMP/r" --every 5parsecs
expect_grep "bad duration named" "$TMP/err" "--every '5parsecs'"
# nothing listens on port 1: clear network error, exit 1
expect_rc "record unreachable" 1 "$LEAKWATCH" record http://127.0.0.1:1/debug/pprof --out "$TMP/r" --every 1s --duration 2s --timeout 1s
expect_grep "unreachable names the URL" "$TMP/err" "http://127.0.0.1:1/debug/pprof/goroutine\?debug=1: .*(refused|connect)"
expect_rc "watch unreachable" 1 "$LEAKWATCH" watch http://127.0.0.1:1/debug/pprof --every 1s --duration 2s --timeout 1s

# top errors
expect_rc "top missing file" 1 "$LEAKWATCH" top "$TMP/none.txt"
expect_grep "top names file" "$TMP/err" "$TMP/none.txt"
expect_rc "top bad -n" 2 "$LEAKWATCH" top x -n zero
# the expected kill of a leak: line + excursions (docs/forecast.md §3.4, docs/json.md)
if [ -d "$FIX/traces/heap-map" ]; then
  expect_rc "analyze heap-map leak (--json): 4, OOM predicted" 4 "$LEAKWATCH" analyze "$FIX/traces/heap-map" --limit 256Mi --json
  python3 - "$TMP/out" <<'PY' && ok "oom.kill_margin_bytes is the excursion the kill is expected at" || bad "oom.kill_margin_bytes"
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
o = d["oom"]
assert o["predicted"] and o["line_since_unix"] is not None, o
m = o["kill_margin_bytes"]
assert isinstance(m, (int, float)) and 0 < m < 0.1 * d["memory"]["limit_bytes"], m
assert "excursions reach the limit" in o["reason"], o["reason"]
PY
fi

finish
