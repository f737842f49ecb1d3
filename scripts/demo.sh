#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh: leakwatch's main job, self-contained on one machine (issue 3, point 11).
#
# Brings up the test API server (TLS + token, a kubeconfig), two real Go
# services from tests/go/leakzoo on 127.0.0.1 (one building an http.Transport
# per request, i.e. leaking connections and goroutines; one healthy),
# registers them as pods whose podIP is 127.0.0.1 with memory limits, runs
# `leakwatch controller` against the server, and shows every ~15 s what
# `kubectl describe pod` shows a user: the leaky pod's Annotations and Events,
# and the healthy pod's status annotation.
#
# As root with a writable cgroup v1 memory controller, each service runs in its
# own memory cgroup whose limit is the pod's limit, so the kernel really
# OOM-kills the leaking one; the demo then records the kill on the pod
# (restartCount+1, new containerID, lastState.terminated.reason OOMKilled, as
# the kubelet would) and shows leakwatch's OOMKilled post-mortem. Without
# cgroups the services run unlimited (the demo says so) and it stops one round
# after the OOMKillPredicted event.
#
# Environment: DEMO_DURATION (seconds, or Nm; default 240), DEMO_INTERVAL
# (seconds between rounds; default 15), DEMO_SKIP_BUILD=1 with LEAKWATCH=path
# to use an existing binary, DEMO_NO_CGROUP=1 to never use cgroups,
# DEMO_NO_KUBECTL=1 to show the same data read from the API instead of kubectl.
# Everything listens on 127.0.0.1 only; a trap removes what it started.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

dur=${DEMO_DURATION:-240}
case "$dur" in *m) dur=$(( ${dur%m} * 60 ));; *s) dur=${dur%s};; esac
INTERVAL=${DEMO_INTERVAL:-15}
LEAK_RATE=30          # leaked http.Transports per second (~1.3 MB/s of Go runtime memory)
LEAKY_LIMIT=320Mi     # OOM prediction after ~2 min of history, the kernel kill ~1 min later
LEAKY_LIMIT_BYTES=$((320 * 1024 * 1024))
HEALTHY_LIMIT=128Mi
HEALTHY_LIMIT_BYTES=$((128 * 1024 * 1024))

say() { printf '%s\n' "$*"; }
hdr() { printf '\n===== %s =====\n' "$*"; }

# ---- temp dir (tmpfs when possible: binaries run in a memory cgroup must not
# thrash on their own page cache), state, cleanup
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
TMP=$(mktemp -d "$base/lwdemo.XXXXXX") || { say "demo: cannot create a temp dir"; exit 1; }
T_PIDS=()
CGROUPS=()
cleanup() {
  trap - EXIT INT TERM
  local p cg
  for p in "${T_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  for p in "${T_PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  for cg in "${CGROUPS[@]:-}"; do
    [ -n "$cg" ] && [ -d "$cg" ] || continue
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && break; sleep 0.2; done
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'say "demo: interrupted, cleaning up"; exit 130' INT
trap 'say "demo: terminated, cleaning up"; exit 143' TERM
die() { say "demo: $*"; exit 1; }

# ---- dependencies and build
hdr "setup"
if ! scripts/deps.sh; then
  say "demo: scripts/deps.sh could not install everything (not root?); continuing with what is installed"
fi
for t in go python3 curl openssl; do
  command -v "$t" >/dev/null 2>&1 || die "needs $t (run scripts/deps.sh as root)"
done
HAVE_KUBECTL=0
[ "${DEMO_NO_KUBECTL:-0}" != 1 ] && command -v kubectl >/dev/null 2>&1 && HAVE_KUBECTL=1
if [ "${DEMO_SKIP_BUILD:-0}" = 1 ] && [ -x "${LEAKWATCH:-}" ]; then
  LW=$LEAKWATCH
else
  say "building leakwatch (scripts/build.sh build)"
  scripts/build.sh build >"$TMP/build.log" 2>&1 || { tail -20 "$TMP/build.log"; die "build failed"; }
  LW=$ROOT/build/leakwatch
fi
say "building tests/go/leakzoo"
gocache=${GOCACHE:-}
[ -n "$gocache" ] || { [ -n "${HOME:-}" ] && gocache=$HOME/.cache/go-build || gocache=$TMP/gocache; }
(cd tests/go/leakzoo && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$gocache \
   go build -o "$TMP/leakzoo" .) >"$TMP/gobuild.log" 2>&1 || { cat "$TMP/gobuild.log"; die "leakzoo does not build"; }
ZOO=$TMP/leakzoo

# ---- the test API server
export LW_SOURCE_DIR=$ROOT
. "$ROOT/tests/apiserver/apiserver.sh"
apiserver_start || die "the test API server did not start"
say "test API server: $APISERVER_URL (kubeconfig $APISERVER_KUBECONFIG)"
mkdir -p "$TMP/home"
K() { HOME=$TMP/home kubectl --kubeconfig "$APISERVER_KUBECONFIG" --request-timeout=20s "$@"; }

# ---- the services, in memory cgroups when we can
USE_CG=0
CGROOT=/sys/fs/cgroup/memory
if [ "${DEMO_NO_CGROUP:-0}" != 1 ] && [ "$(id -u)" = 0 ] && [ -w "$CGROOT" ] &&
   mkdir "$CGROOT/lwdemo-$$-probe" 2>/dev/null; then
  rmdir "$CGROOT/lwdemo-$$-probe"
  USE_CG=1
fi
say "temp dir $TMP$([ $USE_CG = 1 ] && echo ", cgroups $CGROOT/lwdemo-$$-*")"
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nofile" -gt 1048576 ] && nofile=1048576

# start_svc NAME LIMIT_BYTES ARGS...: sets SVC_PID, SVC_PORT
start_svc() {
  local name=$1 limit=$2 cg=""; shift 2
  if [ $USE_CG = 1 ]; then
    cg=$CGROOT/lwdemo-$$-$name
    mkdir "$cg" || return 1
    CGROUPS+=("$cg")
    echo 0 >"$cg/memory.swappiness" 2>/dev/null
    echo "$limit" >"$cg/memory.limit_in_bytes" || return 1
    echo "$limit" >"$cg/memory.memsw.limit_in_bytes" 2>/dev/null
    echo 0 >"$cg/memory.oom_control" 2>/dev/null   # OOM killer enabled
  fi
  rm -f "$TMP/$name.addr"
  (
    [ -n "$cg" ] && echo "$BASHPID" >"$cg/cgroup.procs"
    ulimit -n "$nofile" 2>/dev/null
    exec "$ZOO" -addr-file "$TMP/$name.addr" "$@"
  ) >"$TMP/$name.log" 2>&1 &
  SVC_PID=$!
  T_PIDS+=("$SVC_PID")
  for _ in $(seq 1 100); do [ -s "$TMP/$name.addr" ] && break; sleep 0.1; done
  [ -s "$TMP/$name.addr" ] || return 1
  SVC_PORT=$(sed 's/.*://' "$TMP/$name.addr")
}
start_svc leaky "$LEAKY_LIMIT_BYTES" -scenario http-transport -rate "$LEAK_RATE" -max 0 ||
  die "the leaking service did not start: $(tail -3 "$TMP/leaky.log")"
LEAKY_PID=$SVC_PID LEAKY_PORT=$SVC_PORT
start_svc healthy "$HEALTHY_LIMIT_BYTES" -scenario healthy ||
  die "the healthy service did not start: $(tail -3 "$TMP/healthy.log")"
HEALTHY_PORT=$SVC_PORT
if [ $USE_CG = 1 ]; then
  say "leaky   (leakzoo -scenario http-transport -rate $LEAK_RATE) on 127.0.0.1:$LEAKY_PORT, cgroup memory limit $LEAKY_LIMIT"
  say "healthy (leakzoo -scenario healthy) on 127.0.0.1:$HEALTHY_PORT, cgroup memory limit $HEALTHY_LIMIT"
else
  say "NOTE: not root or no writable cgroup v1 memory controller ($CGROOT): the services run"
  say "      WITHOUT a real memory limit, so the kernel will not kill the leaking one; the pods"
  say "      still declare the limits, and leakwatch predicts against those."
  say "leaky   (leakzoo -scenario http-transport -rate $LEAK_RATE) on 127.0.0.1:$LEAKY_PORT, pod limit $LEAKY_LIMIT"
  say "healthy (leakzoo -scenario healthy) on 127.0.0.1:$HEALTHY_PORT, pod limit $HEALTHY_LIMIT"
fi

# ---- the pods
pod() { # name port limit
  printf '{"metadata":{"name":"%s","namespace":"default",
     "annotations":{"leakwatch.io/scrape":"true","leakwatch.io/interval":"5s"}},
   "spec":{"nodeName":"demo-node","containers":[{"name":"app","image":"leakzoo",
     "ports":[{"name":"pprof","containerPort":%s,"protocol":"TCP"}],
     "resources":{"limits":{"memory":"%s"}}}]},
   "status":{"phase":"Running","podIP":"127.0.0.1","hostIP":"127.0.0.1",
     "containerStatuses":[{"name":"app","ready":true,"restartCount":0,
       "containerID":"containerd://c0-%s","state":{"running":{"startedAt":"%s"}}}]}}' \
    "$1" "$2" "$3" "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
apiserver_ctl POST pods "[$(pod leaky "$LEAKY_PORT" "$LEAKY_LIMIT"),$(pod healthy "$HEALTHY_PORT" "$HEALTHY_LIMIT")]" \
  >"$TMP/seed.out" 2>&1 || die "seeding the pods failed: $(cat "$TMP/seed.out")"
say "pods default/leaky and default/healthy registered (annotation leakwatch.io/scrape: \"true\")"

# ---- the controller
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CLOG=$TMP/controller.log
"$LW" controller --kubeconfig "$APISERVER_KUBECONFIG" --scrape-interval 5s --scrape-timeout 3s \
  --metrics-bind-address "127.0.0.1:$MPORT" --leader-election-identity demo \
  --leader-election-retry-period 500ms --shutdown-timeout 5s >"$CLOG" 2>&1 &
CPID=$!
T_PIDS+=("$CPID")
ready=0
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/readyz")" = 200 ] && { ready=1; break; }
  kill -0 "$CPID" 2>/dev/null || break
  sleep 0.2
done
[ $ready = 1 ] || die "the controller did not become ready: $(tail -5 "$CLOG")"
say "leakwatch controller running (metrics http://127.0.0.1:$MPORT/metrics, log $CLOG)"

# ---- showing it
getpod() { apiserver_api GET "/api/v1/namespaces/default/pods/$1"; }
annot() { # pod key
  getpod "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"].get("annotations",{}).get(sys.argv[1],""))' "$2" 2>/dev/null
}
reasons_of() { # pod -> reasons of its events
  apiserver_api GET /apis/events.k8s.io/v1/namespaces/default/events 2>/dev/null |
    python3 -c 'import json,sys
for e in json.load(sys.stdin).get("items",[]):
    if e["regarding"]["name"]==sys.argv[1]: print(e["reason"])' "$1" 2>/dev/null
}
show_leaky() {
  if [ $HAVE_KUBECTL = 1 ]; then
    say "\$ kubectl describe pod leaky   (Annotations and Events)"
    K describe pod leaky >"$TMP/describe.txt" 2>&1
    sed -n '/^Annotations:/,/^Status:/{/^Status:/d;p};/^Events:/,$p' "$TMP/describe.txt"
  else
    say "(kubectl not installed: the same data read from the API)"
    getpod leaky | python3 -c 'import json,sys
a=json.load(sys.stdin)["metadata"].get("annotations",{})
print("Annotations:"); [print("  %s: %s" % kv) for kv in sorted(a.items())]'
    apiserver_api GET /apis/events.k8s.io/v1/namespaces/default/events | python3 -c 'import json,sys
print("Events:")
for e in json.load(sys.stdin).get("items",[]):
    if e["regarding"]["name"]=="leaky": print("  %-8s %-17s %s" % (e["type"], e["reason"], e.get("note","")))'
  fi
}
show_round() {
  hdr "t+$(( $(date +%s) - T0 ))s  $(date -u +%H:%M:%SZ)  pod default/leaky"
  show_leaky
  say "----- pod default/healthy -----"
  say "leakwatch.io/status: $(annot healthy leakwatch.io/status)   events: $(reasons_of healthy | sort | uniq -c | tr -s ' \n' ' ' || true)"
  say "leakwatch.io/summary: $(annot healthy leakwatch.io/summary)"
}

T0=$(date +%s)
END=$((T0 + dur))
say "watching for up to ${dur}s, a round every ${INTERVAL}s"
predicted=0 extra=0 killed=0 postmortem=0
while :; do
  # the kernel kill of the leaking service: record it on the pod as the kubelet would
  if [ $killed = 0 ] && ! kill -0 "$LEAKY_PID" 2>/dev/null; then
    wait "$LEAKY_PID"; st=$?
    killed=1
    oomk=$(awk '/^oom_kill /{print $2}' "$CGROOT/lwdemo-$$-leaky/memory.oom_control" 2>/dev/null)
    hdr "the leaking service exited with status $st (cgroup oom_kill count: ${oomk:-n/a})"
    if [ "$st" = 137 ] || [ "${oomk:-0}" -gt 0 ]; then
      NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      say "recording the OOM kill on the pod (restartCount 1, lastState.terminated.reason OOMKilled)"
      apiserver_ctl PATCH pods/default/leaky/status '{"containerStatuses":[{"name":"app","ready":false,"restartCount":1,
        "containerID":"containerd://c1-leaky","state":{"waiting":{"reason":"CrashLoopBackOff"}},
        "lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"finishedAt":"'"$NOW"'",
        "containerID":"containerd://c0-leaky"}}}]}' >/dev/null
      for _ in $(seq 1 50); do reasons_of leaky | grep -qx OOMKilled && break; sleep 0.2; done
    fi
  fi
  show_round
  reasons_of leaky | grep -qx OOMKillPredicted && predicted=1
  reasons_of leaky | grep -qx OOMKilled && postmortem=1
  [ $postmortem = 1 ] && break
  if [ $predicted = 1 ] && [ $USE_CG = 0 ]; then
    extra=$((extra + 1)); [ $extra -ge 2 ] && break
  fi
  now=$(date +%s)
  [ "$now" -ge "$END" ] && break
  # sleep until the next round, waking up early for a kill
  nxt=$((now + INTERVAL)); [ $nxt -gt "$END" ] && nxt=$END
  while [ "$(date +%s)" -lt "$nxt" ]; do
    [ $killed = 0 ] && ! kill -0 "$LEAKY_PID" 2>/dev/null && break
    sleep 1
  done
done

hdr "summary after $(( $(date +%s) - T0 ))s"
if [ $predicted = 1 ]; then say "leakwatch predicted the OOM kill of default/leaky (OOMKillPredicted)"
else say "no OOMKillPredicted event yet (the forecast needs about 2 minutes of history; give it DEMO_DURATION=240 or more)"; fi
[ $postmortem = 1 ] && say "the kernel killed it and leakwatch wrote the OOMKilled post-mortem"
[ $USE_CG = 1 ] && [ $killed = 0 ] && say "the kernel had not killed the leaking service yet"
say "healthy pod status: $(annot healthy leakwatch.io/status); events on it: $(reasons_of healthy | wc -l)"
kill -TERM "$CPID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
wait "$CPID" 2>/dev/null; crc=$?
say "leakwatch controller stopped (exit $crc); cleaning up"
exit 0
