#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile pods, end to end through `leakwatch controller` (issue 5 point 5).
# A recording listener on 127.0.0.66 (same port as the pods' server on
# 127.0.0.1) logs every connection and byte it gets; it must get nothing,
# whatever the pods say:
#   - a pod that redirects (302) to 127.0.0.66: not followed;
#   - path annotations: @host/, //host/, absolute URLs, %2f%2f, %40, ..,
#     CR/LF header injection, backslashes, '?', '#', IPv6 brackets, 2 KB;
#   - port annotations: out of range, negative, hex, host:port, CR/LF;
#   - scheme annotations: other schemes, CR/LF; pod IPs that are not a
#     literal (host:port@other, CIDR, zone ids, short forms);
# each refused with a ScrapeFailed Event naming the annotation and status
# scrape-failing. The API token is never sent to a pod: every request header
# the pods' server saw is recorded, and a pod whose port is the API server's
# own makes the scraper knock on the API server without any Authorization
# (its request log shows it). Malformed and oversized profiles are refused
# with bounded, valid Events/annotations. Pods with names carrying quotes,
# newlines, unicode, 300 bytes or "/../" are never acted on by name (no other
# pod gets patched). About 40 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faults_lib.sh"
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.66",0))' 2>/dev/null ||
  { echo "skip: cannot bind 127.0.0.66"; exit 77; }
faults_init
pods_start --trap 127.0.0.66 || { bad "pod server did not start"; finish; exit 1; }
TRAP=127.0.0.66:$PODPORT
TOKEN=$(tr -d '[:space:]' <"$APISERVER_TOKEN_FILE")

# a JSON string from a shell string
js() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
CRLF=$'\r\n'
items=()
n=0
bad_pods=()
hostile() { # KEY VALUE: a pod whose annotation KEY is VALUE
  n=$((n + 1))
  local name=hostile-$n
  bad_pods+=("$name:$1")
  items+=("$(pod "$name" /fix-healthy/$name "$PODPORT" "$(js "$1"):$(js "$2")")")
}
for p in "@$TRAP/debug/pprof" "//$TRAP/debug/pprof" "http://$TRAP/debug/pprof" \
         "/%2f%2f$TRAP/debug/pprof" "/%2F%2F$TRAP" "/x%40$TRAP/" "/a/../../$TRAP" "/./x" \
         "/x${CRLF}Host: $TRAP" "/x%0d%0aHost:%20$TRAP" "\\\\$TRAP\\x" "/x?u=http://$TRAP" \
         "/x#@$TRAP" "/[::ffff:127.0.0.66]/x" "/$(printf 'a%.0s' $(seq 1 2000))" "debug/pprof"; do
  hostile leakwatch.io/path "$p"
done
for p in 70000 -1 0 0x50 "+80" " 80" "$PODPORT@127.0.0.66" "127.0.0.66:$PODPORT" \
         "${PODPORT}${CRLF}X: y" "[::1]:$PODPORT" 99999999999999999999; do
  hostile leakwatch.io/port "$p"
done
for p in "http://$TRAP" gopher file "http${CRLF}Host: $TRAP" ftp; do
  hostile leakwatch.io/scheme "$p"
done
for ip in "127.0.0.1:$PODPORT@127.0.0.66" "127.0.0.66/32" "fe80::1%lo" "127.1" "0x7f000042" \
          "localhost" "127.0.0.1 127.0.0.66" "[127.0.0.66]"; do
  n=$((n + 1)); name=hostile-$n
  items+=("$(pod "$name" /fix-healthy/$name "$PODPORT" "" "$ip")")
done
# legitimate pods: a healthy one (its headers are recorded), one that
# redirects to the trap, a malformed profile, an oversized one, and one whose
# "pprof port" is the API server itself (over https)
items+=("$(pod hdr /fix-healthy/hdr)" "$(pod redir /redirect/redir)" "$(pod malformed /malformed/m)"
        "$(pod oversized /giga/o)" "$(pod evilframes /evilframes/e)"
        "$(pod apiport /api/v1 "$APISERVER_PORT" '"leakwatch.io/scheme":"https"')")
# a victim, opted in, and pods with hostile names (created without validation)
items+=("$(pod victim /fix-healthy/victim)")
for nm in 'x/../victim' 'victim/status' $'q"uo\nte' 'ünïcødé-☃' "$(printf 'n%.0s' $(seq 1 300))" 'a?b#c'; do
  items+=("$(pod "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1])[1:-1])' "$nm")" /fix-healthy/victim "$PODPORT" '"leakwatch.io/status":"ok"')")
done
# not opted in but carrying our annotations: the opt-out clean-up must not
# patch by an unvalidated name either
for nm in 'y/../victim' 'z/../../namespaces/kube-system/pods/victim'; do
  items+=("$(pod "$nm" /fix-healthy/victim "$PODPORT" '"leakwatch.io/scrape":"false","leakwatch.io/status":"ok"')")
done
body=$(IFS=,; echo "[${items[*]}]")
apiserver_ctl POST pods "$body" >"$TMP/created.json"
grep -q '"kind"' "$TMP/created.json" || grep -q 'metadata' "$TMP/created.json" || bad "pods not created: $(head -c 300 "$TMP/created.json")"

ctl_start --max-response-bytes 1Mi --leader-election-identity hostile ||
  { bad "controller not ready: $(tail -5 "$CLOG")"; finish; exit 1; }
ok "controller ready with $((${#items[@]})) pods"
has_gauge() { test -n "$(metric "leakwatch_goroutines\\{namespace=\"default\",pod=\"$1\"")"; }

# wait until every refused pod has its Event, and the legit ones were scraped
all_refused() {
  local e
  e=$(apiserver_api GET /apis/events.k8s.io/v1/namespaces/default/events)
  python3 -c 'import json,sys
d=json.loads(sys.argv[1]); names={e["regarding"]["name"] for e in d["items"] if e["reason"]=="ScrapeFailed"}
need=["hostile-%d"%i for i in range(1,int(sys.argv[2])+1)]+["redir","malformed","oversized","apiport"]
sys.exit(0 if all(n in names for n in need) else 1)' "$e" "$n"
}
wait_until 40 all_refused && ok "every hostile pod got a ScrapeFailed Event" || bad "some hostile pods have no Event"
wait_until 10 grep -q '"/fix-healthy/hdr/goroutine' "$PODLOG" && ok "the healthy pod was scraped" || bad "hdr not scraped"

apiserver_api GET /apis/events.k8s.io/v1/namespaces/default/events >"$TMP/events.json"
for entry in "${bad_pods[@]}"; do
  name=${entry%%:*}; key=${entry#*:}
  python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
notes=[e.get("note","") for e in d["items"] if e["regarding"]["name"]==sys.argv[2] and e["reason"]=="ScrapeFailed"]
sys.exit(0 if any(sys.argv[3] in n for n in notes) else 1)' "$TMP/events.json" "$name" "$key" ||
    bad "$name: no ScrapeFailed naming $key"
done
ok "each annotation attack is refused by name (${#bad_pods[@]} pods; failures above if any)"
for i in $(seq $((${#bad_pods[@]} + 1)) "$n"); do
  st=$(annot "hostile-$i" leakwatch.io/status)
  [ "$st" = scrape-failing ] || bad "hostile-$i (bad pod IP): status '$st'"
done
ok "pod IPs that are not literals are refused ($((n - ${#bad_pods[@]})) pods)"

# the trap saw nothing
if grep -q '"listener": "trap' "$PODLOG"; then
  bad "the recording listener on $TRAP was reached: $(grep '"listener": "trap' "$PODLOG" | head -2 | cut -c1-300)"
else ok "nothing reached $TRAP"; fi
# nothing but the pods' own prefixes was requested at 127.0.0.1
python3 -c 'import json,sys
bad=[e["path"] for e in map(json.loads, open(sys.argv[1])) if e["listener"].startswith("127.0.0.1")
     and not any(e["path"].startswith(p) for p in ("/fix-healthy/hdr/","/fix-healthy/victim/","/redirect/redir/","/malformed/m/","/giga/o/","/evilframes/e/"))]
print("\n".join(bad)); sys.exit(1 if bad else 0)' "$PODLOG" >"$TMP/strays.txt" &&
  ok "every request went to a legitimate pod's own prefix" || bad "stray requests: $(head -3 "$TMP/strays.txt")"

# the redirect was answered with a 302 and not followed
expect_grep "the redirect was served" "$PODLOG" '"/redirect/redir/goroutine.*"status": 302'
events_of redir >"$TMP/ev_redir.txt"
expect_grep "redirect reported as not followed" "$TMP/ev_redir.txt" 'HTTP 302 redirect to .* not followed'

# no credentials to pods
python3 -c 'import json,sys
tok=sys.argv[2]; n=0; bad=[]
for l in open(sys.argv[1]):
    e=json.loads(l); n+=1
    h={k.lower():v for k,v in e.get("headers",{}).items()}
    if "authorization" in h or "cookie" in h or "proxy-authorization" in h: bad.append(e["path"])
    if tok in l: bad.append("token in "+e["path"])
print(n, "requests", bad); sys.exit(1 if bad or n==0 else 0)' "$PODLOG" "$TOKEN" >"$TMP/hdr.txt" &&
  ok "no Authorization/Cookie header and no token in $(cut -d' ' -f1 "$TMP/hdr.txt") pod requests" || bad "credentials sent: $(cat "$TMP/hdr.txt")"
apiserver_ctl GET requests | python3 -c 'import json,sys
s=[e for e in json.load(sys.stdin)["items"] if e["path"].startswith("/api/v1/goroutine") or e["path"].startswith("/api/v1/heap")]
print(len(s), "scrapes at the API server;", "with Authorization:", sum(1 for e in s if e["headers"].get("Authorization")), "statuses", sorted({e["status"] for e in s}))
sys.exit(0 if s and not any(e["headers"].get("Authorization") for e in s) else 1)' >"$TMP/apiport.txt" &&
  ok "a pod pointing at the API server gets no token: $(cat "$TMP/apiport.txt")" || bad "apiport: $(cat "$TMP/apiport.txt")"

# malformed and oversized profiles: refused; Events/annotations bounded and valid
events_of malformed >"$TMP/ev_mal.txt"
expect_grep "malformed profile refused" "$TMP/ev_mal.txt" '^ScrapeFailed Warning .*malformed/m/(goroutine|heap)'
events_of oversized >"$TMP/ev_big.txt"
expect_grep "oversized profile refused" "$TMP/ev_big.txt" 'larger than 1048576 bytes'
python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); worst=0
for e in d["items"]:
    nb=len(e.get("note","").encode("utf-8")); worst=max(worst,nb)
    assert nb<=1024, (e["regarding"]["name"], nb)
    assert "\r" not in e.get("note","") and "\n" not in e.get("note","")
print("largest note", worst, "bytes over", len(d["items"]), "events")' "$TMP/events.json" >"$TMP/notes.txt" 2>&1 &&
  ok "all Event notes <= 1024 bytes, one line: $(cat "$TMP/notes.txt")" || bad "notes: $(tail -2 "$TMP/notes.txt")"
apiserver_api GET /api/v1/namespaces/default/pods | python3 -c 'import json,sys
worst=0
for p in json.load(sys.stdin)["items"]:
    for k,v in p["metadata"].get("annotations",{}).items():
        if k.startswith("leakwatch.io/") and k not in ("leakwatch.io/path","leakwatch.io/port","leakwatch.io/scheme","leakwatch.io/scrape","leakwatch.io/interval"):
            b=len(v.encode("utf-8")); worst=max(worst,b)
            assert b<=1024 and "\r" not in v, (p["metadata"]["name"],k,b)
print("largest written annotation", worst, "bytes")' >"$TMP/ann.txt" 2>&1 &&
  ok "annotations we wrote are bounded: $(cat "$TMP/ann.txt")" || bad "annotations: $(tail -2 "$TMP/ann.txt")"

# a real profile whose function names carry quotes, backslashes, unicode and
# 3 KB: parsed like any other (its gauge is there), /metrics stays well-formed
wait_until 15 has_gauge evilframes && ok "a profile with hostile frame names is parsed" || bad "no gauge for evilframes"
metrics >"$TMP/metrics.txt"
python3 -c 'import re,sys
bad=[l for l in open(sys.argv[1], encoding="utf-8") if l.strip() and not l.startswith("#")
     and not re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\n]|\\.)*\",?)*\})? \S+$", l)]
print(len(bad), "malformed lines", bad[:2]); sys.exit(1 if bad else 0)' "$TMP/metrics.txt" >"$TMP/prom.txt" &&
  ok "/metrics is well-formed Prometheus text: $(cat "$TMP/prom.txt")" || bad "$(cat "$TMP/prom.txt")"

# hostile names: the victim is only ever patched as itself
python3 -c 'import json,sys
log=json.load(sys.stdin)["items"]
w=[e["path"] for e in log if e["method"] in ("PATCH","PUT","DELETE") and "/pods/" in e["path"]]
bad=[p for p in w if not any(p.endswith("/pods/"+n) for n in ["victim","hdr","redir","malformed","oversized","evilframes","apiport"]+["hostile-%d"%i for i in range(1,100)])]
print(len(w), "pod writes; unexpected:", bad); sys.exit(1 if bad else 0)' < <(apiserver_ctl GET requests) >"$TMP/writes.txt" &&
  ok "pods with hostile names are never written to: $(cat "$TMP/writes.txt")" || bad "$(cat "$TMP/writes.txt")"
st=$(annot victim leakwatch.io/status)
case "$st" in ""|ok|no-limit|scrape-failing) ok "victim status '$st' is its own";; *) bad "victim status '$st'";; esac

kill -0 "$CPID" && ok "controller alive after all hostile pods" || bad "controller died"
ctl_stop
[ "$CTL_RC" = 0 ] && ok "SIGTERM: exit 0" || bad "exit $CTL_RC"
faults_dump; faults_keep; finish
