#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Faults on the Kubernetes API side (issue 5 point 4), part 2, through
# `leakwatch controller` (leader election on):
#   4. every request answered 401 until the token file changes; the token is
#      rotated 3 s later -> the new token is used, the old one never again;
#   5. the API server killed (SIGKILL) mid-watch and restarted on the same port
#      with the same objects (same UIDs) and a higher resourceVersion, as etcd
#      keeps its revision -> the watch's RV is too old (410) -> relist.
# After each fault a pod created afterwards is scraped, and a pod with a bad
# annotation gets its ScrapeFailed Event and status annotation. The first
# pod keeps its series (never deleted, target never re-created, scrapes go on
# across the restart). About 40 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"
faults_init
faults_start_keep faults-api2

# ---- 4. token rotation: 401 until the token file changes
old_hash=$(reqlog | python3 -c 'import json,sys
print([e for e in json.load(sys.stdin)["items"] if e["status"]==200][-1]["headers"].get("Authorization",""))')
apiserver_ctl DELETE requests >/dev/null
apiserver_ctl POST unauthorized-until-token-change >/dev/null
apiserver_ctl POST drop-watches '{"abrupt":false}' >/dev/null
sleep 3
apiserver_rotate_token
probe prot "token rotation"
reqlog | python3 -c 'import json,sys
old=sys.argv[1]
log=json.load(sys.stdin)["items"]
n401=sum(1 for e in log if e["status"]==401)
last401=max([e["seq"] for e in log if e["status"]==401] or [0])
after=[e for e in log if e["seq"]>last401]
ok_new=sum(1 for e in after if e["status"]<300 and e["headers"].get("Authorization") not in ("",old))
old_after=sum(1 for e in after if e["headers"].get("Authorization")==old)
print("401s %d ok_with_new_token %d old_token_after %d" % (n401, ok_new, old_after))' "$old_hash" >"$TMP/r4.txt"
cat "$TMP/r4.txt"
expect_grep "requests were refused (401) before the rotation" "$TMP/r4.txt" '^401s [1-9]'
expect_grep "after the rotation the new token works and the old one is never sent" "$TMP/r4.txt" 'ok_with_new_token [1-9][0-9]* old_token_after 0$'

# ---- 5. the API server dies mid-watch and comes back on the same port
s_before=$(keep_scrapes)
apiserver_ctl GET objects/pods | python3 -c 'import json,sys
d=json.load(sys.stdin); print(json.dumps({"pods": d.get("items", d if isinstance(d,list) else [])}))' >"$TMP/state.json"
rv=$(apiserver_ctl GET health | python3 -c 'import json,sys; print(json.load(sys.stdin)["resourceVersion"])')
wait_until 20 eval 'apiserver_ctl GET watches | grep -q "\"resource\":\"pods\""' && ok "a pod watch is open when the server is killed" || bad "no open watch"
kill -KILL "$APISERVER_PID"; wait "$APISERVER_PID" 2>/dev/null
sleep 2
python3 "$APISERVER_SRC/apiserver.py" --port "$APISERVER_PORT" --port-file "$APISERVER_DIR/port2" \
  --token-file "$APISERVER_TOKEN_FILE" --tls-dir "$APISERVER_DIR/tls" --state "$TMP/state.json" \
  --first-rv $((rv + 100)) >"$APISERVER_DIR/server2.log" 2>&1 &
APISERVER_PID=$!
T_PIDS+=("$APISERVER_PID")
wait_until 15 test -s "$APISERVER_DIR/port2" && ok "API server restarted on port $APISERVER_PORT" || bad "restart failed: $(tail -3 "$APISERVER_DIR/server2.log")"
probe prestart "API server restart"
expect_grep "the restart was seen (watch error or 410)" "$CLOG" 'pod informer error'
expect_nogrep "no pod was dropped by any fault" "$CLOG" 'msg="pod deleted"'
n_keep=$(grep -c 'msg="scraping pod" pod=keep ' "$CLOG")
[ "$n_keep" = 1 ] && ok "the first pod's target was never re-created (series kept)" || bad "keep started $n_keep times"
wait_until 15 metric_gt 'leakwatch_scrapes_total\{profile="goroutine",result="ok"\}' "${s_before:-0}" && ok "scraping went on across the restart" || bad "no scrape after restart"
expect_grep "still the leader" <(metrics) '^leakwatch_leader 1$'

ctl_stop
[ "$CTL_RC" = 0 ] && ok "SIGTERM: exit 0 after all faults" || bad "exit $CTL_RC"
expect_nogrep "no error records in the log" "$CLOG" 'level=error'
faults_dump; faults_keep; finish
