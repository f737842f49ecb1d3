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
faults_start_keep faults-api

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
