# SPDX-License-Identifier: Apache-2.0
# faults_lib.sh: shared set-up for tests/cli/test_faults_*.sh and
# test_hostile_*.sh (sourced after lib.sh). The test API server (TLS, token
# file), tests/cli/faults_pods.py standing for the pods on 127.0.0.1 (real Go
# profiles from tests/fixtures/go1.23), and `leakwatch controller` with a
# 5 s scrape interval, its /metrics on a free port and a debug log.
#   faults_init                 tool checks (exit 77), apiserver + pod server
#   pods_start [--trap ADDR]    (re)start the pod server; sets PODPORT, PODLOG
#   pod NAME PATH [PORT] [ANNOT_JSON_EXTRA] [IP]   a Pod JSON for /_test/pods
#   ctl_start [flags...]        start the controller, wait for /readyz; CPID, MPORT, CLOG
#   metric REGEX                first value of a /metrics line matching REGEX
#   annot POD KEY, events_of POD ("reason type note" lines), rss_kb PID
#   wait_until SECONDS CMD...   poll CMD every 0.25 s until it succeeds
#   podlog_count REGEX          requests in the pod log whose JSON matches REGEX
SRC=${LW_SOURCE_DIR:-.}
. "$SRC/tests/apiserver/apiserver.sh"

faults_init() {
  local t
  for t in python3 curl openssl; do
    command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
  done
  export HOME=$TMP/home
  mkdir -p "$HOME"
  apiserver_start "$@" || { bad "API server did not start"; finish; exit 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pods_start() {
  PODLOG=$TMP/pods.jsonl
  rm -f "$TMP/podport"
  python3 "$SRC/tests/cli/faults_pods.py" --port "${PODPORT:-0}" --port-file "$TMP/podport" \
    --log "$PODLOG" --fixtures "$SRC/tests/fixtures/go1.23" "$@" >"$TMP/pods.err" 2>&1 &
  PODPID=$!
  T_PIDS+=("$PODPID")
  for _ in $(seq 1 100); do [ -s "$TMP/podport" ] && break; sleep 0.1; done
  [ -s "$TMP/podport" ] || { cat "$TMP/pods.err"; return 1; }
  PODPORT=$(cat "$TMP/podport")
  touch "$PODLOG"
}

# pod NAME PATH [PORT] [EXTRA_ANNOTATIONS_JSON] [IP] [UID]
pod() {
  local extra=${4:-}
  [ -n "$extra" ] && extra=",$extra"
  printf '{"metadata":{"name":"%s","namespace":"default"%s,
     "annotations":{"leakwatch.io/scrape":"true","leakwatch.io/interval":"5s",
       "leakwatch.io/path":"%s","leakwatch.io/port":"%s"%s}},
   "spec":{"nodeName":"node-a","containers":[{"name":"app","image":"faultpod",
     "resources":{"limits":{"memory":"512Mi"}}}]},
   "status":{"phase":"Running","podIP":"%s","hostIP":"127.0.0.1",
     "containerStatuses":[{"name":"app","ready":true,"restartCount":0,
       "containerID":"containerd://c-%s","state":{"running":{"startedAt":"2026-11-26T20:00:00Z"}}}]}}' \
    "$1" "${6:+,\"uid\":\"$6\"}" "$2" "${3:-$PODPORT}" "$extra" "${5:-127.0.0.1}" "$1$RANDOM"
}

ctl_start() {
  MPORT=$(free_port)
  CLOG=$TMP/controller.log
  "$LEAKWATCH" controller --kubeconfig "$APISERVER_KUBECONFIG" --scrape-interval 5s \
    --scrape-timeout 3s --metrics-bind-address "127.0.0.1:$MPORT" --log-level debug \
    --scrape-failed-event-interval 0s --shutdown-timeout 5s "$@" >>"$CLOG" 2>&1 &
  CPID=$!
  T_PIDS+=("$CPID")
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/readyz")" = 200 ] && return 0
    kill -0 "$CPID" 2>/dev/null || break
    sleep 0.2
  done
  return 1
}

ctl_stop() { # SIGTERM, wait; the exit code in CTL_RC (not from a subshell)
  kill -TERM "$CPID" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
  wait "$CPID"; CTL_RC=$?
}

metrics() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics"; }
metric() { metrics | grep -E "$1" | head -1 | awk '{print $NF}'; }
getpod() { apiserver_api GET "/api/v1/namespaces/default/pods/$1"; }
annot() {
  getpod "$1" | python3 -c 'import json,sys
try: print(json.load(sys.stdin)["metadata"].get("annotations",{}).get(sys.argv[1],""))
except Exception: print("")' "$2"
}
events_of() { # POD -> "reason type note" lines, from events.k8s.io/v1
  apiserver_api GET /apis/events.k8s.io/v1/namespaces/default/events |
    python3 -c 'import json,sys
for e in json.load(sys.stdin)["items"]:
    if e["regarding"]["name"]==sys.argv[1]: print(e["reason"], e["type"], e.get("note","").replace("\n"," "))' "$1"
}
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null; }
hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status" 2>/dev/null; }
wait_until() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.25; done
  "$@"
}
podlog_count() { grep -Ec -- "$1" "$PODLOG" 2>/dev/null || true; }
# on failure: show the ends of the logs
faults_dump() {
  # under ASan/UBSan builds the controller's reports land in its log
  [ -f "${CLOG:-}" ] && expect_nogrep "no sanitizer report from the controller" "$CLOG" \
    'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer'
  [ "$T_FAIL" = 0 ] && return 0
  echo "---- controller log (tail) ----"; tail -25 "$CLOG" 2>/dev/null
  echo "---- pod server log (tail) ----"; tail -5 "$PODLOG" 2>/dev/null | cut -c1-400
  echo "---- pod server stderr ----"; tail -5 "$TMP/pods.err" 2>/dev/null
}
# FAULTS_KEEP=DIR keeps a copy of the test's files (logs) for debugging
faults_keep() { [ -n "${FAULTS_KEEP:-}" ] && { mkdir -p "$FAULTS_KEEP"; cp -r "$TMP/." "$FAULTS_KEEP/" 2>/dev/null; }; return 0; }
# predicates for wait_until (evaluated on every poll)
status_is() { test "$(annot "$1" leakwatch.io/status)" = "$2"; }
metric_gt() { local v; v=$(metric "$1"); test "${v:-0}" -gt "$2"; }

# ---- the API-server fault tests' common start (test_faults_apiserver.sh,
# test_faults_token_restart.sh)
reqlog() { apiserver_ctl GET requests; }
# probe NAME WHAT: create two pods now. NAME serves a real profile and must
# be scraped; NAME-bad has a port annotation out of range, which the
# controller answers at once with a ScrapeFailed Event and the
# leakwatch.io/status annotation: proof that the watch delivers again and
# that Events and annotation patches reach the API server again.
has_port_event() { events_of "$1" | grep -q '^ScrapeFailed Warning .*leakwatch.io/port'; }
probe() {
  apiserver_ctl POST pods "[$(pod "$1" "/fix-healthy/$1"), $(pod "$1-bad" "/fix-healthy/$1" 70000)]" >/dev/null
  if wait_until 35 grep -q "\"/fix-healthy/$1/goroutine" "$PODLOG"; then
    ok "$2: a pod created afterwards is scraped"
  else bad "$2: pod $1 never scraped"; fi
  if wait_until 15 status_is "$1-bad" scrape-failing; then
    ok "$2: annotations are written again"
  else bad "$2: pod $1-bad status '$(annot "$1-bad" leakwatch.io/status)'"; fi
  if wait_until 10 has_port_event "$1-bad"; then
    ok "$2: Events are recorded again"
  else bad "$2: no ScrapeFailed event for $1-bad: $(events_of "$1-bad")"; fi
}
keep_scrapes() { metric 'leakwatch_scrapes_total\{profile="goroutine",result="ok"\}'; }
# faults_start_keep IDENTITY: the pod server, a first pod "keep" serving a
# real profile, the controller (leader election identity IDENTITY), and
# keep's first scrape.
faults_start_keep() {
  pods_start || { bad "pod server did not start"; finish; exit 1; }
  apiserver_ctl POST pods "[$(pod keep /fix-healthy/keep)]" >/dev/null
  ctl_start --leader-election-identity "$1" || { bad "controller not ready: $(tail -5 "$CLOG")"; finish; exit 1; }
  ok "controller ready"
  wait_until 15 grep -q '"/fix-healthy/keep/goroutine' "$PODLOG" && ok "first pod scraped" || bad "keep not scraped"
}
