#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `leakwatch controller --mode daemonset --node node-a` end to end (issue 4,
# point 2): the test API server holds opted-in pods on two nodes, each pod a
# real Go program (tests/go/leakzoo -scenario healthy) on its own loopback IP
# (127.0.1.x on node-a, 127.0.2.x on node-b), and each node has a fake
# kubelet (tests/kubelet/fakekubelet.py: HTTPS with a certificate from the
# test CA, bearer token required, /metrics/resource in the kubelet's format)
# on the node's own address (Node status.addresses InternalIP, and the pods'
# hostIP: node-a 127.0.0.2, node-b 127.0.0.3, the same port).
# The controller must:
#  - list and watch pods with the field selector spec.nodeName=node-a only,
#    and so watch, scrape and annotate node-a's pods and never node-b's;
#  - read the working set from node-a's kubelet (the Node's InternalIP and
#    the --kubelet-port), with the API token, and report it per pod
#    (leakwatch_memory_bytes{source="working_set"} = the kubelet's value,
#    following a change, named in the summary annotation), fall back to the
#    Go runtime's numbers for a pod the kubelet has no sample for, never ask
#    node-b's kubelet, and not list metrics.k8s.io cluster-wide while the
#    kubelet answers (only while it fails);
#  - refuse the kubelet's certificate when not told to trust it (TLS is
#    verified unless --kubelet-insecure-skip-tls-verify);
#  - run no leader election (no Lease) and exit 0 on SIGTERM.
# Skips (77) without go, python3, curl or openssl.
. "$(dirname "$0")/lib.sh"
for t in go python3 curl openssl; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
done
SRC=${LW_SOURCE_DIR:-.}
export HOME=$TMP/home
mkdir -p "$HOME"
. "$SRC/tests/apiserver/apiserver.sh"
"$LEAKWATCH" controller --help 2>&1 | grep -q -- '--kubelet-port' ||
  { echo "skip: this leakwatch has no --kubelet-port"; exit 77; }

ZOO=$(build_leakzoo) || { echo "skip: leakzoo does not build"; exit 77; }
apiserver_start || { bad "API server did not start"; finish; exit 1; }

# start_zoo NAME IP: a healthy leakzoo with its pprof server on IP; sets ZPORT
start_zoo() {
  rm -f "$TMP/$1.addr"
  "$ZOO" -scenario healthy -pprof "$2:0" -addr-file "$TMP/$1.addr" >"$TMP/$1.log" 2>&1 &
  T_PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$TMP/$1.addr" ] && break; sleep 0.1; done
  [ -s "$TMP/$1.addr" ] || return 1
  ZPORT=$(sed 's/.*://' "$TMP/$1.addr")
}
declare -A PORT
for spec in a1:127.0.1.1 a2:127.0.1.2 b1:127.0.2.1; do
  n=${spec%%:*} ip=${spec#*:}
  start_zoo "$n" "$ip" || { bad "leakzoo for $n on $ip did not start: $(cat "$TMP/$n.log")"; finish; exit 1; }
  PORT[$n]=$ZPORT
done
echo "pods: a1 127.0.1.1:${PORT[a1]} a2 127.0.1.2:${PORT[a2]} (node-a), b1 127.0.2.1:${PORT[b1]} (node-b)"

pod() { # name node hostIP podIP port [scrape]
  printf '{"metadata":{"name":"%s","namespace":"default",
     "annotations":{"leakwatch.io/scrape":"%s","leakwatch.io/interval":"5s"}},
   "spec":{"nodeName":"%s","containers":[{"name":"app","image":"leakzoo",
     "ports":[{"name":"pprof","containerPort":%s,"protocol":"TCP"}],
     "resources":{"limits":{"memory":"256Mi"}}}]},
   "status":{"phase":"Running","podIP":"%s","hostIP":"%s",
     "containerStatuses":[{"name":"app","ready":true,"restartCount":0,
       "containerID":"containerd://c0-%s","state":{"running":{"startedAt":"2026-11-26T20:00:00Z"}}}]}}' \
    "$1" "${6:-true}" "$2" "$5" "$4" "$3" "$1"
}
# the Nodes, with their InternalIP (where the kubelet listens); the pods' hostIP agrees
node() { # name ip
  printf '{"metadata":{"name":"%s","labels":{"kubernetes.io/hostname":"%s"}},
    "status":{"addresses":[{"type":"InternalIP","address":"%s"},{"type":"Hostname","address":"%s"}]}}' \
    "$1" "$1" "$2" "$1"
}
apiserver_ctl POST objects/nodes "[$(node node-a 127.0.0.2),$(node node-b 127.0.0.3)]" >/dev/null
apiserver_ctl POST pods "[$(pod a1 node-a 127.0.0.2 127.0.1.1 "${PORT[a1]}"),
  $(pod a2 node-a 127.0.0.2 127.0.1.2 "${PORT[a2]}"),
  $(pod a3 node-a 127.0.0.2 127.0.1.3 1 false),
  $(pod b1 node-b 127.0.0.3 127.0.2.1 "${PORT[b1]}")]" >/dev/null

# ---- the fake kubelets: node-a on 127.0.0.2, node-b on 127.0.0.3, one port
KDIR=$TMP/kubelet
mkdir -p "$KDIR"
A1_WS=45088768   # 43 MiB
write_pods() { # FILE JSON (atomically: the kubelet re-reads it per request)
  printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"
}
write_pods "$KDIR/node-a.json" '[{"namespace":"default","pod":"a1","container":"app","bytes":'$A1_WS'},
  {"namespace":"kube-system","pod":"kube-proxy-node-a","container":"kube-proxy","bytes":21000000}]'
write_pods "$KDIR/node-b.json" '[{"namespace":"default","pod":"b1","container":"app","bytes":99999744}]'
start_kubelet() { # NODE IP [PORT]
  rm -f "$KDIR/$1.port"
  python3 "$SRC/tests/kubelet/fakekubelet.py" --bind "$2" --port "${3:-0}" --port-file "$KDIR/$1.port" \
    --tls-dir "$APISERVER_DIR/tls" --pods "$KDIR/$1.json" --token-file "$APISERVER_TOKEN_FILE" \
    --log "$KDIR/$1.log.jsonl" >"$KDIR/$1.out" 2>&1 &
  T_PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$KDIR/$1.port" ] && break; sleep 0.1; done
  [ -s "$KDIR/$1.port" ]
}
start_kubelet node-a 127.0.0.2 || { bad "fake kubelet node-a: $(cat "$KDIR/node-a.out")"; finish; exit 1; }
KPORT=$(cat "$KDIR/node-a.port")
start_kubelet node-b 127.0.0.3 "$KPORT" || { bad "fake kubelet node-b: $(cat "$KDIR/node-b.out")"; finish; exit 1; }
touch "$KDIR/node-a.log.jsonl" "$KDIR/node-b.log.jsonl"
# the fake kubelet itself: real format, token required
curl -s --cacert "$APISERVER_CA" -H "Authorization: Bearer $(tr -d '[:space:]' <"$APISERVER_TOKEN_FILE")" \
  "https://127.0.0.2:$KPORT/metrics/resource" >"$TMP/kubelet.txt"
expect_grep "fake kubelet serves the working set in Prometheus text" "$TMP/kubelet.txt" \
  '^container_memory_working_set_bytes\{container="app",namespace="default",pod="a1"\} 4\.5088768e\+07 [0-9]{13}$'
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$APISERVER_CA" "https://127.0.0.2:$KPORT/metrics/resource")" = 401 ] &&
  ok "fake kubelet refuses a request without the token" || bad "fake kubelet answers without a token"
: >"$KDIR/node-a.log.jsonl"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { # FILE regex -> value of the first matching sample
  grep -E "$2" "$1" | head -1 | awk '{print $NF}'
}
annot() { # pod key
  apiserver_api GET "/api/v1/namespaces/default/pods/$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"].get("annotations",{}).get(sys.argv[1],""))' "$2"
}
run_ctl() { # NAME extra-args... ; sets CPID MPORT LOG
  MPORT=$(freeport)
  LOG=$TMP/$1.log; shift
  "$LEAKWATCH" controller --kubeconfig "$APISERVER_KUBECONFIG" --mode daemonset --node node-a \
    --kubelet-port "$KPORT" --scrape-interval 5s --scrape-timeout 3s \
    --metrics-bind-address "127.0.0.1:$MPORT" --log-level debug --shutdown-timeout 5s "$@" >"$LOG" 2>&1 &
  CPID=$!
  T_PIDS+=("$CPID")
  local ready=0
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/readyz")" = 200 ] && { ready=1; break; }
    kill -0 "$CPID" 2>/dev/null || break
    sleep 0.2
  done
  [ $ready = 1 ]
}
stop_ctl() { # NAME
  kill -TERM "$CPID"
  for _ in $(seq 1 100); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
  wait "$CPID"; local rc=$?
  [ "$rc" = 0 ] && ok "$1: SIGTERM: exit 0" || bad "$1: SIGTERM: exit $rc; log: $(tail -5 "$LOG")"
}

# ---- 1. the kubelet's certificate is not trusted by default: no working set
run_ctl verify || bad "verify: controller not ready: $(tail -5 "$LOG")"
for _ in $(seq 1 40); do
  grep -q 'kubelet metrics fetch failed' "$LOG" && break; sleep 0.5
done
expect_grep "TLS verified by default: the untrusted kubelet certificate fails the fetch" "$LOG" \
  'kubelet metrics fetch failed.*(SSL|certificate|TLS|issuer)'
# a scrape of a1 with a heap profile has happened by now or soon
for _ in $(seq 1 40); do
  curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/mv.txt"
  grep -q 'leakwatch_memory_bytes{namespace="default",pod="a1",container="app",source="go_sys"}' "$TMP/mv.txt" && break
  sleep 0.5
done
expect_grep "verify: a1 falls back to the Go runtime's memory" "$TMP/mv.txt" \
  'leakwatch_memory_bytes\{namespace="default",pod="a1",container="app",source="go_sys"\} [0-9]'
expect_nogrep "verify: no working set without a trusted kubelet" "$TMP/mv.txt" 'source="working_set"'
n=$(grep -c '"status": 200' "$KDIR/node-a.log.jsonl")
[ "$n" = 0 ] && ok "verify: no request got through to the kubelet" || bad "verify: $n kubelet requests answered"
# while the kubelet fails, metrics.k8s.io is asked instead (not served here: 404)
mapi_reqs() {
  apiserver_ctl GET requests | python3 -c 'import json,sys
log = json.load(sys.stdin)
items = log.get("items", log) if isinstance(log, dict) else log
print(sum(1 for e in items if e.get("path", "").startswith("/apis/metrics.k8s.io")))'
}
n=0
for _ in $(seq 1 30); do n=$(mapi_reqs); [ "$n" -gt 0 ] && break; sleep 0.5; done
[ "$n" -gt 0 ] && ok "verify: with the kubelet failing, metrics.k8s.io is tried ($n requests)" ||
  bad "verify: no metrics.k8s.io request while the kubelet fails"
stop_ctl verify
apiserver_ctl DELETE requests >/dev/null
: >"$KDIR/node-a.log.jsonl"; : >"$KDIR/node-b.log.jsonl"

# ---- 2. the kubelet trusted (as metrics-server's --kubelet-insecure-tls)
run_ctl ds --kubelet-insecure-skip-tls-verify || bad "ds: controller not ready: $(tail -5 "$LOG")"
ok "ds: ready after the first sync"
for _ in $(seq 1 60); do
  curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/m1.txt"
  grep -q 'pod="a1",container="app",source="working_set"' "$TMP/m1.txt" &&
    grep -q 'leakwatch_goroutines{namespace="default",pod="a2"' "$TMP/m1.txt" &&
    grep -q 'pod="a2",container="app",source="go_sys"' "$TMP/m1.txt" && break
  sleep 0.5
done
grep -E '^leakwatch_(pods_|leader )|pod="a1"|source=' "$TMP/m1.txt" | head -20
expect_grep "ds: pods watched: node-a's three (a1, a2, a3), not node-b's" "$TMP/m1.txt" '^leakwatch_pods_watched 3$'
expect_grep "ds: pods scraped: a1 and a2" "$TMP/m1.txt" '^leakwatch_pods_scraped 2$'
expect_grep "ds: a1 scraped" "$TMP/m1.txt" 'leakwatch_goroutines\{namespace="default",pod="a1",container="app"\} [0-9]+'
expect_grep "ds: a2 scraped" "$TMP/m1.txt" 'leakwatch_goroutines\{namespace="default",pod="a2",container="app"\} [0-9]+'
expect_nogrep "ds: node-b's pod b1 has no series" "$TMP/m1.txt" 'pod="b1"'
expect_grep "ds: no election, always active (leakwatch_leader 1)" "$TMP/m1.txt" '^leakwatch_leader 1$'
ws=$(metric "$TMP/m1.txt" 'leakwatch_memory_bytes\{namespace="default",pod="a1",container="app",source="working_set"\}')
[ "$ws" = "$A1_WS" ] && ok "ds: a1's working set is node-a's kubelet value ($ws)" || bad "ds: a1 working set '$ws', want $A1_WS"
expect_nogrep "ds: a2 (no kubelet sample) has no working set" "$TMP/m1.txt" 'pod="a2",container="app",source="working_set"'
expect_grep "ds: a2 uses the Go runtime's memory instead" "$TMP/m1.txt" 'leakwatch_memory_bytes\{namespace="default",pod="a2",container="app",source="go_sys"\} [0-9]'

# the working set follows the kubelet
A1_WS2=73400320  # 70 MiB
write_pods "$KDIR/node-a.json" '[{"namespace":"default","pod":"a1","container":"app","bytes":'$A1_WS2'}]'
ws=""
for _ in $(seq 1 60); do
  curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/m2.txt"
  ws=$(metric "$TMP/m2.txt" 'leakwatch_memory_bytes\{namespace="default",pod="a1",container="app",source="working_set"\}')
  [ "$ws" = "$A1_WS2" ] && break
  sleep 0.5
done
[ "$ws" = "$A1_WS2" ] && ok "ds: a1's working set follows the kubelet ($A1_WS -> $ws)" || bad "ds: a1 working set '$ws', want $A1_WS2"

# the kubelet requests: node-a's, with the API token; none to node-b's
python3 - "$KDIR/node-a.log.jsonl" "$KDIR/node-b.log.jsonl" >"$TMP/klog.txt" <<'EOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
b = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
print("node-a requests", len(a))
print("node-a paths", sorted({e["path"] for e in a}))
print("node-a token_ok", sorted({str(e["token_ok"]) for e in a}))
print("node-a status", sorted({e["status"] for e in a}))
print("node-b requests", len(b))
EOF
cat "$TMP/klog.txt"
expect_grep "ds: node-a's kubelet was asked" "$TMP/klog.txt" '^node-a requests [1-9]'
expect_grep "ds: only /metrics/resource" "$TMP/klog.txt" "^node-a paths \['/metrics/resource'\]$"
expect_grep "ds: with the API token" "$TMP/klog.txt" "^node-a token_ok \['True'\]$"
expect_grep "ds: answered 200" "$TMP/klog.txt" '^node-a status \[200\]$'
expect_grep "ds: node-b's kubelet never asked" "$TMP/klog.txt" '^node-b requests 0$'

# the API requests: pods listed and watched with the node's field selector only
# (metrics.k8s.io is a separate question: it is not served here)
apiserver_ctl GET requests >"$TMP/requests.json"
python3 - "$TMP/requests.json" >"$TMP/podreqs.txt" <<'EOF'
import json, sys
log = json.load(open(sys.argv[1]))
items = log.get("items", log) if isinstance(log, dict) else log
for e in items:
    p = e.get("path", "")
    if p.startswith("/api/v1/") and p.endswith("/pods") and e.get("method") == "GET":
        q = e.get("query", {})
        fs = q.get("fieldSelector", "")
        if isinstance(fs, list): fs = ",".join(fs)
        w = q.get("watch", "")
        if isinstance(w, list): w = ",".join(w)
        print("watch" if w in ("1", "true") else "list", p, "fieldSelector=" + fs)
EOF
sort -u "$TMP/podreqs.txt"
expect_grep "ds: pods listed with spec.nodeName=node-a" "$TMP/podreqs.txt" '^list /api/v1/pods fieldSelector=spec\.nodeName=node-a$'
expect_grep "ds: pods watched with spec.nodeName=node-a" "$TMP/podreqs.txt" '^watch /api/v1/pods fieldSelector=spec\.nodeName=node-a$'
expect_nogrep "ds: no pod request without that selector" "$TMP/podreqs.txt" 'fieldSelector=$|fieldSelector=spec\.nodeName=node-b'
python3 - "$TMP/requests.json" >"$TMP/nodereqs.txt" <<'EOF'
import json, sys
log = json.load(open(sys.argv[1]))
items = log.get("items", log) if isinstance(log, dict) else log
for e in items:
    if e.get("path", "").startswith("/api/v1/nodes"):
        print(e.get("method"), e.get("path"), e.get("status"))
EOF
python3 - "$TMP/requests.json" >"$TMP/mapireqs.txt" <<'EOF'
import json, sys
log = json.load(open(sys.argv[1]))
items = log.get("items", log) if isinstance(log, dict) else log
print("metrics.k8s.io requests", sum(1 for e in items if e.get("path", "").startswith("/apis/metrics.k8s.io")))
EOF
cat "$TMP/mapireqs.txt"
expect_grep "ds: no cluster-wide metrics.k8s.io list while the kubelet answers" "$TMP/mapireqs.txt" '^metrics.k8s.io requests 0$'
expect_grep "ds: the kubelet's address comes from its Node (GET /api/v1/nodes/node-a)" "$TMP/nodereqs.txt" '^GET /api/v1/nodes/node-a 200$'
expect_nogrep "ds: no other Node read" "$TMP/nodereqs.txt" 'node-b|/api/v1/nodes [0-9]'


# annotations: node-a's opted-in pods, not node-b's
for _ in $(seq 1 40); do [ -n "$(annot a1 leakwatch.io/status)" ] && [ -n "$(annot a2 leakwatch.io/status)" ] && break; sleep 0.5; done
st=$(annot a1 leakwatch.io/status); [ "$st" = ok ] && ok "ds: a1 annotated ok" || bad "ds: a1 status '$st'"
st=$(annot a2 leakwatch.io/status); [ "$st" = ok ] && ok "ds: a2 annotated ok" || bad "ds: a2 status '$st'"
# the summary says which memory signal it used
for _ in $(seq 1 40); do
  annot a1 leakwatch.io/summary | grep -q 'working set from the kubelet' &&
    annot a2 leakwatch.io/summary | grep -q 'Go runtime' && break
  sleep 0.5
done
annot a1 leakwatch.io/summary >"$TMP/a1.summary"; annot a2 leakwatch.io/summary >"$TMP/a2.summary"
echo "a1 summary: $(cat "$TMP/a1.summary")"; echo "a2 summary: $(cat "$TMP/a2.summary")"
expect_grep "ds: a1's summary names the kubelet's working set" "$TMP/a1.summary" 'memory [0-9.]+ MiB \(working set from the kubelet\)'
expect_grep "ds: a2's summary names the Go runtime" "$TMP/a2.summary" 'memory [0-9.]+ MiB \(Go runtime\)'
st=$(annot b1 leakwatch.io/status); [ -z "$st" ] && ok "ds: node-b's b1 not annotated" || bad "ds: b1 status '$st'"
st=$(annot a3 leakwatch.io/status); [ -z "$st" ] && ok "ds: a3 (not opted in) not annotated" || bad "ds: a3 status '$st'"

# a pod that moves onto node-a shows up; one that leaves disappears
apiserver_ctl PATCH pods/default/b1 '{"spec":{"nodeName":"node-a"}}' >/dev/null
for _ in $(seq 1 60); do
  curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/m3.txt"
  grep -q 'leakwatch_goroutines{namespace="default",pod="b1"' "$TMP/m3.txt" && break
  sleep 0.5
done
expect_grep "ds: a pod bound to node-a later is scraped" "$TMP/m3.txt" 'leakwatch_goroutines\{namespace="default",pod="b1"'
expect_grep "ds: pods watched 4" "$TMP/m3.txt" '^leakwatch_pods_watched 4$'
apiserver_ctl PATCH pods/default/a2 '{"spec":{"nodeName":"node-b"}}' >/dev/null
for _ in $(seq 1 60); do
  curl -s "http://127.0.0.1:$MPORT/metrics" >"$TMP/m4.txt"
  grep -q 'pod="a2"' "$TMP/m4.txt" || break
  sleep 0.5
done
expect_nogrep "ds: a pod that left node-a is dropped" "$TMP/m4.txt" 'pod="a2"'
expect_grep "ds: pods watched 3 again" "$TMP/m4.txt" '^leakwatch_pods_watched 3$'

# no leader election in DaemonSet mode
apiserver_api GET /apis/coordination.k8s.io/v1/namespaces/default/leases >"$TMP/leases.json"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("items",[])))' "$TMP/leases.json")
[ "$n" = 0 ] && ok "ds: no Lease written" || bad "ds: $n leases"
stop_ctl ds
expect_nogrep "ds: no error records in the log" "$LOG" 'level=error'
finish
