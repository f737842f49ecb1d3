#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two `leakwatch controller` replicas (Deployment mode, leader election on a
# Lease in the test API server): only the one holding the Lease scrapes and
# writes; the standby is ready but idle (leakwatch_leader 0, no pod series).
# SIGTERM on the leader releases the Lease and the standby takes over within
# a few retry periods and starts scraping. Skips (77) without go, python3,
# curl or openssl.
. "$(dirname "$0")/lib.sh"
for t in go python3 curl openssl; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
done
SRC=${LW_SOURCE_DIR:-.}
export HOME=$TMP/home
mkdir -p "$HOME"
. "$SRC/tests/apiserver/apiserver.sh"
ZOO=$(build_leakzoo) || { echo "skip: leakzoo does not build"; exit 77; }
apiserver_start || { bad "API server did not start"; finish; exit 1; }
start_leakzoo "$ZOO" -scenario healthy || { bad "leakzoo"; finish; exit 1; }
PORT=${ZOO_URL#http://127.0.0.1:}; PORT=${PORT%%/*}
apiserver_ctl POST pods '{"metadata":{"name":"svc","namespace":"default",
  "annotations":{"leakwatch.io/scrape":"true","leakwatch.io/interval":"5s"}},
  "spec":{"containers":[{"name":"app","ports":[{"containerPort":'"$PORT"'}],
    "resources":{"limits":{"memory":"128Mi"}}}]},
  "status":{"phase":"Running","podIP":"127.0.0.1","containerStatuses":[{"name":"app",
    "restartCount":0,"containerID":"containerd://s0","state":{"running":{}}}]}}' >/dev/null

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A MP PID
for id in a b; do
  MP[$id]=$(freeport)
  "$LEAKWATCH" controller --kubeconfig "$APISERVER_KUBECONFIG" --scrape-interval 5s \
    --scrape-timeout 3s --metrics-bind-address "127.0.0.1:${MP[$id]}" \
    --leader-election-identity "ctl-$id" --leader-election-lease-duration 3s \
    --leader-election-renew-deadline 2s --leader-election-retry-period 500ms \
    >"$TMP/$id.log" 2>&1 &
  PID[$id]=$!
  T_PIDS+=("${PID[$id]}")
  sleep 0.3
done
holder() {
  apiserver_api GET /apis/coordination.k8s.io/v1/namespaces/default/leases/leakwatch |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("spec",{}).get("holderIdentity",""))' 2>/dev/null
}
m() { curl -s "http://127.0.0.1:${MP[$1]}/metrics"; }
for _ in $(seq 1 50); do [ -n "$(holder)" ] && break; sleep 0.2; done
H=$(holder); H=${H#ctl-}
case "$H" in a|b) ok "one replica holds the Lease (ctl-$H)";; *) bad "holder '$H'"; finish; exit 1;; esac
S=$([ "$H" = a ] && echo b || echo a)
for _ in $(seq 1 60); do m "$H" | grep -q 'leakwatch_goroutines{namespace="default",pod="svc"' && break; sleep 0.5; done
m "$H" >"$TMP/mh.txt"; m "$S" >"$TMP/ms.txt"
expect_grep "leader: leakwatch_leader 1" "$TMP/mh.txt" '^leakwatch_leader 1$'
expect_grep "leader scrapes the pod" "$TMP/mh.txt" 'leakwatch_goroutines\{namespace="default",pod="svc"'
expect_grep "standby: leakwatch_leader 0" "$TMP/ms.txt" '^leakwatch_leader 0$'
expect_nogrep "standby does not scrape" "$TMP/ms.txt" 'pod="svc"'
expect_grep "standby counts no scrapes" "$TMP/ms.txt" '^leakwatch_pods_scraped 0$'
[ "$(curl -s "http://127.0.0.1:${MP[$S]}/readyz")" = ok ] && ok "standby is ready" || bad "standby not ready"

kill -TERM "${PID[$H]}"; wait "${PID[$H]}"; rc=$?
[ "$rc" = 0 ] && ok "leader exits 0 on SIGTERM" || bad "leader exit $rc"
for _ in $(seq 1 50); do [ "$(holder)" = "ctl-$S" ] && break; sleep 0.2; done
[ "$(holder)" = "ctl-$S" ] && ok "the standby took the Lease over" || bad "holder after failover '$(holder)'"
for _ in $(seq 1 60); do m "$S" | grep -q 'leakwatch_goroutines{namespace="default",pod="svc"' && break; sleep 0.5; done
m "$S" >"$TMP/ms2.txt"
expect_grep "new leader: leakwatch_leader 1" "$TMP/ms2.txt" '^leakwatch_leader 1$'
expect_grep "new leader scrapes the pod" "$TMP/ms2.txt" 'leakwatch_goroutines\{namespace="default",pod="svc"'
kill -TERM "${PID[$S]}"; wait "${PID[$S]}"; rc=$?
[ "$rc" = 0 ] && ok "second replica exits 0" || bad "second replica exit $rc"
expect_nogrep "no error records (a)" "$TMP/a.log" 'level=error'
expect_nogrep "no error records (b)" "$TMP/b.log" 'level=error'
finish
