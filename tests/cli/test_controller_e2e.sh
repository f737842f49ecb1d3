#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `leakwatch controller` end to end: the test API server (TLS + token, a
# kubeconfig), two real Go programs from tests/go/leakzoo on 127.0.0.1 (one
# leaking http.Transports, one healthy) registered as pods whose podIP is
# 127.0.0.1 and whose container port is the program's pprof port, and a
# third pod whose port serves nothing. The controller must: become ready
# after the first sync, scrape both live pods (scrape metrics, a growing
# goroutine gauge for the leaky one), write leakwatch.io/status, record a
# ScrapeFailed event for the dead pod and none for the healthy one, remove
# its annotations when a pod opts out, drop a deleted pod's series, record an
# OOMKilled post-mortem after a (simulated) OOM kill, and exit 0 on SIGTERM.
# Skips (77) without go, python3, curl or openssl. kubectl, when present,
# shows what `kubectl describe pod` shows.
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

start_leakzoo "$ZOO" -scenario http-transport -rate 30 -max 0 || { bad "leaky leakzoo"; finish; exit 1; }
LEAKY_PORT=${ZOO_URL#http://127.0.0.1:}; LEAKY_PORT=${LEAKY_PORT%%/*}
start_leakzoo "$ZOO" -scenario healthy || { bad "healthy leakzoo"; finish; exit 1; }
HEALTHY_PORT=${ZOO_URL#http://127.0.0.1:}; HEALTHY_PORT=${HEALTHY_PORT%%/*}
# a port nothing listens on
DEAD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "leaky :$LEAKY_PORT healthy :$HEALTHY_PORT dead :$DEAD_PORT"

pod() { # name port limit [restartCount containerID lastStateJSON]
  printf '{"metadata":{"name":"%s","namespace":"default",
     "annotations":{"leakwatch.io/scrape":"true","leakwatch.io/interval":"5s","team":"x"}},
   "spec":{"nodeName":"node-a","containers":[{"name":"app","image":"leakzoo",
     "ports":[{"name":"pprof","containerPort":%s,"protocol":"TCP"}],
     "resources":{"limits":{"memory":"%s"}}}]},
   "status":{"phase":"Running","podIP":"127.0.0.1","hostIP":"127.0.0.1",
     "containerStatuses":[{"name":"app","ready":true,"restartCount":%s,
       "containerID":"containerd://%s","state":{"running":{"startedAt":"2026-11-26T20:00:00Z"}}%s}]}}' \
    "$1" "$2" "$3" "${4:-0}" "${5:-c0-$1}" "${6:-}"
}
apiserver_ctl POST pods "[$(pod leaky "$LEAKY_PORT" 512Mi),$(pod healthy "$HEALTHY_PORT" 256Mi),$(pod dead "$DEAD_PORT" 64Mi)]" >/dev/null
# a pod that did not opt in must be left alone
apiserver_ctl POST pods '{"metadata":{"name":"other","namespace":"default"},"spec":{"containers":[{"name":"c"}]},"status":{"podIP":"127.0.0.1"}}' >/dev/null

# metrics.k8s.io serves a working set for the healthy pod only
apiserver_ctl POST config '{"metricsAPI":true}' >/dev/null
apiserver_ctl POST metrics/pods/default/healthy '{"containers":[{"name":"app","usage":{"cpu":"5m","memory":"40Mi"}}]}' >/dev/null

getpod() { apiserver_api GET "/api/v1/namespaces/default/pods/$1"; }
annot() { # pod key
  getpod "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"].get("annotations",{}).get(sys.argv[1],""))' "$2"
}
events_of() { # pod -> "reason type" lines (events.k8s.io/v1)
  apiserver_api GET /apis/events.k8s.io/v1/namespaces/default/events |
    python3 -c 'import json,sys
for e in json.load(sys.stdin)["items"]:
    if e["regarding"]["name"]==sys.argv[1]: print(e["reason"], e["type"], e.get("note",""))' "$1"
}
metric() { # regex -> first value
  curl -s "http://127.0.0.1:$MPORT/metrics" | grep -E "$1" | head -1 | awk '{print $NF}'
}

# metrics on a free port: find one
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$TMP/controller.log
"$LEAKWATCH" controller --kubeconfig "$APISERVER_KUBECONFIG" --scrape-interval 5s \
  --scrape-timeout 3s --metrics-bind-address "127.0.0.1:$MPORT" --log-level debug \
  --scrape-failed-event-interval 0s --leader-election-identity ctl-e2e \
  --leader-election-retry-period 500ms --shutdown-timeout 5s >"$LOG" 2>&1 &
CPID=$!
T_PIDS+=("$CPID")

ready=0
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/readyz")" = 200 ] && { ready=1; break; }
  sleep 0.2
done
[ $ready = 1 ] && ok "/readyz is 200 after the first sync" || bad "/readyz never ready; log: $(tail -5 "$LOG")"
[ "$(curl -s "http://127.0.0.1:$MPORT/healthz")" = ok ] && ok "/healthz ok" || bad "/healthz"
lease_holder() {
  apiserver_api GET /apis/coordination.k8s.io/v1/namespaces/default/leases/leakwatch |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("spec",{}).get("holderIdentity",""))'
}
for _ in $(seq 1 50); do [ "$(lease_holder)" = ctl-e2e ] && break; sleep 0.2; done
[ "$(lease_holder)" = ctl-e2e ] && ok "holds the leader Lease" || bad "Lease holder '$(lease_holder)'"

# wait until both live pods were scraped a few times and the dead one failed 3+ times
g1=""
for i in $(seq 1 60); do
  sleep 1
  g1=$(metric 'leakwatch_goroutines\{namespace="default",pod="leaky"')
  h1=$(metric 'leakwatch_goroutines\{namespace="default",pod="healthy"')
  ws=$(metric 'leakwatch_memory_bytes\{namespace="default",pod="healthy",container="app",source="working_set"')
  [ -n "$g1" ] && [ -n "$h1" ] && [ -n "$ws" ] && [ -n "$(events_of dead | grep ScrapeFailed)" ] && break
done
curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/metrics1.txt"
expect_grep "goroutine scrapes succeed" "$TMP/metrics1.txt" 'leakwatch_scrapes_total\{profile="goroutine",result="ok"\} [1-9]'
expect_grep "heap scrapes succeed" "$TMP/metrics1.txt" 'leakwatch_scrapes_total\{profile="heap",result="ok"\} [1-9]'
expect_grep "the dead pod's scrapes fail as connect errors" "$TMP/metrics1.txt" 'leakwatch_scrapes_total\{profile="goroutine",result="connect_error"\} [1-9]'
expect_grep "goroutine gauge for the leaky pod" "$TMP/metrics1.txt" 'leakwatch_goroutines\{namespace="default",pod="leaky",container="app"\} [0-9]+'
expect_grep "goroutine gauge for the healthy pod" "$TMP/metrics1.txt" 'leakwatch_goroutines\{namespace="default",pod="healthy",container="app"\} [0-9]+'
expect_grep "memory limit gauge from the pod spec" "$TMP/metrics1.txt" 'leakwatch_memory_limit_bytes\{namespace="default",pod="leaky",container="app"\} 536870912'
expect_grep "working set from metrics.k8s.io for the healthy pod" "$TMP/metrics1.txt" 'leakwatch_memory_bytes\{namespace="default",pod="healthy",container="app",source="working_set"\} 41943040'
expect_nogrep "no working set for the leaky pod (no PodMetrics)" "$TMP/metrics1.txt" 'pod="leaky",container="app",source="working_set"'
expect_grep "runtime memory gauge from the heap profile" "$TMP/metrics1.txt" 'leakwatch_memory_bytes\{namespace="default",pod="leaky",container="app",source="go_sys"\} [0-9]+'
expect_grep "leader gauge 1" "$TMP/metrics1.txt" '^leakwatch_leader 1$'
expect_grep "pods watched (4 in the cache)" "$TMP/metrics1.txt" '^leakwatch_pods_watched 4$'
expect_grep "pods scraped (3 targets)" "$TMP/metrics1.txt" '^leakwatch_pods_scraped 3$'
grep -E '^leakwatch_pods_' "$TMP/metrics1.txt"
expect_nogrep "the pod that did not opt in has no series" "$TMP/metrics1.txt" 'pod="other"'

events_of dead >"$TMP/ev_dead.txt"
expect_grep "ScrapeFailed Warning for the pod whose port serves nothing" "$TMP/ev_dead.txt" '^ScrapeFailed Warning .*127\.0\.0\.1'
sleep 5 # the recorder's counters reach /metrics every 5 s
expect_grep "events counted per reason" <(curl -s "http://127.0.0.1:$MPORT/metrics") 'leakwatch_events_total\{reason="ScrapeFailed",result="created"\} [1-9]'
expect_grep "API requests by verb, resource and code" <(curl -s "http://127.0.0.1:$MPORT/metrics") 'leakwatch_api_requests_total\{verb="create",resource="events.events.k8s.io",code="201"\} [1-9]'
st=$(annot dead leakwatch.io/status)
[ "$st" = scrape-failing ] && ok "dead pod status scrape-failing" || bad "dead pod status '$st'"
st=$(annot healthy leakwatch.io/status)
[ "$st" = ok ] && ok "healthy pod status ok" || bad "healthy pod status '$st'"
# too little history yet: the summary says since when, so it is never stale between refreshes
hs=$(annot healthy leakwatch.io/summary)
case "$hs" in
  "insufficient data: goroutine samples since 20"*"Z; a verdict from about 20"*"Z (it needs at least "*"; memory 40.0 MiB (working set from metrics.k8s.io)")
    ok "healthy pod's summary: since when, from when, and the working set";;
  *) bad "healthy pod's summary: '$hs'";;
esac
st=$(annot leaky leakwatch.io/status)
case "$st" in ok|leaking|oom-predicted) ok "leaky pod status written ($st)";; *) bad "leaky pod status '$st'";; esac
[ -n "$(annot leaky leakwatch.io/updated-at)" ] && ok "updated-at written" || bad "no updated-at"
[ -z "$(annot other leakwatch.io/status)" ] && ok "pod that did not opt in is not annotated" || bad "other annotated"

# goroutines of the leaky pod keep growing (30 leaked connections/s)
sleep 12
g2=$(metric 'leakwatch_goroutines\{namespace="default",pod="leaky"')
if [ -n "$g1" ] && [ -n "$g2" ] && [ "$g2" -gt "$g1" ]; then ok "leaky goroutines grow ($g1 -> $g2)"; else bad "leaky goroutines $g1 -> $g2"; fi

# opt-out: leakwatch.io/scrape "false" removes our annotations, keeps others'
apiserver_ctl PATCH pods/default/healthy '{"metadata":{"annotations":{"leakwatch.io/scrape":"false"}}}' >/dev/null
gone=0
for _ in $(seq 1 50); do
  [ -z "$(annot healthy leakwatch.io/status)" ] && { gone=1; break; }; sleep 0.2
done
[ $gone = 1 ] && ok "opt-out removes leakwatch.io/status" || bad "status still on the opted-out pod"
[ -z "$(annot healthy leakwatch.io/updated-at)" ] && ok "opt-out removes leakwatch.io/updated-at" || bad "updated-at left"
[ "$(annot healthy team)" = x ] && ok "opt-out keeps other annotations" || bad "team annotation lost"
sleep 6
expect_nogrep_metric() { curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/m.txt"; expect_nogrep "$1" "$TMP/m.txt" "$2"; }
expect_nogrep_metric "opted-out pod's series are gone from /metrics" 'pod="healthy"'

# The leaky program grows ~1.3 MB/s (runtime MemStats) against a 512Mi
# limit: once the forecast has 2 minutes of history it predicts the kill,
# which lets the analysis judge the stacks before its usual 5 minutes.
verdict=""
for _ in $(seq 1 200); do
  st=$(annot leaky leakwatch.io/status)
  case "$st" in leaking|oom-predicted) verdict=$st; break;; esac
  sleep 1
done
[ -n "$verdict" ] && ok "leaky pod judged: status $verdict" || bad "no leak verdict; status '$st'; $(grep -E 'insufficient|leak' "$LOG" | tail -2)"
events_of leaky >"$TMP/ev_leaky0.txt"
cat "$TMP/ev_leaky0.txt"
expect_grep "a leak Warning event on the leaky pod" "$TMP/ev_leaky0.txt" '^(GoroutineLeak|MemoryLeak|OOMKillPredicted) Warning'
expect_grep "the event names the leaking stack" "$TMP/ev_leaky0.txt" 'persistConn|net/http'
top=$(annot leaky leakwatch.io/top-stack)
echo "top-stack: $top"
case "$top" in *persistConn*|*net/http*) ok "top-stack annotation names net/http";; *) bad "top-stack '$top'";; esac
if [ "$verdict" = oom-predicted ]; then
  [ -n "$(annot leaky leakwatch.io/predicted-oom-at)" ] && ok "predicted-oom-at written" || bad "no predicted-oom-at"
  expect_grep "OOM seconds gauge" <(curl -s "http://127.0.0.1:$MPORT/metrics") 'leakwatch_predicted_oom_seconds\{namespace="default",pod="leaky"'
fi
expect_grep "leak suspected gauge" <(curl -s "http://127.0.0.1:$MPORT/metrics") 'leakwatch_leak_suspected\{namespace="default",pod="leaky",container="app",kind="goroutine"\} 1'
# two more scrapes (5 s) of the leaking pod: one info line per status
# change, the repeated verdicts at debug only
sleep 11
ninfo=$(grep -cE 'level=info msg=(leak|status) .*pod=leaky' "$LOG")
ndbg=$(grep -cE 'level=debug msg=leak .*pod=leaky' "$LOG")
echo "leaky: $ninfo info lines, $ndbg debug lines"
[ "$ninfo" -ge 1 ] && [ "$ninfo" -le 3 ] && ok "the leak is logged at info once per status change ($ninfo)" || bad "$ninfo info leak lines for one leaking pod"
[ "$ndbg" -ge 2 ] && ok "repeated verdicts go to debug ($ndbg)" || bad "$ndbg debug leak lines"

# a simulated OOM kill of the leaky pod: restartCount 1, new containerID,
# lastState.terminated.reason OOMKilled -> an OOMKilled post-mortem event
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
apiserver_ctl PATCH pods/default/leaky/status '{"containerStatuses":[{"name":"app","ready":true,"restartCount":1,
  "containerID":"containerd://c1-leaky","state":{"running":{"startedAt":"'"$NOW"'"}},
  "lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"finishedAt":"'"$NOW"'",
  "containerID":"containerd://c0-leaky"}}}]}' >/dev/null
oom=0
for _ in $(seq 1 50); do
  events_of leaky | grep -q '^OOMKilled Warning' && { oom=1; break; }; sleep 0.2
done
[ $oom = 1 ] && ok "OOMKilled post-mortem event after the kill" || bad "no OOMKilled event; log: $(grep -i oom "$LOG" | tail -3)"
events_of leaky >"$TMP/ev_leaky.txt"
expect_grep "post-mortem note names the container" "$TMP/ev_leaky.txt" '^OOMKilled Warning .*app'
if [ -n "$verdict" ]; then
  grep '^OOMKilled Warning' "$TMP/ev_leaky.txt" >"$TMP/ev_oom.txt"
  expect_nogrep "post-mortem says it was predicted" "$TMP/ev_oom.txt" 'not predicted'
  # "predicted 2m before" when the warning came well before finishedAt (second
  # precision here, so a warning in the same second reads "it had been predicted")
  expect_grep "post-mortem says it was predicted" "$TMP/ev_oom.txt" 'it had been predicted|predicted [0-9a-z]+ before'
  case "$(annot leaky leakwatch.io/summary)" in *"had been predicted"*|*"predicted "*" before"*) ok "summary annotation agrees";;
    *) bad "summary annotation: $(annot leaky leakwatch.io/summary)";; esac
fi
st=$(annot leaky leakwatch.io/status)
[ "$st" = oomkilled ] && ok "leaky status oomkilled" || bad "leaky status after kill '$st'"

# no event at all for the healthy pod
events_of healthy >"$TMP/ev_healthy.txt"
[ ! -s "$TMP/ev_healthy.txt" ] && ok "no events for the healthy pod" || bad "healthy pod has events: $(cat "$TMP/ev_healthy.txt")"

if command -v kubectl >/dev/null 2>&1; then
  K() { kubectl --kubeconfig "$APISERVER_KUBECONFIG" --request-timeout=20s "$@"; }
  K describe pod leaky >"$TMP/describe_leaky.txt" 2>&1
  K describe pod dead >"$TMP/describe_dead.txt" 2>&1
  echo "---- kubectl describe pod leaky (annotations, events) ----"
  sed -n '/^Annotations:/,/^Status:/p;/^Events:/,$p' "$TMP/describe_leaky.txt"
  echo "---- kubectl describe pod dead (events) ----"
  sed -n '/^Events:/,$p' "$TMP/describe_dead.txt"
  expect_grep "kubectl describe shows the OOMKilled post-mortem" "$TMP/describe_leaky.txt" 'Warning +OOMKilled .*leakwatch.io/controller'
  expect_grep "kubectl describe shows ScrapeFailed" "$TMP/describe_dead.txt" 'Warning +ScrapeFailed .*leakwatch.io/controller'
fi

# delete: the dead pod's series disappear
apiserver_ctl DELETE pods/default/dead >/dev/null
sleep 6
expect_nogrep_metric "deleted pod's series are gone" 'pod="dead"'

# SIGTERM: clean exit 0, /healthz stops
kill -TERM "$CPID"
rc=0
for _ in $(seq 1 100); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
wait "$CPID"; rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc; log: $(tail -5 "$LOG")"
expect_grep "log says it stopped" "$LOG" 'msg=stopped'
[ -z "$(lease_holder)" ] && ok "the Lease is released on shutdown" || bad "Lease still held by '$(lease_holder)'"
expect_nogrep "no error records in the log" "$LOG" 'level=error'
finish
