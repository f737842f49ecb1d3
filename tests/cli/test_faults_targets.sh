#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Faults on the pods' side, end to end through `leakwatch controller`
# (issue 5 point 4): pods whose pprof endpoint hangs, trickles one byte every
# 0.5 s, or returns a gigabyte generated on the fly (chunked, and with a
# Content-Length), next to a healthy pod; a pod deleted while its scrape
# hangs, and one whose address changes while its scrape hangs. The controller's RSS is sampled from /proc every 0.25 s the whole
# time. Asserts: every bad target fails with the right error (timeout,
# too big) as metrics and ScrapeFailed events; the gigabyte is cut off at
# --max-response-bytes (what the server managed to push is reported);
# RSS stays bounded (peak < 200 MiB with the 64 MiB default cap) and does not
# grow from the first to the last gigabyte; the healthy pod keeps being
# scraped and annotated; the deleted pod's hanging request is dropped, it is
# never asked again and gets no event; the moved pod's old request is dropped
# and its new address scraped. About 25 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"
faults_init
pods_start || { bad "pod server did not start"; finish; exit 1; }

apiserver_ctl POST pods "[$(pod good /fix-healthy/good), $(pod hang /hang/hang),
  $(pod trickle /trickle/trickle), $(pod giga /giga/giga), $(pod gigacl /gigacl/gigacl)]" >/dev/null
ctl_start || { bad "controller not ready: $(tail -5 "$CLOG")"; finish; exit 1; }
ok "controller ready with 5 pods"

# RSS sampler
( while kill -0 "$CPID" 2>/dev/null; do rss_kb "$CPID"; sleep 0.25; done ) >"$TMP/rss.txt" 2>/dev/null &
SAMPLER=$!
T_PIDS+=("$SAMPLER")

# the pod to delete mid-scrape: wait until its request is hanging at the server
apiserver_ctl POST pods "$(pod doomed /hang/doomed)" >/dev/null
if wait_until 20 grep -q '"/hang/doomed/goroutine?debug=1".*"note": "hanging"' "$PODLOG"; then
  apiserver_ctl DELETE pods/default/doomed >/dev/null
  t_del=$SECONDS
  # the client must hang up at once, not at its 3 s timeout
  if wait_until 2 grep -q '"/hang/doomed/.*"note": "hang closed"' "$PODLOG"; then
    ok "deleting a pod mid-scrape drops its in-flight request within 2 s"
  else bad "the deleted pod's hanging request was not dropped"; fi
  n_doomed=$(podlog_count '"/hang/doomed/.*"note": "hanging"')
else
  bad "the doomed pod was never scraped"; n_doomed=0; t_del=$SECONDS
fi

# a pod whose scrape address changes while its request hangs (the update
# arrives inside the watch's libcurl callback, like the deletion above): the
# old request is dropped at once and the new address is scraped
apiserver_ctl POST pods "$(pod moved /hang/moved)" >/dev/null
if wait_until 20 grep -q '"/hang/moved/goroutine?debug=1".*"note": "hanging"' "$PODLOG"; then
  apiserver_ctl PATCH pods/default/moved '{"metadata":{"annotations":{"leakwatch.io/path":"/fix-healthy/moved"}}}' >/dev/null
  wait_until 2 grep -q '"/hang/moved/.*"note": "hang closed"' "$PODLOG" &&
    ok "a new address mid-scrape drops the old request within 2 s" || bad "old request of the moved pod not dropped"
  wait_until 15 grep -q '"/fix-healthy/moved/goroutine' "$PODLOG" && ok "the new address is scraped" || bad "moved pod not scraped at its new path"
else bad "the moved pod was never scraped"; fi

# three gigabytes per giga pod, and a ScrapeFailed event (3 failures in a
# row) on each bad pod
done_enough() {
  [ "$(podlog_count '"/giga/giga/.*gigabyte ended')" -ge 3 ] &&
  [ "$(podlog_count '"/gigacl/gigacl/.*gigabyte ended')" -ge 3 ] &&
  events_of giga | grep -q ScrapeFailed && events_of gigacl | grep -q ScrapeFailed &&
  events_of hang | grep -q ScrapeFailed && events_of trickle | grep -q ScrapeFailed
}
wait_until 45 done_enough && ok "every bad target was tried repeatedly" || bad "bad targets not tried enough: $(tail -3 "$PODLOG")"

metrics >"$TMP/m1.txt"
expect_grep "gigabyte scrapes end as too_big" "$TMP/m1.txt" 'leakwatch_scrapes_total\{profile="(goroutine|heap)",result="too_big"\} ([3-9]|[1-9][0-9])'
expect_grep "hang and trickle end as timeouts" "$TMP/m1.txt" 'leakwatch_scrapes_total\{profile="(goroutine|heap)",result="timeout"\} ([3-9]|[1-9][0-9])'
expect_grep "the healthy pod is scraped" "$TMP/m1.txt" 'leakwatch_goroutines\{namespace="default",pod="good",container="app"\} [0-9]+'
ok1=$(metric 'leakwatch_scrapes_total\{profile="goroutine",result="ok"\}')

for p in giga gigacl; do
  events_of $p >"$TMP/ev_$p.txt"
  expect_grep "$p: ScrapeFailed says the response is too large" "$TMP/ev_$p.txt" '^ScrapeFailed Warning .*larger than 67108864 bytes'
done
for p in hang trickle; do
  events_of $p >"$TMP/ev_$p.txt"
  expect_grep "$p: ScrapeFailed says it timed out" "$TMP/ev_$p.txt" '^ScrapeFailed Warning .*timed out'
  [ "$(annot $p leakwatch.io/status)" = scrape-failing ] && ok "$p: status scrape-failing" || bad "$p: status '$(annot $p leakwatch.io/status)'"
done

# what the gigabyte server managed to push before the client hung up
maxsent=$(grep -E '"/giga(cl)?/.*gigabyte ended' "$PODLOG" | python3 -c 'import json,sys
print(max(json.loads(l)["sent"] for l in sys.stdin))')
echo "largest gigabyte push before the abort: $maxsent bytes (cap 67108864)"
[ "$maxsent" -lt $((256 << 20)) ] && ok "a gigabyte is cut off early ($((maxsent >> 20)) MiB pushed)" || bad "server pushed $maxsent bytes"

# the deleted pod: never asked again, no event, no series
sleep 1
[ "$(podlog_count '"/hang/doomed/.*"note": "hanging"')" = "$n_doomed" ] && ok "the deleted pod is never scraped again" || bad "doomed scraped after deletion"
[ -z "$(events_of doomed)" ] && ok "no event for the pod deleted mid-scrape" || bad "doomed has events: $(events_of doomed)"
metrics >"$TMP/m2.txt"
expect_nogrep "the deleted pod has no series" "$TMP/m2.txt" 'pod="doomed"'

# the healthy pod keeps working through all this
wait_until 15 metric_gt 'leakwatch_scrapes_total\{profile="goroutine",result="ok"\}' "${ok1:-0}" &&
  ok "good pod still scraped after the faults" || bad "no new successful scrape"
[ "$(annot good leakwatch.io/status)" = ok ] && ok "good pod status ok" || bad "good pod status '$(annot good leakwatch.io/status)'"
[ -z "$(events_of good)" ] && ok "no event for the healthy pod" || bad "good has events"

kill "$SAMPLER" 2>/dev/null
hwm=$(hwm_kb "$CPID")
read -r n first_max last_max <<<"$(python3 -c 'import sys
v=[int(x) for x in open(sys.argv[1]).read().split() if x.strip()]
q=len(v)//3 or 1
print(len(v), min(v[:q]), min(v[-q:]))' "$TMP/rss.txt")"
# RSS swings with each oversized body in flight (up to the 64 MiB cap, freed
# when the transfer is cut); what must not grow is the floor it returns to:
# the lowest RSS of the first third against the lowest of the last third,
# after several gigabytes
echo "controller RSS: $n samples, floor of the first third $first_max KiB, floor of the last third $last_max KiB, VmHWM $hwm KiB"
# the bound: the 64 MiB body cap plus the program (ASan's shadow memory and
# quarantine need more)
cap_kb=$((200 * 1024))
grep -q __asan_init "$LEAKWATCH" 2>/dev/null && cap_kb=$((1024 * 1024))
[ "$hwm" -lt "$cap_kb" ] && ok "peak RSS ${hwm} KiB < $((cap_kb >> 10)) MiB" || bad "peak RSS ${hwm} KiB"
if grep -q __asan_init "$LEAKWATCH" 2>/dev/null; then
  # ASan keeps freed memory in its quarantine (256 MiB by default): the floor
  # is checked by the normal build's run of this test
  echo "note: ASan build: RSS floor not compared (freed memory stays in ASan's quarantine)"
else
  [ "$last_max" -le $((first_max + 32 * 1024)) ] && ok "RSS returns to its floor across gigabytes" || bad "RSS floor grew $first_max -> $last_max KiB"
fi

ctl_stop; rc=$CTL_RC
[ "$rc" = 0 ] && ok "clean exit after the faults" || bad "exit $rc: $(tail -3 "$CLOG")"
faults_dump; faults_keep; finish
