#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Faults on the Kubernetes API side, end to end through `leakwatch controller`
# (issue 5 point 4), with the test API server's fault injection. One
# controller (leader election on, as deployed) lives through, in order:
#   1. a watch answered with a 410 ERROR event, then the relist answered 429
#      with Retry-After: 2 -> relists after >= 2 s;
#   2. a watch refused with HTTP 410 (the other form) -> relist;
#   3. two watches answered 500 -> re-watch after a backoff.
# After each fault two pods are created: one must get scraped (the watch
# delivers again), the other (a port out of range) must get its ScrapeFailed
# Event and leakwatch.io/status annotation (writes reach the API again). The
# first pod keeps its series throughout (never "deleted", its target never
# re-created). test_faults_token_restart.sh covers token rotation and an API
# server restart. About 45 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"
faults_init
pods_start || { bad "pod server did not start"; finish; exit 1; }

apiserver_ctl POST pods "[$(pod keep /fix-healthy/keep)]" >/dev/null
ctl_start --leader-election-identity faults-api || { bad "controller not ready: $(tail -5 "$CLOG")"; finish; exit 1; }
ok "controller ready"

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
wait_until 15 grep -q '"/fix-healthy/keep/goroutine' "$PODLOG" && ok "first pod scraped" || bad "keep not scraped"

# ---- 1. 410 as an ERROR event, then 429 + Retry-After on the relist
apiserver_ctl DELETE requests >/dev/null
apiserver_ctl POST faults '[{"verb":"watch","resource":"pods","code":410,"form":"event","count":1},
  {"verb":"list","resource":"pods","code":429,"retryAfter":2,"count":1}]' >/dev/null
apiserver_ctl POST drop-watches '{"abrupt":false}' >/dev/null
probe p410e "410 ERROR event + 429"
reqlog | python3 -c 'import json,sys
log=[e for e in json.load(sys.stdin)["items"] if e["path"]=="/api/v1/pods"]
lists=[e for e in log if e["query"].get("watch") not in ("1","true")]
t429=[e["time"] for e in lists if e["status"]==429]
after=[e["time"] for e in lists if e["status"]==200 and t429 and e["time"]>t429[0]]
print("list429", len(t429), "gap %.2f" % ((after[0]-t429[0]) if after else -1))' >"$TMP/r1.txt" 2>&1
cat "$TMP/r1.txt"
expect_grep "the relist after the 410 got the 429" "$TMP/r1.txt" '^list429 1 '
gap=$(awk '{print $4}' "$TMP/r1.txt")
python3 -c "import sys; sys.exit(0 if float('$gap') >= 1.9 else 1)" 2>/dev/null &&
  ok "Retry-After honoured: relisted $gap s after the 429" || bad "relist gap after 429: '$gap'"

# ---- 2. 410 as HTTP status on the watch
apiserver_ctl POST faults '[{"verb":"watch","resource":"pods","code":410,"form":"http","count":1}]' >/dev/null
apiserver_ctl POST drop-watches '{"abrupt":true}' >/dev/null
probe p410h "410 HTTP"
g=$(metric 'leakwatch_watch_restarts_total\{reason="gone"\}')
[ "${g:-0}" -ge 2 ] && ok "both 410 forms counted as watch restarts (gone: $g)" || bad "gone restarts: '$g'"

# ---- 3. 500 on two watches
apiserver_ctl POST faults '[{"verb":"watch","resource":"pods","code":500,"count":2}]' >/dev/null
apiserver_ctl POST drop-watches '{"abrupt":false}' >/dev/null
probe p500 "500 on watch"
reqlog | python3 -c 'import json,sys
log=[e for e in json.load(sys.stdin)["items"] if e["path"]=="/api/v1/pods" and e["query"].get("watch") in ("1","true")]
t=[e["time"] for e in log if e["status"]==500]
print("watch500 %d gap %.2f" % (len(t), t[1]-t[0] if len(t)>1 else -1))' >"$TMP/r3.txt"
cat "$TMP/r3.txt"
expect_grep "two watches got the 500, a backoff apart" "$TMP/r3.txt" '^watch500 2 gap ([0-9]*[1-9][0-9]*\.|0\.[5-9])'


expect_nogrep "no pod was dropped by any fault" "$CLOG" 'msg="pod deleted"'
n_keep=$(grep -c 'msg="scraping pod" pod=keep ' "$CLOG")
[ "$n_keep" = 1 ] && ok "the first pod's target was never re-created (series kept)" || bad "keep started $n_keep times"
expect_grep "still the leader" <(metrics) '^leakwatch_leader 1$'
ctl_stop
[ "$CTL_RC" = 0 ] && ok "SIGTERM: exit 0 after all faults" || bad "exit $CTL_RC"
expect_nogrep "no error records in the log" "$CLOG" 'level=error'
faults_dump; faults_keep; finish
