#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pkg/recorder seen through the real kubectl: the recorder (driven by the
# `emit` mode of the test_recorder_e2e binary, over TLS with a bearer token)
# writes an OOMKillPredicted Warning through events.k8s.io/v1 and a repeat
# (a series update); `kubectl describe pod` must show it in the Events
# section with our controller and the series count. Then again with
# events.k8s.io switched off (the core/v1 fallback). Skips (77) without
# kubectl, python3, curl, openssl or the test binary.
. "$(dirname "$0")/lib.sh"
for t in kubectl python3 curl openssl; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
done
SRC=${LW_SOURCE_DIR:-.}
EMIT=${LW_BUILD_DIR:-build}/tests/test_recorder_e2e
[ -x "$EMIT" ] || { echo "skip: no $EMIT"; exit 77; }
export HOME=$TMP/home
mkdir -p "$HOME"
. "$SRC/tests/apiserver/apiserver.sh"
apiserver_start || { bad "server did not start"; finish; exit 1; }
K() { kubectl --kubeconfig "$APISERVER_KUBECONFIG" --request-timeout=20s "$@"; }

pod() { # name
  printf '{"metadata":{"name":"%s","namespace":"default"},
   "spec":{"nodeName":"node-a","containers":[{"name":"app","image":"leakzoo",
     "resources":{"limits":{"memory":"64Mi"}}}]},
   "status":{"phase":"Running","podIP":"127.0.0.9"}}' "$1"
}
apiserver_ctl POST pods "[$(pod leaky-1),$(pod leaky-2)]" >/dev/null
uid_of() { K get pod "$1" -o 'jsonpath={.metadata.uid}'; }

UID1=$(uid_of leaky-1)
expect_rc "recorder emits through events.k8s.io/v1" 0 \
  "$EMIT" emit "$APISERVER_URL" "$APISERVER_CA" "$APISERVER_TOKEN_FILE" default leaky-1 "$UID1"
expect_grep "one create, one series patch, v1 API" "$TMP/out" '^created=1 series=1 failed=0 core=0$'
expect_rc "kubectl describe pod" 0 K describe pod leaky-1
cp "$TMP/out" "$TMP/describe1.txt"
expect_grep "describe has an Events section" "$TMP/describe1.txt" '^Events:'
expect_grep "describe shows our Warning OOMKillPredicted with the series count" "$TMP/describe1.txt" \
  'Warning +OOMKillPredicted +[0-9]+s \(x2 over [0-9]+s\) +leakwatch.io/controller +OOM kill predicted in ~2h10m'
expect_grep "the note names the top stack" "$TMP/describe1.txt" 'net/http.\(\*persistConn\).readLoop'
expect_rc "kubectl get events.events.k8s.io" 0 K get events.events.k8s.io -o json
python3 - "$TMP/out" >"$TMP/ev.txt" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1]))["items"]:
    print(e["reason"], e["type"], e["action"], e["reportingController"], e["reportingInstance"],
          e["regarding"]["kind"], e["regarding"]["uid"], e.get("series", {}).get("count"),
          e["metadata"]["name"], e["eventTime"])
PY
expect_grep "events.k8s.io view: reason, type, action, controller, uid, series, name, MicroTime" "$TMP/ev.txt" \
  "^OOMKillPredicted Warning Predict leakwatch.io/controller leakwatch-[^ ]+ Pod $UID1 2 leaky-1\.[0-9a-f]+ [0-9T:-]+\.[0-9]{6}Z$"

# events.k8s.io switched off: the recorder falls back to core/v1
apiserver_ctl POST config '{"eventsAPI":false}' >/dev/null
UID2=$(uid_of leaky-2)
expect_rc "recorder falls back to core/v1" 0 \
  "$EMIT" emit "$APISERVER_URL" "$APISERVER_CA" "$APISERVER_TOKEN_FILE" default leaky-2 "$UID2"
expect_grep "created through core/v1" "$TMP/out" '^created=1 series=1 failed=0 core=1$'
expect_rc "kubectl describe pod (core/v1 event)" 0 K describe pod leaky-2
expect_grep "describe shows the core/v1 event with its count" "$TMP/out" \
  'Warning +OOMKillPredicted +[0-9]+s \(x2 over [0-9]+s\) +leakwatch.io/controller +OOM kill predicted'
expect_nogrep "leaky-1's event is not on leaky-2" "$TMP/out" 'leaky-1'
finish
