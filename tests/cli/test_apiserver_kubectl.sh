#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fidelity check of the test API server (tests/apiserver/apiserver.py): the
# real kubectl runs against it over TLS with a bearer token from a kubeconfig
# the server wrote: get (Table printing), get -o json, annotate (merge patch),
# describe pod showing an Event we created through events.k8s.io/v1, get
# events, get --watch.  Skips (77) without kubectl, python3, curl or openssl.
. "$(dirname "$0")/lib.sh"
for t in kubectl python3 curl openssl; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
done
SRC=${LW_SOURCE_DIR:-.}
export HOME=$TMP/home   # kubectl's discovery cache goes here, not in the user's home
mkdir -p "$HOME"
. "$SRC/tests/apiserver/apiserver.sh"
apiserver_start || { bad "server did not start"; finish; exit 1; }
BASE=$APISERVER_URL
K() { kubectl --kubeconfig "$APISERVER_KUBECONFIG" --request-timeout=20s "$@"; }
ctl() { apiserver_ctl "$@"; }
api() { apiserver_api "$@"; }

# Seed: a healthy pod, one that was OOM-killed and is crash-looping, one elsewhere.
pod() { # name ns reason restarts
  printf '{"metadata":{"name":"%s","namespace":"%s","labels":{"app":"%s"}},
   "spec":{"nodeName":"node-a","containers":[{"name":"app","image":"leakzoo",
     "resources":{"limits":{"memory":"64Mi"}}}]},
   "status":{"phase":"Running","podIP":"127.0.0.%s","hostIP":"127.0.0.1",
     "containerStatuses":[{"name":"app","ready":%s,"restartCount":%s,
       "containerID":"containerd://%s","image":"leakzoo","imageID":"",
       "state":%s,
       "lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,
         "startedAt":"2026-11-26T09:00:00Z","finishedAt":"2026-11-26T09:59:00Z"}}}]}}' \
    "$1" "$2" "$1" "$4" "$5" "$4" "$1" "$3"
}
RUNNING='{"running":{"startedAt":"2026-11-26T10:00:00Z"}}'
CRASH='{"waiting":{"reason":"CrashLoopBackOff","message":"back-off"}}'
ctl POST pods "[$(pod web-1 default "$RUNNING" 1 true),$(pod leaky-1 default "$CRASH" 4 false),$(pod api-1 prod "$RUNNING" 2 true)]" >"$TMP/seed.json"
expect_grep "seeded pods" "$TMP/seed.json" '"leaky-1"'

# get pods -A: server-side Table printing, all namespaces
expect_rc "kubectl get pods -A" 0 K get pods -A
expect_grep "get -A has the NAMESPACE column" "$TMP/out" '^NAMESPACE +NAME +READY +STATUS +RESTARTS +AGE'
expect_grep "get -A lists web-1" "$TMP/out" '^default +web-1 +1/1 +Running +1 \('
expect_grep "get -A shows CrashLoopBackOff" "$TMP/out" '^default +leaky-1 +0/1 +CrashLoopBackOff +4 '
expect_grep "get -A lists the other namespace" "$TMP/out" '^prod +api-1 '
expect_rc "kubectl get pods -o wide" 0 K get pods -o wide
expect_grep "wide shows pod IP and node" "$TMP/out" 'web-1 .*127\.0\.0\.1 +node-a'
expect_rc "kubectl get pods -l app=leaky-1" 0 K get pods -l app=leaky-1
expect_nogrep "label selector filters" "$TMP/out" 'web-1'
expect_rc "kubectl get pods --field-selector spec.nodeName=node-a" 0 \
  K get pods -A --field-selector spec.nodeName=node-a,metadata.namespace=prod
expect_grep "field selector filters" "$TMP/out" 'api-1'
expect_rc "unsupported field selector fails" 1 K get pods --field-selector spec.bogus=x
expect_grep "unsupported field selector message" "$TMP/err" 'field label not supported: spec.bogus'

# get -o json
expect_rc "kubectl get pod -o json" 0 K get pod leaky-1 -o json
cp "$TMP/out" "$TMP/leaky.json"
python3 - "$TMP/leaky.json" >"$TMP/fields" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
cs = p["status"]["containerStatuses"][0]
print("kind=%s name=%s ip=%s restarts=%d last=%s limit=%s uid=%s" % (
    p["kind"], p["metadata"]["name"], p["status"]["podIP"], cs["restartCount"],
    cs["lastState"]["terminated"]["reason"],
    p["spec"]["containers"][0]["resources"]["limits"]["memory"], p["metadata"]["uid"]))
PY
expect_grep "-o json carries status and limits" "$TMP/fields" \
  '^kind=Pod name=leaky-1 ip=127.0.0.4 restarts=4 last=OOMKilled limit=64Mi uid=[0-9a-f-]{36}$'
UID_=$(sed 's/.*uid=//' "$TMP/fields")

# annotate: merge patch, stored
expect_rc "kubectl annotate" 0 K annotate pod leaky-1 leakwatch.io/status=ok
expect_grep "annotate says annotated" "$TMP/out" 'pod/leaky-1 annotated'
ctl GET objects/pods/default/leaky-1 >"$TMP/stored.json"
expect_grep "annotation stored" "$TMP/stored.json" '"leakwatch.io/status": ?"ok"'
ctl GET requests >"$TMP/log.json"
python3 - "$TMP/log.json" >"$TMP/patchreq" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1]))["items"]:
    if e["method"] == "PATCH":
        print(e["path"], e["headers"].get("Content-Type"), json.dumps(e["body"], sort_keys=True))
PY
expect_grep "annotate sent a JSON merge patch" "$TMP/patchreq" \
  '^/api/v1/namespaces/default/pods/leaky-1 application/merge-patch\+json \{"metadata": \{"annotations": \{"leakwatch.io/status": "ok"\}\}\}$'
expect_rc "annotate without --overwrite refuses" 1 K annotate pod leaky-1 leakwatch.io/status=leaking
expect_rc "annotate --overwrite" 0 K annotate pod leaky-1 leakwatch.io/status=leaking --overwrite
expect_rc "get annotation back" 0 K get pod leaky-1 -o 'jsonpath={.metadata.annotations.leakwatch\.io/status}'
expect_grep "annotation overwritten" "$TMP/out" '^leaking$'

# an Event through events.k8s.io/v1, shown by describe (core/v1 view)
NOW=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
EV='{"apiVersion":"events.k8s.io/v1","kind":"Event",
 "metadata":{"name":"leaky-1.'$(printf '%x' "$(date +%s%N)")'","namespace":"default"},
 "eventTime":"'$NOW'","type":"Warning","reason":"OOMKillPredicted","action":"Predict",
 "reportingController":"leakwatch.io/controller","reportingInstance":"leakwatch-testhost",
 "regarding":{"apiVersion":"v1","kind":"Pod","namespace":"default","name":"leaky-1","uid":"'$UID_'"},
 "note":"goroutines 1,204 -> 20,311 in 6h (+3,180/h); top: net/http.(*persistConn).readLoop"}'
api POST /apis/events.k8s.io/v1/namespaces/default/events "$EV" >"$TMP/ev.json"
expect_grep "event created" "$TMP/ev.json" '"reportingController":"leakwatch.io/controller"'
# and an invalid one is refused with the API server's message
api POST /apis/events.k8s.io/v1/namespaces/default/events \
  '{"metadata":{"name":"bad.1"},"type":"Info","regarding":{"kind":"Pod","name":"leaky-1","namespace":"default"}}' >"$TMP/bad.json"
expect_grep "invalid event refused" "$TMP/bad.json" '"code":422'
expect_grep "invalid event names the fields" "$TMP/bad.json" 'eventTime: Required value'

expect_rc "kubectl describe pod" 0 K describe pod leaky-1
cp "$TMP/out" "$TMP/describe.txt"
expect_grep "describe shows limits" "$TMP/describe.txt" 'memory: +64Mi'
expect_grep "describe shows OOMKilled last state" "$TMP/describe.txt" 'Reason: +OOMKilled'
expect_grep "describe has an Events table" "$TMP/describe.txt" '^Events:'
expect_grep "describe shows our event" "$TMP/describe.txt" \
  'Warning +OOMKillPredicted +[0-9]+s +leakwatch.io/controller +goroutines 1,204 -> 20,311 in 6h'
ctl GET requests >"$TMP/log.json"
python3 - "$TMP/log.json" >"$TMP/evreqs" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1]))["items"]:
    if e["method"] == "GET" and e["path"] == "/api/v1/namespaces/default/events":
        terms = sorted((e["query"].get("fieldSelector") or "").split(","))  # Go map order
        print("fieldSelector=%s limit=%s" % (",".join(terms), e["query"].get("limit")))
PY
expect_grep "describe listed core/v1 events by involvedObject uid" "$TMP/evreqs" \
  "^fieldSelector=involvedObject.name=leaky-1,involvedObject.namespace=default,involvedObject.uid=$UID_ limit=500\$"

# series update (strategic merge patch) shows as a count in describe
EVNAME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$TMP/ev.json")
api PATCH "/apis/events.k8s.io/v1/namespaces/default/events/$EVNAME" \
  '{"series":{"count":3,"lastObservedTime":"'"$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"'"}}' \
  application/strategic-merge-patch+json >"$TMP/series.json"
expect_grep "series patch accepted" "$TMP/series.json" '"series":\{"count":3'
expect_rc "kubectl describe after series" 0 K describe pod leaky-1
expect_grep "describe shows the series count" "$TMP/out" 'OOMKillPredicted +[0-9]+s \(x3 over [0-9]+s\)'

expect_rc "kubectl get events" 0 K get events
expect_grep "get events header" "$TMP/out" '^LAST SEEN +TYPE +REASON +OBJECT +MESSAGE'
expect_grep "get events lists ours" "$TMP/out" 'Warning +OOMKillPredicted +pod/leaky-1 +goroutines'
expect_rc "kubectl get events.events.k8s.io -o json" 0 K get events.events.k8s.io -o json
expect_grep "events.k8s.io view has note" "$TMP/out" '"note": "goroutines'

# leases and nodes
api POST /apis/coordination.k8s.io/v1/namespaces/default/leases \
  '{"metadata":{"name":"leakwatch"},"spec":{"holderIdentity":"leakwatch-0-abc","leaseDurationSeconds":15,"acquireTime":"'"$NOW"'","renewTime":"'"$NOW"'","leaseTransitions":0}}' >"$TMP/lease.json"
expect_grep "lease created" "$TMP/lease.json" '"holderIdentity":"leakwatch-0-abc"'
expect_rc "kubectl get leases" 0 K get leases
expect_grep "get leases shows the holder" "$TMP/out" '^leakwatch +leakwatch-0-abc +[0-9]+s'
ctl POST objects/nodes '{"metadata":{"name":"node-a"},"status":{"nodeInfo":{"kubeletVersion":"v1.34.0"}}}' >/dev/null
expect_rc "kubectl get nodes" 0 K get nodes
expect_grep "get nodes lists node-a" "$TMP/out" '^node-a +Ready .*v1.34.0'

# get --watch: an initial row, then a new pod appears while watching
kubectl --kubeconfig "$APISERVER_KUBECONFIG" get pods --watch >"$TMP/watch.out" 2>"$TMP/watch.err" &
WPID=$!
T_PIDS+=($WPID)
for _ in $(seq 1 50); do grep -q leaky-1 "$TMP/watch.out" 2>/dev/null && break; sleep 0.1; done
ctl POST pods "$(pod late-1 default "$RUNNING" 0 true)" >/dev/null
for _ in $(seq 1 50); do grep -q late-1 "$TMP/watch.out" 2>/dev/null && break; sleep 0.1; done
kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null
expect_grep "watch printed the initial list" "$TMP/watch.out" '^leaky-1 '
expect_grep "watch printed the pod created later" "$TMP/watch.out" '^late-1 +1/1 +Running'

# token rotation: kubectl re-reads tokenFile; the old token is refused
OLD=$(tr -d '[:space:]' <"$APISERVER_TOKEN_FILE")
apiserver_rotate_token
expect_rc "kubectl works after token rotation" 0 K get pod web-1
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$APISERVER_CA" \
  -H "Authorization: Bearer $OLD" "$BASE/api/v1/pods")
[ "$code" = 401 ] && ok "old token gets 401 after rotation" || bad "old token got $code"

# events.k8s.io absent: discovery hides it, describe still works through core/v1
ctl POST config '{"eventsAPI":false}' >/dev/null
rm -rf "$HOME/.kube/cache"
expect_rc "describe with events.k8s.io absent" 0 K describe pod leaky-1
expect_grep "describe still shows the event" "$TMP/out" 'OOMKillPredicted'
expect_rc "get events.events.k8s.io fails when absent" 1 K get events.events.k8s.io

finish
