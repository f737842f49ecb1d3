#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_deploy_run.sh: the container command line of manifests/ runs. The args
# and downward-API environment of the rendered Deployment (and DaemonSet) are
# given to the real `leakwatch controller` against the test API server (only
# --kubeconfig and a free --metrics-bind-address are appended, as the cluster
# would supply in-cluster credentials and a pod network). It must become live
# and ready on the manifest's probe paths, take the Lease the chart's Role
# names, with the pod name as holder, in the pod's namespace, and stop
# cleanly on SIGTERM. Skips (77) without python3, curl or openssl.
. "$(dirname "$0")/lib.sh"
for t in python3 curl openssl; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
done
SRC=${LW_SOURCE_DIR:-.}
export HOME=$TMP/home
mkdir -p "$HOME"
. "$SRC/tests/apiserver/apiserver.sh"
"$LEAKWATCH" controller --help >/dev/null 2>&1 || { echo "skip: this leakwatch has no controller"; exit 77; }
apiserver_start || { bad "API server did not start"; finish; exit 1; }
apiserver_api POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"leakwatch"}}' >/dev/null

container_args() {
  awk '/^          args:$/ {on=1; next} on && /^          [a-z]/ {on=0} on {sub(/^ *- /, ""); gsub(/^"|"$/, ""); print}' "$1"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_manifest() { # NAME FILE ENV...
  local name=$1 file=$2; shift 2
  local mport log cpid ready=0 rc
  mport=$(free_port)
  log=$TMP/$name.log
  mapfile -t args < <(container_args "$file")
  [ "${args[0]:-}" = controller ] && ok "$name: container runs the controller subcommand" || bad "$name: args[0]=${args[0]:-}"
  local live ready_path
  live=$(awk '/livenessProbe:/ {on=1} on && /path:/ {print $2; exit}' "$file")
  ready_path=$(awk '/readinessProbe:/ {on=1} on && /path:/ {print $2; exit}' "$file")
  [ "$live" = /healthz ] && [ "$ready_path" = /readyz ] && ok "$name: probes $live and $ready_path" \
    || bad "$name: probe paths '$live' '$ready_path'"
  env -i PATH="$PATH" HOME="$HOME" "$@" "$LEAKWATCH" "${args[@]}" --kubeconfig "$APISERVER_KUBECONFIG" \
    --metrics-bind-address "127.0.0.1:$mport" >"$log" 2>&1 &
  cpid=$!
  T_PIDS+=("$cpid")
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport$ready_path")" = 200 ] && { ready=1; break; }
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.2
  done
  [ $ready = 1 ] && ok "$name: readiness probe $ready_path is 200" || bad "$name: $ready_path never 200; log: $(tail -5 "$log")"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport$live")" = 200 ] \
    && ok "$name: liveness probe $live is 200" || bad "$name: $live not 200"
  curl -s "http://127.0.0.1:$mport/metrics" >"$TMP/$name.metrics"
  [ -s "$TMP/$name.metrics" ] && ok "$name: /metrics serves" || bad "$name: /metrics empty"
  RUN_PID=$cpid RUN_LOG=$log
}
stop_run() { # NAME
  kill -TERM "$RUN_PID"
  for _ in $(seq 1 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$RUN_PID"; local rc=$?
  [ "$rc" = 0 ] && ok "$1: SIGTERM: exit 0" || bad "$1: SIGTERM: exit $rc; log: $(tail -5 "$RUN_LOG")"
  expect_nogrep "$1: no error records in the log" "$RUN_LOG" 'level=error'
}

# -- deployment mode, leader election on as rendered
M=$SRC/manifests/leakwatch.yaml
lease=$(grep -A1 'resourceNames:' "$M" | head -1 | sed -E 's/.*\["([^"]+)"\].*/\1/')
[ -n "$lease" ] && ok "the chart's Role names Lease '$lease'" || bad "no resourceNames in the Role"
run_manifest deployment "$M" POD_NAME=leakwatch-5d8f7-abcde POD_NAMESPACE=leakwatch
# Leader election is wired into the controller separately (pkg/leader); a
# controller that says nothing about a lease or leadership within 3 s of
# being ready does not run it yet: the Lease checks are then reported, not run.
sleep 3
if ! grep -qiE 'lease|leader' "$RUN_LOG"; then
  echo "note: this leakwatch has no leader election yet; Lease checks not run"
  stop_run deployment
  D=$SRC/manifests/leakwatch-daemonset.yaml
  run_manifest daemonset "$D" POD_NAME=leakwatch-x7k2p POD_NAMESPACE=leakwatch NODE_NAME=node-1
  stop_run daemonset
  finish; exit
fi
holder=""
for _ in $(seq 1 50); do
  holder=$(apiserver_api GET "/apis/coordination.k8s.io/v1/namespaces/leakwatch/leases/$lease" 2>/dev/null |
    python3 -c 'import json,sys
try: print(json.load(sys.stdin)["spec"].get("holderIdentity",""))
except Exception: print("")')
  [ -n "$holder" ] && break
  sleep 0.2
done
[ "$holder" = leakwatch-5d8f7-abcde ] && ok "deployment: Lease leakwatch/$lease held by the pod name (POD_NAME, POD_NAMESPACE)" \
  || bad "deployment: Lease leakwatch/$lease holder '$holder'; log: $(tail -5 "$RUN_LOG")"
apiserver_api GET /apis/coordination.k8s.io/v1/namespaces/leakwatch/leases >"$TMP/leases.json"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$TMP/leases.json")
[ "$n" = 1 ] && ok "deployment: exactly one Lease, the one the Role grants" || bad "deployment: $n leases: $(head -c 300 "$TMP/leases.json")"
stop_run deployment

# -- daemonset mode: NODE_NAME from the downward API
D=$SRC/manifests/leakwatch-daemonset.yaml
run_manifest daemonset "$D" POD_NAME=leakwatch-x7k2p POD_NAMESPACE=leakwatch NODE_NAME=node-1
expect_nogrep "daemonset: no leader election" "$RUN_LOG" 'lease'
stop_run daemonset

finish
