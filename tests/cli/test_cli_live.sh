#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# record, top and watch against a real Go service (tests/go/leakzoo, built
# with Debian's golang-go) leaking an http.Transport per request on loopback,
# and record against a server that answers HTML (a wrong port or prefix).
. "$(dirname "$0")/lib.sh"

ZOO=$(build_leakzoo) || { echo "SKIP: cannot build tests/go/leakzoo (golang-go missing?)"; exit 77; }
start_leakzoo "$ZOO" -scenario http-transport -rate 20 -max 0 || { bad "leakzoo did not start: $(cat "$TMP/zoo.log")"; finish; exit 1; }

expect_rc "record 10s" 0 "$LEAKWATCH" record "$ZOO_URL" --out "$TMP/trace" --every 1s --debug2-every 4s --heap-every 2s --duration 10s
n1=$(ls "$TMP/trace" | grep -c -- '-goroutine.txt$')
n2=$(ls "$TMP/trace" | grep -c -- '-goroutine2.txt$')
nh=$(ls "$TMP/trace" | grep -c -- '-heap.pb.gz$')
nh1=$(ls "$TMP/trace" | grep -c -- '-heap1.txt$')
if [ "$n1" -ge 5 ] && [ "$n1" -le 11 ]; then ok "record wrote $n1 goroutine samples"; else bad "record wrote $n1 goroutine samples"; fi
if [ "$n2" -ge 2 ] && [ "$n2" -lt "$n1" ]; then ok "debug=2 taken less often ($n2)"; else bad "debug=2 count $n2"; fi
if [ "$nh" -ge 4 ] && [ "$nh" = "$nh1" ]; then ok "heap proto + debug=1 taken together ($nh)"; else bad "heap counts $nh/$nh1"; fi
ls "$TMP/trace" | grep -q -- '-goroutineleak.txt$' && bad "goroutineleak saved from a Go 1.19 target" || ok "goroutineleak not served by go1.19: not saved"
ls "$TMP/trace" | grep -q '\.tmp$' && bad "temporary files left" || ok "no temporary files left"

last2=$(ls "$TMP/trace"/*-goroutine2.txt | tail -1)
expect_rc "top on recorded debug=2" 0 "$LEAKWATCH" top "$last2" -n 5
expect_grep "top shows readLoop" "$TMP/out" "net/http\.\(\*persistConn\)\.(readLoop|writeLoop)"
expect_grep "top shows creator" "$TMP/out" "created by net/http\.\(\*Transport\)\.dialConn"
expect_grep "top shows IO wait state" "$TMP/out" "state: (IO wait|select)"
expect_rc "top --json" 0 "$LEAKWATCH" top "$last2" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["kind"]=="goroutine" and d["total"]>40, d["total"]' "$TMP/out" \
  && ok "top --json parses, total > 40" || bad "top --json content"

expect_rc "analyze recorded trace (--json)" 0 "$LEAKWATCH" analyze "$TMP/trace" --json
python3 - "$TMP/out" <<'PY' && ok "analyze JSON has the documented fields" || bad "analyze JSON fields"
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
for k in ["verdict", "t", "kinds", "goroutines", "memory", "oom", "top_stacks"]:
    assert k in d, k
assert d["verdict"] == "insufficient-data", d["verdict"]  # 10 s is not enough history
for k in ["first", "last", "growth_per_hour"]: assert k in d["goroutines"]
for k in ["current_bytes", "limit_bytes", "growth_bytes_per_hour", "source"]: assert k in d["memory"]
for k in ["predicted", "seconds_to_oom", "at", "confidence"]: assert k in d["oom"]
assert d["memory"]["source"] == "runtime", d["memory"]["source"]
assert d["goroutines"]["last"] > d["goroutines"]["first"]
PY

# watch: status lines (not a tty) and a clean stop at --duration
expect_rc "watch 5s" 0 "$LEAKWATCH" watch "$ZOO_URL" --limit 1Gi --every 1s --duration 5s
n=$(grep -c 'goroutines ' "$TMP/out")
if [ "$n" -ge 3 ]; then ok "watch printed $n status lines"; else bad "watch printed $n status lines: $(head -c 300 "$TMP/out")"; fi
expect_grep "status line shows memory and limit" "$TMP/out" "mem [0-9.]+ [KMG]iB / 1.0 GiB"

# SIGTERM stops record cleanly with what it has
"$LEAKWATCH" record "$ZOO_URL" --out "$TMP/trace2" --every 1s >/dev/null 2>"$TMP/err" &
rp=$!; sleep 3; kill -TERM $rp; wait $rp; rc=$?
[ $rc = 0 ] && ok "record stops on SIGTERM (rc 0)" || bad "record on SIGTERM rc $rc"
expect_grep "record reports what it wrote" "$TMP/err" "samples, [0-9]+ files written"

# a server that answers HTML with 200 for the profile paths
mkdir -p "$TMP/www/debug/pprof"
for p in goroutine heap goroutineleak; do printf '<!DOCTYPE html><html><body>Grafana</body></html>\n' >"$TMP/www/debug/pprof/$p"; done
# bind port 0 and write the port once listening: no race, no port collision
python3 -c 'import http.server, os, sys
os.chdir(sys.argv[1])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
with open(sys.argv[2] + ".tmp", "w") as f: f.write(str(s.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()' "$TMP/www" "$TMP/wwwport" >/dev/null 2>&1 &
T_PIDS+=($!)
for _ in $(seq 1 300); do [ -s "$TMP/wwwport" ] && break; sleep 0.1; done
port=$(cat "$TMP/wwwport" 2>/dev/null)
expect_rc "record from an HTML server" 1 "$LEAKWATCH" record "http://127.0.0.1:$port/debug/pprof" --out "$TMP/trace3" --every 1s --duration 2s
expect_grep "HTML reported with its URL" "$TMP/err" "http://127.0.0.1:$port/debug/pprof/goroutine\?debug=1: not a pprof profile: .*HTML"
[ -z "$(ls -A "$TMP/trace3" 2>/dev/null)" ] && ok "nothing saved from the HTML server" || bad "files saved from HTML server"
finish
