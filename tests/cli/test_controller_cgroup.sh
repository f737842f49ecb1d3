#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The controller against real OOM kills (issue 3, point 10). Two leaking Go
# services and one healthy one from the evaluation corpus (bench/services:
# leak-chan-send, leak-transport-per-request, ok-pooled-client), built into
# tmpfs and run each in its own cgroup v1 memory cgroup (60Mi for the
# leakers, 64Mi for the healthy one; peers in an unlimited sibling cgroup, as
# bench/run.sh does), each serving pprof on port 6060 of its own loopback IP
# (127.N.3.x), are registered as pods in the test API server with those IPs
# and limits. The test plays metrics-server (the cgroups' working sets go to
# metrics.k8s.io every 5 s) and the kubelet (when the kernel kills a service:
# restartCount+1, lastState.terminated.reason OOMKilled with the kill time,
# a new containerID, the service restarted in its cgroup).
# `leakwatch controller` runs against the server. Asserted:
#  - each leaking pod gets a Warning Event (OOMKillPredicted, GoroutineLeak
#    or MemoryLeak) whose eventTime is before the kernel's kill (the process
#    was seen alive after it), and at that moment the pod's annotations say
#    leaking/oom-predicted and leakwatch.io/top-stack names the right stack
#    (main.fetchQuote.func1; net/http's persistConn/dialConn);
#  - the kill is real: exit by SIGKILL and the cgroup's oom_kill count > 0;
#  - after the kill an OOMKilled post-mortem Event says it was predicted and
#    how early, with the limit and the top stack; status oomkilled; the
#    restarted container is scraped as a new series;
#  - the healthy pod gets no Event and status ok;
#  - `kubectl describe pod` shows all of it (printed).
# Prints the lead of the first warning before each kill. About 3.5 minutes.
# Skips (77): not root, no writable cgroup v1 memory controller, no go,
# python3, curl, openssl or timeout, or a sanitizer build of leakwatch
# (the normal ctest stage runs it; LW_CGROUP_E2E_SANITIZER=1 runs it anyway).
. "$(dirname "$0")/lib.sh"
for t in go python3 curl openssl timeout; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "skip: needs root (cgroup v1 memory limits)"; exit 77; }
CGROOT=/sys/fs/cgroup/memory
CGBASE=$CGROOT/lwcg-e2e-$$
if ! [ -w "$CGROOT" ] || ! [ -e "$CGROOT/memory.limit_in_bytes" ] || ! mkdir "$CGBASE" 2>/dev/null; then
  echo "skip: the cgroup v1 memory controller ($CGROOT) is not writable here"; exit 77
fi
rmdir "$CGBASE"
if [ "${LW_CGROUP_E2E_SANITIZER:-0}" != 1 ] &&
   readelf -d "$LEAKWATCH" 2>/dev/null | grep -qE 'NEEDED.*lib(asan|ubsan|tsan|lsan)'; then
  echo "skip: $LEAKWATCH is a sanitizer build; this 3.5-minute test runs in the normal ctest stage"
  exit 77
fi
SRC=${LW_SOURCE_DIR:-.}
case "$SRC" in /*) ;; *) SRC=$PWD/$SRC;; esac
export HOME=$TMP/home
mkdir -p "$HOME"
. "$SRC/tests/apiserver/apiserver.sh"

# ---- binaries in tmpfs (a binary on disk can thrash on its own page cache
# at the limit instead of being killed), cleanup of what we made
# leftovers of earlier runs killed before their cleanup (ctest timeout): their
# cgroups and tmpfs dirs carry the dead run's pid
for d in "$CGROOT"/lwcg-e2e-[0-9]*-* /dev/shm/lwcg-e2e-[0-9]*; do
  [ -e "$d" ] || continue
  opid=${d##*/lwcg-e2e-}; opid=${opid%%-*}
  kill -0 "$opid" 2>/dev/null && continue
  if [ -e "$d/cgroup.procs" ]; then
    for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    for _ in 1 2 3 4 5; do rmdir "$d" 2>/dev/null && break; sleep 0.2; done
  else
    rm -rf "$d"
  fi
done
SHM=/dev/shm/lwcg-e2e-$$
mkdir "$SHM" || { echo "skip: cannot create $SHM"; exit 77; }
CGROUPS=()
cleanup_cg() {
  local cg p
  for p in "${T_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  for cg in "${CGROUPS[@]:-}"; do
    [ -n "$cg" ] && [ -d "$cg" ] || continue
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  for cg in "${CGROUPS[@]:-}"; do
    [ -n "$cg" ] && [ -d "$cg" ] || continue
    for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && break; sleep 0.2; done
  done
  rm -rf "$SHM"
  cleanup
}
trap cleanup_cg EXIT

mkdir -p "$SHM/gopath/src" "$SHM/bin"
ln -s "$SRC/bench/services" "$SHM/gopath/src/lwbench"
for s in leak-chan-send leak-transport-per-request ok-pooled-client; do
  (GO111MODULE=off GOPATH="$SHM/gopath:/usr/share/gocode" GOCACHE=$TMP/gocache \
     go build -o "$SHM/bin/$s" "lwbench/$s") >"$TMP/gobuild.log" 2>&1 ||
    { cat "$TMP/gobuild.log"; echo "skip: bench/services/$s does not build"; exit 77; }
done

apiserver_start --metrics-api || { bad "API server did not start"; finish; exit 1; }

# ---- the services: NAME KIND LIMIT_MI SPEED EXPECTED-TOP-STACK (regex)
NET=$((20 + $$ % 200))   # 127.$NET.3.x: distinct per test run
SERVICES="
leak-chan-send             leak    60 3.0 main\.fetchQuote\.func1
leak-transport-per-request leak    60 0.9 net/http\.\(\*persistConn\)|net/http\.\(\*Transport\)\.dialConn
ok-pooled-client           healthy 64 0.2 -
"
declare -A IP KIND LIMIT SPEED EXPECT PID CG
NAMES=()
i=0
while read -r n k l s e; do
  [ -n "$n" ] || continue
  i=$((i + 1))
  NAMES+=("$n"); IP[$n]=127.$NET.3.$i; KIND[$n]=$k; LIMIT[$n]=$l; SPEED[$n]=$s; EXPECT[$n]=$e
done <<<"$SERVICES"
LEAKERS=(); for n in "${NAMES[@]}"; do [ "${KIND[$n]}" = leak ] && LEAKERS+=("$n"); done

nofile=1048576
ulimit -Hn 2>/dev/null | grep -qx unlimited || { [ "$(ulimit -Hn)" -lt $nofile ] && nofile=$(ulimit -Hn); }
run_svc() { # NAME: start (or restart) the service in its cgroup; sets PID[NAME]
  local n=$1 cg=${CG[$1]}
  (
    echo "$BASHPID" >"$cg/cgroup.procs" || exit 126
    ulimit -n 1048576 2>/dev/null || ulimit -n "$nofile" 2>/dev/null
    # a lifetime cap, should this test itself be killed before its cleanup
    # (timeout passes the service's SIGKILL on as its own status, 137)
    exec timeout -s KILL 600 env PPROF_ADDR="${IP[$n]}:6060" LW_PEER_CGROUP="$cg-peer" \
      "$SHM/bin/$n" -speed "${SPEED[$n]}" -seed 1
  ) >>"$TMP/$n.log" 2>&1 &
  PID[$n]=$!
  T_PIDS+=("${PID[$n]}")
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://${IP[$n]}:6060/debug/pprof/" && return 0
    kill -0 "${PID[$n]}" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
T0=$(date +%s.%N)
for n in "${NAMES[@]}"; do
  cg=$CGROOT/lwcg-e2e-$$-$n
  mkdir "$cg" "$cg-peer" || { bad "cannot create $cg"; finish; exit 1; }
  CGROUPS+=("$cg" "$cg-peer")
  CG[$n]=$cg
  echo $((LIMIT[$n] << 20)) >"$cg/memory.limit_in_bytes" || { bad "cannot set the limit of $cg"; finish; exit 1; }
  [ -e "$cg/memory.memsw.limit_in_bytes" ] && echo $((LIMIT[$n] << 20)) >"$cg/memory.memsw.limit_in_bytes" 2>/dev/null
  echo 0 >"$cg/memory.swappiness" 2>/dev/null
  echo 0 >"$cg/memory.oom_control" 2>/dev/null   # the OOM killer on
  echo 3 >"$cg-peer/memory.move_charge_at_immigrate" 2>/dev/null
  run_svc "$n" || { bad "$n did not start on ${IP[$n]}:6060: $(tail -3 "$TMP/$n.log")"; finish; exit 1; }
  echo "$n: pid ${PID[$n]}, pprof ${IP[$n]}:6060, cgroup memory limit ${LIMIT[$n]}Mi (${KIND[$n]})"
done

# ---- the pods
now_rfc() { date -u +%Y-%m-%dT%H:%M:%SZ; }
pod() { # NAME
  printf '{"metadata":{"name":"%s","namespace":"default",
     "annotations":{"leakwatch.io/scrape":"true","leakwatch.io/port":"6060","leakwatch.io/interval":"5s"}},
   "spec":{"nodeName":"node-a","containers":[{"name":"app","image":"lwbench/%s",
     "ports":[{"name":"pprof","containerPort":6060,"protocol":"TCP"}],
     "resources":{"limits":{"memory":"%sMi"},"requests":{"memory":"%sMi"}}}]},
   "status":{"phase":"Running","podIP":"%s","podIPs":[{"ip":"%s"}],"hostIP":"127.0.0.1",
     "containerStatuses":[{"name":"app","ready":true,"restartCount":0,"image":"lwbench/%s",
       "containerID":"containerd://c0-%s-%s","state":{"running":{"startedAt":"%s"}}}]}}' \
    "$1" "$1" "${LIMIT[$1]}" "${LIMIT[$1]}" "${IP[$1]}" "${IP[$1]}" "$1" "$1" "$$" "$(now_rfc)"
}
body=""
for n in "${NAMES[@]}"; do body="$body${body:+,}$(pod "$n")"; done
apiserver_ctl POST pods "[$body]" >/dev/null

# ---- metrics-server: the cgroups' working sets (usage - inactive_file)
feeder() {
  local n u inact
  while :; do
    for n in "${NAMES[@]}"; do
      u=$(cat "${CG[$n]}/memory.usage_in_bytes" 2>/dev/null) || continue
      inact=$(awk '$1=="total_inactive_file"{print $2}' "${CG[$n]}/memory.stat" 2>/dev/null)
      apiserver_ctl POST "metrics/pods/default/$n" \
        '{"containers":[{"name":"app","usage":{"cpu":"20m","memory":"'$((u - ${inact:-0}))'"}}]}' >/dev/null 2>&1
    done
    sleep 5
  done
}
feeder &
T_PIDS+=($!)

# ---- the controller
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$TMP/controller.log
"$LEAKWATCH" controller --kubeconfig "$APISERVER_KUBECONFIG" --scrape-interval 5s --scrape-timeout 4s \
  --metrics-bind-address "127.0.0.1:$MPORT" --log-level debug --debug2-min-interval 30s \
  --leader-election-identity cgroup-e2e --leader-election-retry-period 500ms \
  --shutdown-timeout 5s >"$LOG" 2>&1 &
CPID=$!
T_PIDS+=("$CPID")
ready=0
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/readyz")" = 200 ] && { ready=1; break; }
  kill -0 "$CPID" 2>/dev/null || break
  sleep 0.2
done
[ $ready = 1 ] && ok "controller ready" || { bad "controller not ready: $(tail -5 "$LOG")"; finish; exit 1; }

# ---- watching: warnings while alive, then the kernel's kill
events_json() { apiserver_api GET /apis/events.k8s.io/v1/namespaces/default/events 2>/dev/null; }
# warn_of NAME: "eventTime-epoch reason note" of the first leak Warning on the pod, or nothing
warn_of() {
  python3 -c 'import json,sys,datetime
try: items = json.load(sys.stdin)["items"]
except Exception: sys.exit(0)
w = [e for e in items if e["regarding"]["name"] == sys.argv[1] and e["type"] == "Warning"
     and e["reason"] in ("OOMKillPredicted", "GoroutineLeak", "MemoryLeak")]
w.sort(key=lambda e: e["eventTime"])
if w:
    t = datetime.datetime.strptime(w[0]["eventTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    print("%.3f %s %s" % (t.timestamp(), w[0]["reason"], w[0].get("note", "")))' "$1" <"$TMP/events.json"
}
annots() { # NAME -> JSON of our annotations
  apiserver_api GET "/api/v1/namespaces/default/pods/$1" | python3 -c 'import json,sys
a = json.load(sys.stdin)["metadata"].get("annotations", {})
print(json.dumps({k: v for k, v in a.items() if k.startswith("leakwatch.io/")}))'
}
declare -A WARN WARN_SEEN ALIVE KILLED KRC KOOM SNAP AFTER
# after_seen NAME: remember the lowest goroutine count the controller reports for NAME since
# its restart (the restarted leaker grows again at once, so the check must not wait for it)
after_seen() {
  local g
  g=$(curl -s "http://127.0.0.1:$MPORT/metrics" | grep -E "^leakwatch_goroutines\{namespace=\"default\",pod=\"$1\"" | awk '{print $NF}')
  [ -n "$g" ] || return 0
  if [ -z "${AFTER[$1]:-}" ] || [ "$g" -lt "${AFTER[$1]}" ]; then AFTER[$1]=$g; fi
}
MAXWAIT=330   # seconds after the start for the kernel to kill every leaker
while :; do
  now=$(date +%s.%N)
  el=$(awk -v a="$T0" -v b="$now" 'BEGIN{printf "%d", b-a}')
  events_json >"$TMP/events.json"
  pending=0
  for n in "${LEAKERS[@]}"; do
    if [ -n "${KILLED[$n]:-}" ]; then after_seen "$n"; continue; fi
    pending=1
    if [ -z "${WARN[$n]:-}" ]; then
      w=$(warn_of "$n")
      if [ -n "$w" ]; then
        WARN[$n]=$w
        annots "$n" >"$TMP/$n.annot-at-warning.json"
        WARN_SEEN[$n]=$(date +%s.%N)
      fi
    fi
    # observed alive after everything above: all of it happened before the kill
    if kill -0 "${PID[$n]}" 2>/dev/null; then
      ALIVE[$n]=$(date +%s.%N)
      continue
    fi
    wait "${PID[$n]}"; KRC[$n]=$?
    KILLED[$n]=$(date +%s.%N)
    KOOM[$n]=$(awk '$1=="oom_kill"{print $2}' "${CG[$n]}/memory.oom_control" 2>/dev/null)
    echo "t+${el}s: $n exited with status ${KRC[$n]} (cgroup oom_kill ${KOOM[$n]:-?}, failcnt $(cat "${CG[$n]}/memory.failcnt"), max usage $(( $(cat "${CG[$n]}/memory.max_usage_in_bytes") >> 20 ))Mi)"
    curl -s "http://127.0.0.1:$MPORT/metrics" | grep -E "pod=\"$n\"" >"$TMP/$n.metrics-at-kill.txt"
    if [ "${KRC[$n]}" = 137 ] && [ "${KOOM[$n]:-0}" -gt 0 ]; then
      # the kubelet's part: the container was OOMKilled and restarted
      fin=$(date -u -d "@${KILLED[$n]%.*}" +%Y-%m-%dT%H:%M:%SZ)
      apiserver_ctl PATCH "pods/default/$n/status" '{"containerStatuses":[{"name":"app","ready":true,
        "restartCount":1,"image":"lwbench/'"$n"'","containerID":"containerd://c1-'"$n-$$"'",
        "state":{"running":{"startedAt":"'"$(now_rfc)"'"}},
        "lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"startedAt":"'"$(date -u -d "@${T0%.*}" +%Y-%m-%dT%H:%M:%SZ)"'",
          "finishedAt":"'"$fin"'","containerID":"containerd://c0-'"$n-$$"'"}}}]}' >/dev/null
      run_svc "$n" || bad "$n did not restart: $(tail -3 "$TMP/$n.log")"
    fi
  done
  [ $pending = 0 ] && break
  if [ "$el" -ge $MAXWAIT ]; then
    for n in "${LEAKERS[@]}"; do [ -n "${KILLED[$n]:-}" ] || bad "$n was not OOM-killed within ${MAXWAIT}s"; done
    break
  fi
  sleep 1
done

# ---- per leaker: warned before the kill, right stack, real kill, post-mortem
fmt_s() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", b-a}'; }
for n in "${LEAKERS[@]}"; do
  echo "---- $n"
  if [ -z "${WARN[$n]:-}" ]; then
    bad "$n: no leak Warning before the kill; log: $(grep -E "pod=$n" "$LOG" | grep -E 'leak|insufficient' | tail -2)"
    continue
  fi
  wt=${WARN[$n]%% *}; rest=${WARN[$n]#* }; reason=${rest%% *}; note=${rest#* }
  echo "first warning: $reason at t+$(fmt_s "$T0" "$wt")s: $note"
  echo "annotations then: $(cat "$TMP/$n.annot-at-warning.json")"
  if [ -n "${ALIVE[$n]:-}" ] && awk -v w="${WARN_SEEN[$n]}" -v a="${ALIVE[$n]}" 'BEGIN{exit !(w < a)}'; then
    ok "$n: $reason Warning recorded while the service was still alive"
  else
    bad "$n: the Warning was not seen before the kill"
  fi
  if [ -n "${KILLED[$n]:-}" ]; then
    lead=$(fmt_s "$wt" "${KILLED[$n]}")
    echo "$n: warned ${lead}s before the kernel's kill (killed at t+$(fmt_s "$T0" "${KILLED[$n]}")s)"
    [ "$lead" -gt 0 ] && ok "$n: eventTime ${lead}s before the kill" || bad "$n: eventTime not before the kill ($lead s)"
  fi
  printf '%s\n' "$note" >"$TMP/$n.note"
  expect_grep "$n: the warning's note names the top stack" "$TMP/$n.note" "${EXPECT[$n]}"
  python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); [print(k+"="+v) for k,v in a.items()]' \
    "$TMP/$n.annot-at-warning.json" >"$TMP/$n.annot.txt"
  expect_grep "$n: status annotation before the kill" "$TMP/$n.annot.txt" '^leakwatch\.io/status=(leaking|oom-predicted)$'
  expect_grep "$n: top-stack annotation names the right stack before the kill" "$TMP/$n.annot.txt" \
    "^leakwatch\.io/top-stack=.*(${EXPECT[$n]})"
  [ "$reason" = OOMKillPredicted ] &&
    expect_grep "$n: predicted-oom-at annotation" "$TMP/$n.annot.txt" '^leakwatch\.io/predicted-oom-at=20[0-9-]+T'
  [ -n "${KILLED[$n]:-}" ] || continue
  [ "${KRC[$n]}" = 137 ] && ok "$n: the process died of SIGKILL" || bad "$n: exit status ${KRC[$n]}"
  [ "${KOOM[$n]:-0}" -gt 0 ] && ok "$n: the cgroup's oom_kill count is ${KOOM[$n]}" || bad "$n: oom_kill '${KOOM[$n]:-}'"
done

# the post-mortems (the status patches went in right after each kill)
pm_of() { python3 -c 'import json,sys
for e in json.load(sys.stdin)["items"]:
    if e["regarding"]["name"] == sys.argv[1] and e["reason"] == "OOMKilled": print(e["type"], e.get("note", ""))' "$1"; }
for n in "${LEAKERS[@]}"; do
  [ "${KOOM[$n]:-0}" -gt 0 ] || continue
  for _ in $(seq 1 30); do
    events_json | pm_of "$n" >"$TMP/$n.pm"
    [ -s "$TMP/$n.pm" ] && break
    sleep 0.5
  done
  echo "$n post-mortem: $(cat "$TMP/$n.pm")"
  expect_grep "$n: OOMKilled post-mortem Warning" "$TMP/$n.pm" '^Warning container app was OOM-killed'
  expect_grep "$n: post-mortem names the limit" "$TMP/$n.pm" "at its ${LIMIT[$n]}\.0 MiB limit"
  expect_grep "$n: post-mortem says it was predicted, and how early" "$TMP/$n.pm" 'predicted [0-9hms]+ before'
  expect_nogrep "$n: post-mortem does not say 'not predicted'" "$TMP/$n.pm" 'not predicted'
  expect_grep "$n: post-mortem names the top stack" "$TMP/$n.pm" "top stack: .*(${EXPECT[$n]})"
  st=$(annots "$n" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("leakwatch.io/status",""))')
  [ "$st" = oomkilled ] && ok "$n: status oomkilled" || bad "$n: status after the kill '$st'"
  sm=$(annots "$n" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("leakwatch.io/summary",""))')
  case "$sm" in
    *OOM-killed*) ok "$n: summary annotation is the post-mortem" ;;
    *) bad "$n: summary after the kill: '$sm'" ;;
  esac
  # the restarted service is a new series: a handful of goroutines again (the lowest count
  # reported since the restart; the new container leaks too, so only the first scrapes are low)
  for _ in $(seq 1 40); do
    after_seen "$n"
    [ -n "${AFTER[$n]:-}" ] && [ "${AFTER[$n]}" -lt 300 ] && break
    sleep 0.5
  done
  g=${AFTER[$n]:-}
  before=$(grep -E '^leakwatch_goroutines\{' "$TMP/$n.metrics-at-kill.txt" | awk '{print $NF}')
  [ -n "$g" ] && [ "$g" -lt 300 ] && ok "$n: the restarted container is scraped afresh ($before -> $g goroutines)" \
    || bad "$n: goroutines after the restart '$g' (before: $before)"
done

# ---- the healthy control
for n in "${NAMES[@]}"; do
  [ "${KIND[$n]}" = healthy ] || continue
  kill -0 "${PID[$n]}" 2>/dev/null && ok "$n: still running" || bad "$n died"
  events_json | python3 -c 'import json,sys
for e in json.load(sys.stdin)["items"]:
    if e["regarding"]["name"] == sys.argv[1]: print(e["reason"], e.get("note", ""))' "$n" >"$TMP/$n.events"
  [ ! -s "$TMP/$n.events" ] && ok "$n: no events" || bad "$n: events: $(cat "$TMP/$n.events")"
  st=$(annots "$n" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("leakwatch.io/status",""))')
  [ "$st" = ok ] && ok "$n: status ok" || bad "$n: status '$st'"
done

# ---- what the user sees
if command -v kubectl >/dev/null 2>&1; then
  K() { kubectl --kubeconfig "$APISERVER_KUBECONFIG" --request-timeout=20s "$@"; }
  for n in "${NAMES[@]}"; do
    K describe pod "$n" >"$TMP/$n.describe" 2>&1
    echo "---- \$ kubectl describe pod $n   (Annotations, container state, Events)"
    sed -n '/^Annotations:/,/^Status:/{/^Status:/d;p};/^ *State:/,/^ *Ready:/p;/^ *Restart Count:/p;/^Events:/,$p' "$TMP/$n.describe"
    if [ "${KIND[$n]}" = leak ]; then
      expect_grep "describe $n: a leak Warning" "$TMP/$n.describe" 'Warning +(OOMKillPredicted|GoroutineLeak|MemoryLeak) .*leakwatch\.io/controller'
      if [ "${KOOM[$n]:-0}" -gt 0 ]; then
        expect_grep "describe $n: the OOMKilled post-mortem" "$TMP/$n.describe" 'Warning +OOMKilled .*leakwatch\.io/controller +container app was OOM-killed'
        expect_grep "describe $n: status annotation oomkilled" "$TMP/$n.describe" 'leakwatch\.io/status: oomkilled'
        expect_grep "describe $n: Restart Count 1" "$TMP/$n.describe" '^ +Restart Count: +1$'
        expect_grep "describe $n: Last State OOMKilled" "$TMP/$n.describe" '^ +Reason: +OOMKilled$'
      fi
    else
      expect_grep "describe $n: status ok" "$TMP/$n.describe" 'leakwatch\.io/status: ok'
      expect_grep "describe $n: no events" "$TMP/$n.describe" '^Events: +<none>'
    fi
  done
else
  echo "note: kubectl not installed; describe checks not run"
fi

kill -TERM "$CPID"
for _ in $(seq 1 100); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
wait "$CPID"; rc=$?
[ "$rc" = 0 ] && ok "controller: SIGTERM: exit 0" || bad "controller: SIGTERM: exit $rc"
expect_nogrep "controller: no error records in the log" "$LOG" 'level=error'
echo "took $(fmt_s "$T0" "$(date +%s.%N)")s since the services started"
finish
