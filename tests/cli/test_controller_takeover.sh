#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Leader takeover without duplicate Events (issue 4, point 2). Two
# `leakwatch controller` replicas with leader election on the default
# timings (15 s lease, 10 s renew deadline, 2 s retry) against the test API
# server, which holds a leaking pod (tests/go/leakzoo -scenario
# http-transport, 30 leaked connections/s, limit 256Mi) and a pod whose port
# serves nothing.
#  1. replica A leads and records events: ScrapeFailed on the dead pod, an
#     OOMKillPredicted (or GoroutineLeak/MemoryLeak) Warning on the leaking
#     one; replica B stands by;
#  2. A is killed with SIGKILL (no release): B must take the Lease between
#     lease - retry and lease + 2 x 2.2 x retry after A's last renewal
#     (client-go's algorithm: the lease runs from when B saw that renewal)
#     and the time is printed; then a fresh standby C starts. Meanwhile (nobody
#     leads) the leaking pod's container is OOM-killed (pod status as the
#     kubelet writes it): B must still write the OOMKilled post-mortem, and
#     say that it had been predicted (A's Event, the pod's annotations);
#  3. B records the same findings again: they must update the existing
#     Event objects (series), not create a second Event with the same
#     regarding uid and reason;
#  4. B gets SIGTERM: it releases the Lease and C takes over within
#     2.2 x retry (well under the lease duration); again no duplicate.
# About 5 minutes (each new leader needs 2 minutes of its own history before
# a verdict). Skips (77) without go, python3, curl or openssl, or on a
# sanitizer build (the normal ctest stage runs it; LW_TAKEOVER_SANITIZER=1
# runs it anyway).
. "$(dirname "$0")/lib.sh"
for t in go python3 curl openssl; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
done
if [ "${LW_TAKEOVER_SANITIZER:-0}" != 1 ] &&
   readelf -d "$LEAKWATCH" 2>/dev/null | grep -qE 'NEEDED.*lib(asan|ubsan|tsan|lsan)'; then
  echo "skip: $LEAKWATCH is a sanitizer build; this 5-minute test runs in the normal ctest stage"
  exit 77
fi
SRC=${LW_SOURCE_DIR:-.}
export HOME=$TMP/home
mkdir -p "$HOME"
. "$SRC/tests/apiserver/apiserver.sh"
ZOO=$(build_leakzoo) || { echo "skip: leakzoo does not build"; exit 77; }
apiserver_start || { bad "API server did not start"; finish; exit 1; }
start_leakzoo "$ZOO" -scenario http-transport -rate 30 -max 0 || { bad "leaky leakzoo"; finish; exit 1; }
LEAKY_PORT=${ZOO_URL#http://127.0.0.1:}; LEAKY_PORT=${LEAKY_PORT%%/*}
DEAD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pod() { # name port limit
  printf '{"metadata":{"name":"%s","namespace":"default",
     "annotations":{"leakwatch.io/scrape":"true","leakwatch.io/interval":"5s"}},
   "spec":{"nodeName":"node-a","containers":[{"name":"app","image":"leakzoo",
     "ports":[{"name":"pprof","containerPort":%s,"protocol":"TCP"}],
     "resources":{"limits":{"memory":"%s"}}}]},
   "status":{"phase":"Running","podIP":"127.0.0.1","hostIP":"127.0.0.1",
     "containerStatuses":[{"name":"app","ready":true,"restartCount":0,
       "containerID":"containerd://c0-%s","state":{"running":{"startedAt":"2026-11-26T20:00:00Z"}}}]}}' \
    "$1" "$2" "$3" "$1"
}
apiserver_ctl POST pods "[$(pod leaky "$LEAKY_PORT" 256Mi),$(pod dead "$DEAD_PORT" 64Mi)]" >/dev/null

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A MP PID
start_replica() { # ID
  MP[$1]=$(freeport)
  "$LEAKWATCH" controller --kubeconfig "$APISERVER_KUBECONFIG" --scrape-interval 5s \
    --scrape-timeout 3s --metrics-bind-address "127.0.0.1:${MP[$1]}" \
    --scrape-failed-event-interval 0s --leader-election-identity "ctl-$1" \
    --shutdown-timeout 5s >"$TMP/$1.log" 2>&1 &
  PID[$1]=$!
  T_PIDS+=("${PID[$1]}")
}
holder() {
  apiserver_api GET /apis/coordination.k8s.io/v1/namespaces/default/leases/leakwatch 2>/dev/null |
    python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("spec",{}).get("holderIdentity",""))
except Exception: print("")'
}
events_json() { apiserver_api GET /apis/events.k8s.io/v1/namespaces/default/events; }
# events: one line per Event object: name uid reason count reportingInstance
list_events() {
  events_json | python3 -c 'import json,sys
for e in sorted(json.load(sys.stdin)["items"], key=lambda e: e["eventTime"]):
    s = e.get("series") or {}
    print(e["metadata"]["name"], e["regarding"].get("uid",""), e["regarding"]["name"], e["reason"],
          s.get("count", 1), e.get("reportingInstance",""))'
}
count_of() { # POD REASON -> number of Event objects
  list_events | awk -v p="$1" -v r="$2" '$3==p && $4==r' | wc -l
}
series_of() { # POD REASON -> highest series count
  list_events | awk -v p="$1" -v r="$2" '$3==p && $4==r {if ($5>m) m=$5} END {print m+0}'
}
no_duplicates() { # LABEL
  list_events >"$TMP/events.$1.txt"
  echo "events after $1 (name uid pod reason count reportingInstance):"
  cat "$TMP/events.$1.txt"
  awk '{k=$2" "$4; n[k]++} END {for (k in n) if (n[k]>1) print k, n[k]}' "$TMP/events.$1.txt" >"$TMP/dups.$1.txt"
  if [ -s "$TMP/dups.$1.txt" ]; then
    bad "$1: duplicate Events (regarding uid, reason, objects): $(tr '\n' ';' <"$TMP/dups.$1.txt")"
  else
    ok "$1: no duplicate Event (one object per regarding uid and reason)"
  fi
}
wait_reason() { # POD REASON-REGEX SECONDS -> 0 when an Event with that reason exists
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    list_events | awk -v p="$1" '$3==p {print $4}' | grep -Eqx "$2" && return 0
    sleep 1
  done
  return 1
}
wait_series() { # POD REASON MIN SECONDS -> 0 when the series count reaches MIN
  local end=$((SECONDS + $4))
  while [ $SECONDS -lt $end ]; do
    [ "$(series_of "$1" "$2")" -ge "$3" ] && return 0
    sleep 1
  done
  return 1
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

# ---- 1. A leads, B stands by, A records events
start_replica a
for _ in $(seq 1 100); do [ "$(holder)" = ctl-a ] && break; sleep 0.2; done
[ "$(holder)" = ctl-a ] && ok "A holds the Lease" || { bad "holder '$(holder)'"; finish; exit 1; }
start_replica b
wait_reason dead ScrapeFailed 40 && ok "A: ScrapeFailed on the dead pod" || bad "A: no ScrapeFailed; $(tail -3 "$TMP/a.log")"
if wait_reason leaky 'OOMKillPredicted|GoroutineLeak|MemoryLeak' 240; then
  LEAK_REASON=$(list_events | awk '$3=="leaky" {print $4}' | grep -Ex 'OOMKillPredicted|GoroutineLeak|MemoryLeak' | head -1)
  ok "A: $LEAK_REASON on the leaking pod"
else
  LEAK_REASON=""
  bad "A: no leak Warning on the leaking pod in 240 s; $(grep -E 'leak|insufficient' "$TMP/a.log" | tail -2)"
fi
# A's next verdict is a repeat: the series is updated on the same object
[ -n "$LEAK_REASON" ] && { wait_series leaky "$LEAK_REASON" 2 30 && ok "A: the repeat updates the series (count 2)" ||
  bad "A: no series update of $LEAK_REASON"; }
curl -s "http://127.0.0.1:${MP[b]}/metrics" >"$TMP/b0.metrics"
expect_grep "B stands by (leakwatch_leader 0)" "$TMP/b0.metrics" '^leakwatch_leader 0$'
no_duplicates "A's leadership"

# ---- 2. SIGKILL the leader; B takes over after the lease expires
# the last renewal A made: the Lease's renewTime (A renews every 2 s)
kill -KILL "${PID[a]}"; t_kill=$(now)
wait "${PID[a]}" 2>/dev/null
renew=$(apiserver_api GET /apis/coordination.k8s.io/v1/namespaces/default/leases/leakwatch |
  python3 -c 'import json,sys,datetime
r = json.load(sys.stdin)["spec"]["renewTime"]
print("%.3f" % datetime.datetime.strptime(r, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp())')
# while nobody leads, the kubelet records an OOM kill of the leaking pod's
# container (the program itself goes on: it plays the restarted container)
KILL_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
apiserver_ctl PATCH pods/default/leaky/status '{"containerStatuses":[{"name":"app","ready":true,
  "restartCount":1,"containerID":"containerd://c1-leaky","state":{"running":{"startedAt":"'"$KILL_AT"'"}},
  "lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"startedAt":"2026-11-26T20:00:00Z",
    "finishedAt":"'"$KILL_AT"'","containerID":"containerd://c0-leaky"}}}]}' >/dev/null
t_take=""
for _ in $(seq 1 300); do
  [ "$(holder)" = ctl-b ] && { t_take=$(now); break; }
  sleep 0.1
done
if [ -n "$t_take" ]; then
  after_kill=$(secs "$t_kill" "$t_take"); after_renew=$(secs "$renew" "$t_take")
  echo "takeover: B holds the Lease ${after_kill} s after the SIGKILL, ${after_renew} s after A's last renewal"
  # client-go's algorithm: B counts the lease from when it SAW A's last renewal
  # (one jittered retry, <= 2.2 x 2 s, after it) and acts on its next retry
  # after the expiry: 13 s .. 15 + 8.8 s after that renewal (+1 s polling/load)
  awk -v s="$after_renew" 'BEGIN{exit !(s >= 13 && s <= 24.8)}' &&
    ok "B took over ${after_renew} s after A's last renewal (15 s lease; bound 13..23.8 s)" ||
    bad "B took over ${after_renew} s after A's last renewal, outside 13..24.8 s"
else
  bad "B did not take the Lease within 30 s of the SIGKILL"
fi
start_replica c   # a fresh standby for step 4 (started now: before, it would race B for the Lease)
for _ in $(seq 1 50); do curl -s "http://127.0.0.1:${MP[b]}/metrics" | grep -q '^leakwatch_leader 1$' && break; sleep 0.2; done
curl -s "http://127.0.0.1:${MP[b]}/metrics" >"$TMP/b1.metrics"
expect_grep "B leads (leakwatch_leader 1)" "$TMP/b1.metrics" '^leakwatch_leader 1$'

# the kill during the hand-over gets its post-mortem from B, which knows
# (from A's Event and the pod's annotations) that it had been predicted
pm=""
for _ in $(seq 1 40); do
  pm=$(events_json | python3 -c 'import json,sys
for e in json.load(sys.stdin)["items"]:
    if e["regarding"]["name"] == "leaky" and e["reason"] == "OOMKilled": print(e.get("note",""))')
  [ -n "$pm" ] && break
  sleep 0.5
done
echo "post-mortem of the kill during the hand-over: ${pm:-none}"
[ -n "$pm" ] && ok "B: OOMKilled post-mortem for the kill during the hand-over" ||
  bad "B: no OOMKilled post-mortem for the container killed while nobody led (restartCount 0 -> 1, lastState OOMKilled)"
if [ -n "$pm" ] && [ -n "$LEAK_REASON" ]; then
  case "$pm" in *"not predicted"*) bad "B: the post-mortem says 'not predicted' although A had recorded $LEAK_REASON";;
    *predicted*) ok "B: the post-mortem says it had been predicted";;
    *) bad "B: the post-mortem does not say whether it was predicted: $pm";; esac
fi

# ---- 3. B finds the same things: series updates, not new Events
writes_of() { # ID -> Event writes (creates + series updates) the replica made
  curl -s "http://127.0.0.1:${MP[$1]}/metrics" |
    awk '/^leakwatch_events_total\{/ && /result="(created|series_updated)"/ {n+=$NF} END {print n+0}'
}
wait_writes() { # ID SECONDS -> 0 once the replica wrote an Event
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ "$(writes_of "$1")" -gt 0 ] && return 0
    sleep 1
  done
  return 1
}
# three failed scrapes of the dead pod (15 s), then B's ScrapeFailed write
wait_writes b 45 && ok "B: wrote its ScrapeFailed finding" || bad "B: no Event write in 45 s; $(tail -3 "$TMP/b.log")"
sleep 2
[ "$(count_of dead ScrapeFailed)" = 1 ] && ok "B: still one ScrapeFailed Event on the dead pod (series $(series_of dead ScrapeFailed))" ||
  bad "B: $(count_of dead ScrapeFailed) ScrapeFailed Events on the dead pod"
if [ -n "$LEAK_REASON" ]; then
  lc0=$(series_of leaky "$LEAK_REASON")
  # B needs two minutes of its own history before its first verdict
  end=$((SECONDS + 240))
  while [ $SECONDS -lt $end ]; do
    [ "$(series_of leaky "$LEAK_REASON")" -gt "$lc0" ] && break
    [ "$(count_of leaky "$LEAK_REASON")" -gt 1 ] && break
    grep -q 'msg=leak ' "$TMP/b.log" && [ "$(grep -c 'msg=leak ' "$TMP/b.log")" -ge 2 ] && break
    sleep 2
  done
  grep -q 'msg=leak ' "$TMP/b.log" && ok "B: judged the leaking pod itself" || bad "B: no leak verdict in 240 s"
  sleep 6   # let the write land
fi
no_duplicates "B's takeover (SIGKILL of A)"

# ---- 4. SIGTERM on B: release, C takes over quickly
kill -TERM "${PID[b]}"; t_term=$(now)
t_take=""
for _ in $(seq 1 150); do
  [ "$(holder)" = ctl-c ] && { t_take=$(now); break; }
  sleep 0.1
done
wait "${PID[b]}"; rc=$?
[ "$rc" = 0 ] && ok "B exits 0 on SIGTERM" || bad "B exit $rc"
if [ -n "$t_take" ]; then
  s=$(secs "$t_term" "$t_take")
  echo "release: C holds the Lease ${s} s after B's SIGTERM"
  awk -v s="$s" 'BEGIN{exit !(s <= 5.4)}' && ok "C took over ${s} s after B's SIGTERM (release; bound 2.2 x 2 s retry)" ||
    bad "C took over ${s} s after B's SIGTERM (> 5.4 s)"
else
  bad "C did not take the Lease within 15 s of B's SIGTERM"
fi
wait_writes c 45 && ok "C: wrote its ScrapeFailed finding" || bad "C: no Event write in 45 s; $(tail -3 "$TMP/c.log")"
sleep 2
no_duplicates "C's takeover (SIGTERM of B)"

kill -TERM "${PID[c]}"; wait "${PID[c]}"; rc=$?
[ "$rc" = 0 ] && ok "C exits 0 on SIGTERM" || bad "C exit $rc"
for id in b c; do expect_nogrep "no error records ($id)" "$TMP/$id.log" 'level=error'; done
finish
