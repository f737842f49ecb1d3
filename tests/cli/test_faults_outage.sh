#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The API server goes away for a long time (issue 5 point 4; "minutes"
# compressed to OUTAGE seconds, default 40), through `leakwatch controller`
# with leader election off (a single replica; see docs/reliability.md for
# what leader election does in an outage). While it is away, a pod is
# replaced by a new pod with the SAME name, IP, port and path but a new UID
# and a different process (new containerID; the server behind the path
# switches from the `healthy` to the `chan-send` profile). Asserts:
#   - scraping goes on during the outage (series survive; no pod forgotten);
#   - the informer backs off (delays between failed attempts grow, capped)
#     and logs each failure; the delays are printed;
#   - once the server is back, the controller relists by itself: the
#     replaced pod's old UID is deleted (its series dropped) and the new UID
#     gets a new target and series; it is NOT taken for a restart of the old
#     container (state keyed by name or IP would see a new containerID and
#     log "container restarted", continuing the old series);
#   - Events and annotations arrive again after the recovery.
# Runs about 3 minutes (the outage, then up to two capped backoffs of 30-60 s
# before the relist), so it only runs with LW_FAULTS_LONG=1 (skip otherwise).
# LW_FAULTS_LEADER=1 keeps leader election on (the default deployment):
# docs/reliability.md reports what that does to the series.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"
OUTAGE=${LW_FAULTS_OUTAGE:-40}
[ "${LW_FAULTS_LONG:-0}" = 1 ] || { echo "skip: about 3 minutes; run with LW_FAULTS_LONG=1"; exit 77; }
LEADER_FLAGS=(--no-leader-elect)
[ "${LW_FAULTS_LEADER:-0}" = 1 ] && LEADER_FLAGS=(--leader-election-identity outage)
faults_init
pods_start || { bad "pod server did not start"; finish; exit 1; }
apiserver_ctl POST pods "[$(pod keep /fix-healthy/keep), $(pod reuse /fix-healthy/reuse)]" >/dev/null
ctl_start "${LEADER_FLAGS[@]}" || { bad "controller not ready: $(tail -5 "$CLOG")"; finish; exit 1; }
ok "controller ready"
growth() { metric "leakwatch_goroutine_growth_per_hour\\{namespace=\"default\",pod=\"$1\""; }
gcount() { metric "leakwatch_goroutines\\{namespace=\"default\",pod=\"$1\""; }
has_gauge() { test -n "$(gcount "$1")"; }
wait_until 20 has_gauge reuse && ok "pods scraped before the outage" || bad "no gauge for reuse"
sleep 6 # two samples each
old_uid=$(getpod reuse | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["uid"])')

# snapshot, then take the API server away
apiserver_ctl GET objects/pods | python3 -c 'import json,sys
d=json.load(sys.stdin); items=d.get("items", d if isinstance(d,list) else [])
for p in items:
    if p["metadata"]["name"]=="reuse":
        p["metadata"]["uid"]="0b5e55ed-0000-4000-8000-00000000beef"
        p["status"]["containerStatuses"][0]["containerID"]="containerd://new-process"
print(json.dumps({"pods": items}))' >"$TMP/state.json"
rv=$(apiserver_ctl GET health | python3 -c 'import json,sys; print(json.load(sys.stdin)["resourceVersion"])')
s_before=$(metric 'leakwatch_scrapes_total\{profile="goroutine",result="ok"\}')
kill -KILL "$APISERVER_PID"; wait "$APISERVER_PID" 2>/dev/null
t_down=$SECONDS
echo "API server down for $OUTAGE s"
sleep 2
# the new process behind the same IP:port/path, and the control pod's jump
curl -s -X POST "http://127.0.0.1:$PODPORT/_switch/reuse/chan-send" >/dev/null
sleep $((OUTAGE - 2))
s_during=$(metric 'leakwatch_scrapes_total\{profile="goroutine",result="ok"\}')
[ "${s_during:-0}" -gt "${s_before:-0}" ] && ok "scraping went on during the outage ($s_before -> $s_during goroutine scrapes)" ||
  bad "no scrape during the outage ($s_before -> $s_during)"
expect_nogrep "no pod forgotten during the outage" "$CLOG" 'msg="pod deleted"'
grep 'pod informer error' "$CLOG" | python3 -c 'import sys,datetime
ts=[datetime.datetime.strptime(l.split()[0][3:],"%Y-%m-%dT%H:%M:%S.%fZ").timestamp() for l in sys.stdin]
d=[b-a for a,b in zip(ts,ts[1:])]
print("failures %d delays %s max %.1f" % (len(ts), " ".join("%.1f"%x for x in d), max(d) if d else 0))' >"$TMP/backoff.txt"
cat "$TMP/backoff.txt"
read -r _ nfail _ <<<"$(cat "$TMP/backoff.txt")"
[ "${nfail:-0}" -ge 3 ] && [ "${nfail:-99}" -le 15 ] && ok "$nfail informer failures in $OUTAGE s: backing off, not hammering" || bad "informer failures: $nfail"
python3 -c 'import sys
d=[float(x) for x in sys.argv[1].split("delays ")[1].split(" max")[0].split()]
sys.exit(0 if d and max(d) <= 61 and d[-1] >= d[0] else 1)' "$(cat "$TMP/backoff.txt")" &&
  ok "delays grow and stay under the cap (30 s, jittered up to 2x)" || bad "backoff delays: $(cat "$TMP/backoff.txt")"

# back, on the same port, with a higher resourceVersion (etcd keeps its revision)
python3 "$APISERVER_SRC/apiserver.py" --port "$APISERVER_PORT" --port-file "$APISERVER_DIR/port2" \
  --token-file "$APISERVER_TOKEN_FILE" --tls-dir "$APISERVER_DIR/tls" --state "$TMP/state.json" \
  --first-rv $((rv + 100)) >"$APISERVER_DIR/server2.log" 2>&1 &
APISERVER_PID=$!
T_PIDS+=("$APISERVER_PID")
wait_until 15 test -s "$APISERVER_DIR/port2" || bad "restart failed"
t_up=$SECONDS
if wait_until 130 grep -q 'msg="pod deleted" pod=reuse' "$CLOG"; then
  ok "recovered by itself $((SECONDS - t_up)) s after the server came back (outage $((t_up - t_down)) s): old UID deleted"
else bad "no relist within 130 s of the recovery"; fi
# with leader election the lease is lost in the outage: scraping pauses and
# every series is kept; re-leading resumes them ("scraping resumed"), so each
# pod is started ("scraping pod") exactly once either way
relead=$(grep -c 'msg=leading' "$CLOG"); [ "$relead" -gt 0 ] && relead=$((relead - 1))
n_reuse=$(grep -c 'msg="scraping pod" pod=reuse ' "$CLOG")
[ "$n_reuse" = 2 ] && ok "the new UID got its own target (scraping pod logged $n_reuse times, re-leads $relead)" || bad "reuse started $n_reuse times (re-leads $relead)"
n_keep=$(grep -c 'msg="scraping pod" pod=keep ' "$CLOG")
[ "$n_keep" = 1 ] && ok "the unchanged pod kept its target and series" || bad "keep started $n_keep times"
if [ "$relead" -gt 0 ]; then
  n_res=$(grep -c 'msg="scraping resumed" pod=keep ' "$CLOG")
  [ "$n_res" -ge 1 ] && ok "leader election: lease lost $relead time(s) in the outage, the series were kept and resumed" ||
    bad "lease lost but the unchanged pod was not resumed"
  expect_nogrep "no series dropped (no other replica led)" "$CLOG" 'dropping kept series'
fi

# the new UID is a new pod, not a restart of the old container
expect_nogrep "the new UID is not taken for a container restart" "$CLOG" 'msg="container restarted" pod=reuse'
wait_until 15 has_gauge reuse && ok "the new UID has its own gauges ($(gcount reuse) goroutines, chan-send)" || bad "no gauge for the new UID"
# Events and annotations after the recovery
apiserver_ctl POST pods "$(pod after-bad /fix-healthy/x 70000)" >/dev/null
wait_until 30 status_is after-bad scrape-failing && ok "annotations written after the recovery" || bad "no annotation after recovery"
wait_until 10 eval 'events_of after-bad | grep -q ScrapeFailed' && ok "Events recorded after the recovery" || bad "no event after recovery"
[ "$old_uid" != "0b5e55ed-0000-4000-8000-00000000beef" ] || bad "uid did not change"

ctl_stop
[ "$CTL_RC" = 0 ] && ok "SIGTERM: exit 0" || bad "exit $CTL_RC"
faults_dump; faults_keep; finish
