#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/fleet/run.sh: footprint of `leakwatch controller` at scale (issue 5
# point 2). Starts the test API server (TLS + token, tests/apiserver) holding
# N pods, the fleet simulator (bench/fleet/fleet.go) serving real recorded
# profiles for those N pods on 127.1.x.y:6060, and the controller scraping
# every 30 s; samples the controller's RSS, CPU time and open fds every
# SAMPLE seconds; at the end reads its /metrics (scrape latency histogram,
# scrape counts), the API server's request counters and the fleet's
# scrape-gap histogram, stops the controller with SIGTERM, and prints a
# summary (also OUTDIR/summary.txt, OUTDIR/summary.json).
#
#   bench/fleet/run.sh N DURATION OUTDIR [extra controller flags...]
#   e.g. bench/fleet/run.sh 1000 15m bench/results/fleet/1000
#
# Environment: LEAKWATCH (binary; default build-fleet/leakwatch, then
# build/leakwatch), SAMPLE (seconds between samples, default 10), WARMUP
# (seconds excluded from the steady-state figures, default 300 or a quarter
# of the run, whichever is less), FLEET_BASE (first pod IP, default
# 127.1.0.0), LEAK_FRAC (default 0.1), STEP (wall time per recorded sample,
# default 30s), WRAP (a command prefix for the controller, e.g. "valgrind
# --tool=massif --massif-out-file=OUT").
set -euo pipefail
# Everything is in main(), which bash parses whole before running it: editing
# this file while a long run is going cannot derail that run.
main() {
  SRC=$(cd "$(dirname "$0")/../.." && pwd)
  . "$SRC/bench/lib/sampler.sh"
  if [ $# -lt 3 ]; then
    sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d' >&2
    exit 2
  fi
  N=$1; DUR=$2; OUT=$3; shift 3
  DUR_S=$(lw_bench_seconds "$DUR")
  SAMPLE=${SAMPLE:-10}
  WARMUP=${WARMUP:-$(( DUR_S / 4 < 300 ? DUR_S / 4 : 300 ))}
  LEAKWATCH=${LEAKWATCH:-}
  if [ -z "$LEAKWATCH" ]; then
    for b in "$SRC/build-fleet/leakwatch" "$SRC/build/leakwatch"; do
      [ -x "$b" ] && { LEAKWATCH=$b; break; }
    done
  fi
  [ -x "${LEAKWATCH:-}" ] || { echo "run.sh: no leakwatch binary (set LEAKWATCH)" >&2; exit 1; }
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  rm -f "$OUT"/{port,ctl,samples.tsv,summary.txt,summary.json,metrics-*.txt}

  PIDS=()
  cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  }
  trap cleanup EXIT

  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  wait_file() { local i; for i in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

  # 1. the fleet simulator (Go, GOPATH mode: standard library only)
  mkdir -p "$OUT/bin"
  GO=${GO:-/usr/bin/go}
  (cd "$SRC/bench/fleet" && GO111MODULE=off GOCACHE=${GOCACHE:-/tmp/fleet-gocache} "$GO" build -o "$OUT/bin/fleet" fleet.go)
  "$OUT/bin/fleet" -n "$N" -base "${FLEET_BASE:-127.1.0.0}" -leak-frac "${LEAK_FRAC:-0.1}" \
    -step "${STEP:-30s}" -ctl-file "$OUT/ctl" \
    -traces "$SRC/tests/fixtures/traces,$SRC/bench/results/raw" >"$OUT/fleet.log" 2>&1 &
  FLEET_PID=$!; PIDS+=("$FLEET_PID")
  wait_file "$OUT/ctl" || { cat "$OUT/fleet.log" >&2; exit 1; }
  FLEET=$(cat "$OUT/ctl")

  # 2. the test API server, TLS + token file, holding the N pods
  mkdir -p "$OUT/api"
  printf 'tok-fleet-%s\n' "$RANDOM$RANDOM" >"$OUT/api/token"
  python3 "$SRC/tests/apiserver/apiserver.py" --port 0 --port-file "$OUT/port" \
    --token-file "$OUT/api/token" --tls-dir "$OUT/api/tls" --kubeconfig-out "$OUT/api/kubeconfig" \
    --log-cap 200 >"$OUT/apiserver.log" 2>&1 &
  API_PID=$!; PIDS+=("$API_PID")
  wait_file "$OUT/port" || { cat "$OUT/apiserver.log" >&2; exit 1; }
  API=https://127.0.0.1:$(cat "$OUT/port")
  CA=$OUT/api/tls/ca.crt
  python3 "$SRC/bench/fleet/fleetctl.py" register --fleet "$FLEET" --api "$API" --ca "$CA" >/dev/null
  curl -sS --cacert "$CA" -X DELETE "$API/_test/counters" >/dev/null

  # 3. the controller
  MPORT=$(free_port)
  T0=$(date +%s.%N)
  ${WRAP:-} "$LEAKWATCH" controller --kubeconfig "$OUT/api/kubeconfig" --scrape-interval 30s \
    --metrics-bind-address "127.0.0.1:$MPORT" --log-format json "$@" >"$OUT/controller.log" 2>&1 &
  CPID=$!; PIDS+=("$CPID")
  echo "run.sh: $N pods, $DUR_S s, controller pid $CPID ($LEAKWATCH), metrics :$MPORT, out $OUT" >&2

  # the process to measure: under a WRAP (valgrind) the controller is the child
  # process with our command line; without one it is $CPID itself.
  MPID=$CPID
  if [ -n "${WRAP:-}" ]; then
    for _ in $(seq 1 100); do
      c=$(pgrep -P "$CPID" -f -- "controller --kubeconfig" | head -1 || true)
      [ -n "$c" ] && { MPID=$c; break; }
      sleep 0.1
    done
  fi
  lw_bench_sample run.sh "$OUT" "$CPID" "$MPID" "$T0" "$DUR_S" "$SAMPLE" "$MPORT" "$CA" "$API" "$FLEET_PID" "$API_PID"

  curl -s --max-time 10 "http://127.0.0.1:$MPORT/metrics" >"$OUT/metrics-end.txt" || true
  curl -sS --cacert "$CA" "$API/_test/counters" >"$OUT/api-counters.json"
  curl -sS "http://$FLEET/gaps" >"$OUT/fleet-gaps.json"
  curl -sS "http://$FLEET/stats" >"$OUT/fleet-stats.json"
  grep -m1 '^VmHWM' "/proc/$MPID/status" >"$OUT/vmhwm.txt" 2>/dev/null || true

  # 4. clean shutdown
  kill -TERM "$MPID" 2>/dev/null || true
  T_TERM=$(date +%s.%N)
  for _ in $(seq 1 600); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
  killed=""
  if kill -0 "$CPID" 2>/dev/null; then killed=" (SIGKILL after 60 s)"; kill -KILL "$CPID"; fi
  rc=0; wait "$CPID" 2>/dev/null || rc=$?
  rc="$rc$killed after $(echo "$(date +%s.%N) - $T_TERM" | bc | cut -c1-5) s"
  echo "$rc" >"$OUT/controller-exit.txt"

  python3 "$SRC/bench/fleet/summarize.py" --out "$OUT" --pods "$N" --duration "$DUR_S" \
    --warmup "$WARMUP" --clk-tck "$(getconf CLK_TCK)" | tee "$OUT/summary.txt"
}
main "$@"
exit
