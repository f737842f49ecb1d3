#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/soak/run.sh: leakwatch's soak (issue 5 point 6). The controller runs
# against the test API server and the fleet simulator for DURATION while
# bench/soak/driver.py churns pods (delete + create, half of them reusing the
# freed IP), restarts containers (restartCount/containerID change), OOM-kills
# leaking pods (lastState.terminated.reason OOMKilled), opts pods out and in,
# and drops the watches every 10 minutes. The controller's RSS, CPU time and
# open fds are sampled every SAMPLE (30) seconds; at the end it gets SIGTERM
# and must exit 0; the summary compares the 2nd and the last quarter of the
# run (flat after warm-up).
#
#   bench/soak/run.sh [--valgrind] DURATION OUTDIR [extra controller flags...]
#   e.g. nohup bench/soak/run.sh 60m bench/results/soak/1h >/tmp/soak.out 2>&1 &
#        bench/soak/run.sh --valgrind 5m bench/results/soak/valgrind
#
# --valgrind runs the controller under valgrind --leak-check=full
# --track-fds=yes (errors and definite/indirect/possible leaks fail it) and
# checks its report after the SIGTERM shutdown.
# Environment: LEAKWATCH (binary; default build-fleet/leakwatch, then
# build/leakwatch), POOL (fleet pod IPs, default 300), LIVE (pods registered
# at once, default 200; 60 under valgrind), INTERVAL (scrape interval,
# default 15s), STEP (fleet wall time per recorded sample, default 15s),
# LEAK_FRAC (default 0.3), FLEET_BASE (default 127.2.0.0), SAMPLE (30),
# CHURN_EVERY/RESTART_EVERY/KILL_EVERY/OPTOUT_EVERY/DROPWATCH_EVERY (driver
# schedule in seconds: 10/45/60/120/600).
set -euo pipefail
# Everything is in main(), which bash parses whole before running it: editing
# this file while a long run is going cannot derail that run.
main() {
  SRC=$(cd "$(dirname "$0")/../.." && pwd)
  . "$SRC/bench/lib/sampler.sh"
  VG=0
  if [ "${1:-}" = --valgrind ]; then VG=1; shift; fi
  if [ $# -lt 2 ]; then
    sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d' >&2
    exit 2
  fi
  DUR=$1; OUT=$2; shift 2
  DUR_S=$(lw_bench_seconds "$DUR")
  SAMPLE=${SAMPLE:-30}
  POOL=${POOL:-300}
  LIVE=${LIVE:-$([ $VG = 1 ] && echo 60 || echo 200)}
  INTERVAL=${INTERVAL:-15s}
  LEAKWATCH=${LEAKWATCH:-}
  if [ -z "$LEAKWATCH" ]; then
    for b in "$SRC/build-fleet/leakwatch" "$SRC/build/leakwatch"; do
      [ -x "$b" ] && { LEAKWATCH=$b; break; }
    done
  fi
  [ -x "${LEAKWATCH:-}" ] || { echo "soak: no leakwatch binary (set LEAKWATCH)" >&2; exit 1; }
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  rm -f "$OUT"/{port,ctl,samples.tsv,summary.txt,summary.json,metrics-*.txt,driver.jsonl,valgrind.log}

  PIDS=()
  cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  }
  trap cleanup EXIT
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  wait_file() { local i; for i in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

  # 1. fleet simulator on its own IP range (so a fleet benchmark can run beside it)
  mkdir -p "$OUT/bin"
  (cd "$SRC/bench/fleet" && GO111MODULE=off GOCACHE=${GOCACHE:-/tmp/fleet-gocache} "${GO:-/usr/bin/go}" build -o "$OUT/bin/fleet" fleet.go)
  "$OUT/bin/fleet" -n "$POOL" -base "${FLEET_BASE:-127.2.0.0}" -leak-frac "${LEAK_FRAC:-0.3}" \
    -step "${STEP:-15s}" -seed 11 -ctl-file "$OUT/ctl" \
    -traces "$SRC/tests/fixtures/traces,$SRC/bench/results/raw" >"$OUT/fleet.log" 2>&1 &
  FLEET_PID=$!; PIDS+=("$FLEET_PID")
  wait_file "$OUT/ctl" || { cat "$OUT/fleet.log" >&2; exit 1; }

  # 2. test API server (TLS + token file)
  mkdir -p "$OUT/api"
  printf 'tok-soak-%s\n' "$RANDOM$RANDOM" >"$OUT/api/token"
  python3 "$SRC/tests/apiserver/apiserver.py" --port 0 --port-file "$OUT/port" \
    --token-file "$OUT/api/token" --tls-dir "$OUT/api/tls" --kubeconfig-out "$OUT/api/kubeconfig" \
    --log-cap 200 >"$OUT/apiserver.log" 2>&1 &
  API_PID=$!; PIDS+=("$API_PID")
  wait_file "$OUT/port" || { cat "$OUT/apiserver.log" >&2; exit 1; }
  API=https://127.0.0.1:$(cat "$OUT/port")
  CA=$OUT/api/tls/ca.crt

  # 3. the pods: the driver registers LIVE of them, then keeps changing them
  python3 "$SRC/bench/soak/driver.py" --fleet "$(cat "$OUT/ctl")" --api "$API" --ca "$CA" \
    --live "$LIVE" --duration "$DUR_S" --log "$OUT/driver.jsonl" \
    --churn-every "${CHURN_EVERY:-10}" --restart-every "${RESTART_EVERY:-45}" \
    --kill-every "${KILL_EVERY:-60}" --optout-every "${OPTOUT_EVERY:-120}" \
    --dropwatch-every "${DROPWATCH_EVERY:-600}" >"$OUT/driver.out" 2>&1 &
  DRIVER_PID=$!; PIDS+=("$DRIVER_PID")
  for _ in $(seq 1 300); do grep -q '"setup"' "$OUT/driver.jsonl" 2>/dev/null && break; sleep 0.1; done
  curl -sS --cacert "$CA" -X DELETE "$API/_test/counters" >/dev/null

  # 4. the controller
  MPORT=$(free_port)
  WRAP=()
  if [ $VG = 1 ]; then
    WRAP=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible
          --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=33
          --track-fds=yes --log-file="$OUT/valgrind.log")
  fi
  T0=$(date +%s.%N)
  "${WRAP[@]}" "$LEAKWATCH" controller --kubeconfig "$OUT/api/kubeconfig" --scrape-interval "$INTERVAL" \
    --metrics-bind-address "127.0.0.1:$MPORT" --log-format json "$@" >"$OUT/controller.log" 2>&1 &
  CPID=$!; PIDS+=("$CPID")
  echo "soak: $DUR_S s, $LIVE of $POOL pods, controller pid $CPID$([ $VG = 1 ] && echo ' (valgrind)'), metrics :$MPORT, out $OUT" >&2

  lw_bench_sample soak "$OUT" "$CPID" "$CPID" "$T0" "$DUR_S" "$SAMPLE" "$MPORT" "$CA" "$API" "$FLEET_PID" "$API_PID"

  curl -s --max-time 20 "http://127.0.0.1:$MPORT/metrics" >"$OUT/metrics-end.txt" || true
  curl -sS --cacert "$CA" "$API/_test/counters" >"$OUT/api-counters.json" || true
  curl -sS "http://$(cat "$OUT/ctl")/gaps" >"$OUT/fleet-gaps.json" || true
  kill -TERM "$DRIVER_PID" 2>/dev/null || true
  wait "$DRIVER_PID" 2>/dev/null || true

  # 5. clean shutdown (valgrind's leak check takes a while)
  kill -TERM "$CPID" 2>/dev/null || true
  T_TERM=$(date +%s.%N)
  lim=$([ $VG = 1 ] && echo 3000 || echo 600)
  for _ in $(seq 1 "$lim"); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
  killed=""
  if kill -0 "$CPID" 2>/dev/null; then killed=" (SIGKILL after $((lim / 10)) s)"; kill -KILL "$CPID"; fi
  rc=0; wait "$CPID" 2>/dev/null || rc=$?
  echo "$rc$killed after $(echo "$(date +%s.%N) - $T_TERM" | bc | cut -c1-5) s" >"$OUT/controller-exit.txt"

  { set +e
    python3 "$SRC/bench/fleet/summarize.py" --out "$OUT" --pods "$LIVE" --duration "$DUR_S" \
      --warmup "$(( DUR_S / 4 ))" --clk-tck "$(getconf CLK_TCK)" --title "soak$([ $VG = 1 ] && echo ' (valgrind)')" || true
    echo "driver actions: $(tail -1 "$OUT/driver.out" 2>/dev/null)"
    grep -c '"level":"error"' "$OUT/controller.log" | sed 's/^/controller error log records: /'
    grep -o '"msg":"[^"]*"' "$OUT/controller.log" | sort | uniq -c | sort -rn | head -25 | sed 's/^/  log: /'
    if [ $VG = 1 ]; then
      echo "valgrind (exit $rc; 33 = errors or leaks):"
      grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|FILE DESCRIPTORS|Open file descriptor|All heap blocks were freed" "$OUT/valgrind.log" | sed 's/^/  /' | head -40
      [ -s "$OUT/valgrind.log" ] && echo "  (valgrind.log: $(wc -l <"$OUT/valgrind.log") lines)" || echo "  valgrind.log empty: no errors, no leaks"
    fi
  } | tee "$OUT/summary.txt"
}
main "$@"
exit
