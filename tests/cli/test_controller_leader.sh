#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two `leakwatch controller` replicas (Deployment mode, leader election on a
# Lease in the test API server): only the one holding the Lease scrapes and
# writes; the standby is ready but idle (leakwatch_leader 0, no pod series).
# SIGTERM on the leader releases the Lease and the standby takes over within
# a few retry periods (measured, < 2.5 s with a 3 s lease) and starts
# scraping. SIGKILL of that leader (no release): a third replica takes over
# between lease - retry and lease + 4.4 x retry after the last renewal
# (measured). Skips (77) without go, python3, curl or openssl.
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

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
kill -TERM "${PID[$H]}"; t_term=$(now)
t_take=""
for _ in $(seq 1 100); do [ "$(holder)" = "ctl-$S" ] && { t_take=$(now); break; }; sleep 0.05; done
wait "${PID[$H]}"; rc=$?
[ "$rc" = 0 ] && ok "leader exits 0 on SIGTERM" || bad "leader exit $rc"
[ "$(holder)" = "ctl-$S" ] && ok "the standby took the Lease over" || bad "holder after failover '$(holder)'"
if [ -n "$t_take" ]; then
  s=$(secs "$t_term" "$t_take")
  echo "SIGTERM hand-over: ${s} s (lease 3 s, retry 0.5 s)"
  # released Lease: taken on the standby's next jittered retry (<= 2.2 x 0.5 s), well under the lease
  awk -v s="$s" 'BEGIN{exit !(s < 2.5)}' && ok "hand-over after SIGTERM in ${s} s (< 2.5 s, lease 3 s)" ||
    bad "hand-over after SIGTERM took ${s} s"
fi
for _ in $(seq 1 60); do m "$S" | grep -q 'leakwatch_goroutines{namespace="default",pod="svc"' && break; sleep 0.5; done
m "$S" >"$TMP/ms2.txt"
expect_grep "new leader: leakwatch_leader 1" "$TMP/ms2.txt" '^leakwatch_leader 1$'
expect_grep "new leader scrapes the pod" "$TMP/ms2.txt" 'leakwatch_goroutines\{namespace="default",pod="svc"'
# SIGKILL (no release): a fresh standby takes over once the lease expired
# on its own clock, counted from when it SAW the last renewal: not before
# lease - retry after that renewal, and at most lease + 2 x 2.2 x retry
# after it (one jittered retry to see the renewal, one to act after the
# expiry; +0.4 s for polling and load)
"$LEAKWATCH" controller --kubeconfig "$APISERVER_KUBECONFIG" --scrape-interval 5s \
  --scrape-timeout 3s --metrics-bind-address "127.0.0.1:$(freeport)" \
  --leader-election-identity ctl-c --leader-election-lease-duration 3s \
  --leader-election-renew-deadline 2s --leader-election-retry-period 500ms \
  >"$TMP/c.log" 2>&1 &
PID[c]=$!
T_PIDS+=("${PID[c]}")
sleep 1.5
kill -KILL "${PID[$S]}"; wait "${PID[$S]}" 2>/dev/null
renew=$(apiserver_api GET /apis/coordination.k8s.io/v1/namespaces/default/leases/leakwatch |
  python3 -c 'import json,sys,datetime
r = json.load(sys.stdin)["spec"]["renewTime"]
print("%.3f" % datetime.datetime.strptime(r, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp())')
t_take=""
for _ in $(seq 1 200); do [ "$(holder)" = ctl-c ] && { t_take=$(now); break; }; sleep 0.05; done
if [ -n "$t_take" ]; then
  s=$(secs "$renew" "$t_take")
  echo "SIGKILL takeover: ${s} s after the dead leader's last renewal (lease 3 s, retry 0.5 s)"
  awk -v s="$s" 'BEGIN{exit !(s >= 2.5 && s <= 5.6)}' && ok "takeover after SIGKILL ${s} s after the last renewal (2.5..5.6 s)" ||
    bad "takeover after SIGKILL ${s} s after the last renewal (want 2.5..5.6 s)"
else
  bad "no takeover within 10 s of the SIGKILL"
fi
kill -TERM "${PID[c]}"; wait "${PID[c]}"; rc=$?
[ "$rc" = 0 ] && ok "third replica exits 0" || bad "third replica exit $rc"
expect_nogrep "no error records (a)" "$TMP/a.log" 'level=error'
expect_nogrep "no error records (b)" "$TMP/b.log" 'level=error'
expect_nogrep "no error records (c)" "$TMP/c.log" 'level=error'
finish
