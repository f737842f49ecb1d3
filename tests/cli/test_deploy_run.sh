#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_deploy_run.sh: the container command line of manifests/ runs. The args
# and downward-API environment of the rendered Deployment (and DaemonSet) are
# given to the real `leakwatch controller` against the test API server (only
# --kubeconfig and a free --metrics-bind-address are appended, as the cluster
# would supply in-cluster credentials and a pod network). It must become live
# and ready on the manifest's probe paths, take the Lease the chart's Role
# names, with the pod name as holder, in the pod's namespace, with a 15 s
# lease, and stop cleanly on SIGTERM, releasing it; the DaemonSet runs no
# election and leaves the Lease alone. Skips (77) without python3, curl or openssl.
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
lease_json() { apiserver_api GET "/apis/coordination.k8s.io/v1/namespaces/leakwatch/leases/$lease" 2>/dev/null; }
lease_field() { # FIELD of spec (or metadata.resourceVersion for "rv")
  lease_json | python3 -c 'import json,sys
try: l = json.load(sys.stdin)
except Exception: print(""); sys.exit(0)
f = sys.argv[1]
print(l.get("metadata",{}).get("resourceVersion","") if f == "rv" else l.get("spec",{}).get(f,""))' "$1"
}
ld=$(lease_field leaseDurationSeconds)
[ "$ld" = 15 ] && ok "deployment: the Lease says 15 s (client-go's default lease duration)" || bad "deployment: leaseDurationSeconds '$ld'"
stop_run deployment
h=$(lease_field holderIdentity)
[ -z "$h" ] && ok "deployment: SIGTERM released the Lease (holder empty)" || bad "deployment: Lease still held by '$h' after SIGTERM"
rv0=$(lease_field rv)

# -- daemonset mode: NODE_NAME from the downward API
D=$SRC/manifests/leakwatch-daemonset.yaml
run_manifest daemonset "$D" POD_NAME=leakwatch-x7k2p POD_NAMESPACE=leakwatch NODE_NAME=node-1
sleep 3
expect_nogrep "daemonset: no leader election in the log" "$RUN_LOG" 'msg=lead|lease'
stop_run daemonset
[ "$(lease_field rv)" = "$rv0" ] && [ -z "$(lease_field holderIdentity)" ] &&
  ok "daemonset: the Lease was not touched" || bad "daemonset: the Lease changed: $(lease_json | head -c 300)"
apiserver_api GET /apis/coordination.k8s.io/v1/namespaces/leakwatch/leases >"$TMP/leases2.json"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$TMP/leases2.json")
[ "$n" = 1 ] && ok "daemonset: no Lease of its own" || bad "daemonset: $n leases"

finish
