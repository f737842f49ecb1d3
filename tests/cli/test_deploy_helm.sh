#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_deploy_helm.sh: the Helm chart and manifests/ (issue 4, points 3-5).
# No helm binary can be installed, so the chart is rendered with
# tests/helm/render (text/template + sprig + the helm built-ins the chart
# uses) and checked with its --check, --check-values and --validate modes:
#   - every YAML file parses; every values.yaml key has a comment;
#   - the chart rendered in deployment and daemonset mode, with a
#     ServiceMonitor, without leader election, under another release name,
#     passes the policy checks (restricted pods, probes, resources,
#     least-privilege RBAC without wildcards, leases only in a Role, labels,
#     only documented flags) -- and mutated output fails them;
#   - manifests/ is exactly the chart rendered (drift test);
#   - helm's rendering rules: Source headers, partials not rendered, NOTES
#     apart, required/tpl/include/.Capabilities behave.
. "$(dirname "$0")/lib.sh"
SRC=${LW_SOURCE_DIR:-.}
CHART=$SRC/helm/leakwatch
DOCS=$SRC/docs/configuration.md

command -v go >/dev/null 2>&1 || { echo "skip: no go toolchain"; exit 77; }
if ! (cd "$SRC/tests/helm/render" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$TMP/gocache \
      go build -o "$TMP/render" .) >"$TMP/gobuild.log" 2>&1; then
  bad "build tests/helm/render: $(head -c 600 "$TMP/gobuild.log") (scripts/deps.sh installs sprig and yaml)"
  finish; exit
fi
ok "render tool builds (GOPATH mode, Debian sprig + yaml)"
R=$TMP/render

# -- YAML parses
expect_rc "Chart.yaml, values.yaml and manifests/*.yaml parse" 0 \
  "$R" --check "$CHART/Chart.yaml" "$CHART/values.yaml" "$SRC"/manifests/*.yaml
printf 'a: [1, 2\n' >"$TMP/broken.yaml"
expect_rc "--check rejects broken YAML" 1 "$R" --check "$TMP/broken.yaml"

# -- values.yaml comments
expect_rc "every values.yaml key has a comment" 0 "$R" --check-values "$CHART/values.yaml"
# remove the comment lines just above "  scrapeTimeout:" and check it is caught
awk '{ if ($0 ~ /^  scrapeTimeout:/) { n=0 } ; lines[NR]=$0 } END {
        for (i=1;i<=NR;i++) { if (lines[i+1] ~ /^  scrapeTimeout:/ && lines[i] ~ /^ *#/) continue; print lines[i] } }' \
  "$CHART/values.yaml" >"$TMP/values-nocomment.yaml"
expect_rc "an uncommented key is reported" 1 "$R" --check-values "$TMP/values-nocomment.yaml"
expect_grep "  ... naming config.scrapeTimeout" "$TMP/out" 'config\.scrapeTimeout'

# -- render and validate the variants
render_ok() { # NAME OUTFILE ARGS...
  local name=$1 out=$2; shift 2
  if "$R" "$@" "$CHART" >"$out" 2>"$TMP/rerr"; then ok "render $name"; else bad "render $name: $(head -c 400 "$TMP/rerr")"; fi
}
validate_ok() { # NAME NAMESPACE FILE...
  local name=$1 ns=$2; shift 2
  if "$R" --validate --docs "$DOCS" --namespace "$ns" "$@" >"$TMP/vout" 2>&1; then
    ok "validate $name: $(tail -1 "$TMP/vout")"
  else
    bad "validate $name: $(grep FAIL "$TMP/vout" | head -5 | tr '\n' ';')"
  fi
}
render_ok default "$TMP/default.yaml"
render_ok daemonset "$TMP/ds.yaml" --set mode=daemonset
render_ok "with ServiceMonitor" "$TMP/sm.yaml" --set serviceMonitor.enabled=true
render_ok "daemonset with ServiceMonitor" "$TMP/ds-sm.yaml" --set mode=daemonset,serviceMonitor.enabled=true
render_ok "without leader election" "$TMP/noel.yaml" --set leaderElection.enabled=false
render_ok "release shop in namespace observability" "$TMP/other.yaml" --name shop --namespace observability
for f in default ds sm ds-sm noel; do validate_ok "$f" leakwatch "$TMP/$f.yaml"; done
validate_ok "release shop" observability "$TMP/other.yaml"
expect_rc "rendered output parses" 0 "$R" --check "$TMP/default.yaml" "$TMP/ds.yaml" "$TMP/sm.yaml" "$TMP/other.yaml"

kinds() { grep -E '^kind: ' "$1" | awk '{print $2}' | sort | tr '\n' ' '; }
[ "$(kinds "$TMP/default.yaml")" = "ClusterRole ClusterRoleBinding Deployment Role RoleBinding Service ServiceAccount " ] \
  && ok "default kinds: $(kinds "$TMP/default.yaml")" || bad "default kinds: $(kinds "$TMP/default.yaml")"
[ "$(kinds "$TMP/ds.yaml")" = "ClusterRole ClusterRoleBinding DaemonSet Service ServiceAccount " ] \
  && ok "daemonset kinds: $(kinds "$TMP/ds.yaml")" || bad "daemonset kinds: $(kinds "$TMP/ds.yaml")"
grep -q '^kind: ServiceMonitor' "$TMP/sm.yaml" && ok "ServiceMonitor rendered when enabled" || bad "no ServiceMonitor"
grep -q '^kind: ServiceMonitor' "$TMP/default.yaml" && bad "ServiceMonitor rendered by default" || ok "no ServiceMonitor by default"
grep -q 'name: shop-leakwatch$' "$TMP/other.yaml" && ok "fullname for release shop is shop-leakwatch" || bad "fullname for release shop"
expect_grep "daemonset: NODE_NAME from spec.nodeName" "$TMP/ds.yaml" 'fieldPath: spec\.nodeName'
expect_grep "daemonset: --mode=daemonset" "$TMP/ds.yaml" '- --mode=daemonset$'
expect_nogrep "daemonset: no leader election flags" "$TMP/ds.yaml" 'leader-elect'
expect_grep "deployment: leader election defaults (client-go: 15s/10s/2s)" "$TMP/default.yaml" \
  'lease-duration=15s'
expect_grep "deployment: renew deadline 10s" "$TMP/default.yaml" 'renew-deadline=10s'
expect_grep "deployment: retry period 2s" "$TMP/default.yaml" 'retry-period=2s'

# -- the validator catches violations (each mutation must fail)
mutate_fails() { # NAME SED-EXPR [FILE]
  local name=$1 expr=$2 in=${3:-$TMP/default.yaml}
  sed -e "$expr" "$in" >"$TMP/mut.yaml"
  if cmp -s "$in" "$TMP/mut.yaml"; then bad "mutation '$name' changed nothing"; return; fi
  if "$R" --validate --docs "$DOCS" "$TMP/mut.yaml" >"$TMP/vout" 2>&1; then
    bad "validator accepted: $name"
  else ok "validator rejects $name: $(grep -m1 FAIL "$TMP/vout" | cut -c1-110)"; fi
}
mutate_fails "readOnlyRootFilesystem false" 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
mutate_fails "allowPrivilegeEscalation true" 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/'
mutate_fails "runAsNonRoot false" '0,/runAsNonRoot: true/s//runAsNonRoot: false/'
mutate_fails "seccomp Unconfined" 's/type: RuntimeDefault/type: Unconfined/'
mutate_fails "capability not dropped" 's/- ALL/- NET_RAW/'
mutate_fails "no memory limit" '/limits:/,/requests:/{/memory:/d}'
mutate_fails "readiness on /healthz" 's#path: /readyz#path: /healthz#'
mutate_fails "wildcard verb" 's/verbs: \["get", "list", "watch", "patch"\]/verbs: ["*"]/'
mutate_fails "wildcard resource" 's/resources: \["pods"\]/resources: ["*"]/'
mutate_fails "extra verb delete on pods" 's/"watch", "patch"\]/"watch", "patch", "delete"]/'
mutate_fails "secrets granted" 's/resources: \["pods"\]/resources: ["pods", "secrets"]/'
mutate_fails "leases in the ClusterRole" '0,/resources: \["events"\]/s//resources: ["events", "leases"]/'
mutate_fails "Role turned into a ClusterRole" 's/^kind: Role$/kind: ClusterRole/'
mutate_fails "lease name not restricted" '/resourceNames:/d'
mutate_fails "nodes/metrics in deployment mode" 's#resources: \["pods"\]#resources: ["pods", "nodes/metrics"]#'
mutate_fails "missing part-of label" '0,/app.kubernetes.io\/part-of: .*/{//d}'
mutate_fails "undocumented flag" 's/--horizon=7d/--horizon-days=7/'
mutate_fails "binding to another ServiceAccount" '/- kind: ServiceAccount/{n;s/name: leakwatch$/name: default/}'
mutate_fails "Service selecting nothing" '/^kind: Service$/,/ports:/{s/app.kubernetes.io\/instance: leakwatch/app.kubernetes.io\/instance: other/}'
mutate_fails "daemonset without NODE_NAME" 's/name: NODE_NAME/name: NODE/' "$TMP/ds.yaml"
mutate_fails "hostPath volume" 's/emptyDir:/hostPath: {path: \/}\n          emptyDir:/'
printf 'extraArgs:\n  - --no-such-option=1\n' >"$TMP/bad-values.yaml"
"$R" -f "$TMP/bad-values.yaml" "$CHART" >"$TMP/badflag.yaml"
"$R" --validate --docs "$DOCS" "$TMP/badflag.yaml" >"$TMP/vout" 2>&1 \
  && bad "extraArgs with an unknown flag accepted" || expect_grep "extraArgs with an unknown flag rejected" "$TMP/vout" 'no-such-option'

# -- every flag the chart names exists in docs/configuration.md
grep -hoE -- '- --[a-z0-9-]+' "$CHART"/templates/* | sed 's/^- //' | sort -u >"$TMP/tflags"
grep -hoE -- '\(--[a-z0-9-]+\)' "$CHART/values.yaml" | tr -d '()' | sort -u >>"$TMP/tflags"
nflags=0; missing=""
for f in $(sort -u "$TMP/tflags"); do
  nflags=$((nflags+1))
  grep -qF "| \`$f\` |" "$DOCS" || missing="$missing $f"
done
[ "$nflags" -ge 20 ] && [ -z "$missing" ] && ok "all $nflags flags named by templates and values.yaml are in docs/configuration.md" \
  || bad "flags not in docs/configuration.md:${missing:- (only $nflags found)}"

# -- the chart's command line passes leakwatch's real option parser (pkg/ops)
BD=${LW_BUILD_DIR:-build}
libs=""
for m in ops loop quantity base; do libs="$libs $BD/pkg/$m/liblw_$m.a"; done
# same compiler and sanitizers as the build the libraries come from
ccbin=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BD/CMakeCache.txt" 2>/dev/null)
san=$(sed -n 's/^LW_SANITIZE:[A-Z]*=//p' "$BD/CMakeCache.txt" 2>/dev/null)
sanflags=""
[ -n "$san" ] && sanflags="-fsanitize=${san//;/,} -fno-omit-frame-pointer"
if ${ccbin:-cc} -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L $sanflags -I"$SRC/pkg" \
     -o "$TMP/argcheck" "$SRC/tests/helm/argcheck.c" $libs \
     $(pkg-config --libs yaml-0.1 libcjson libcurl 2>/dev/null || echo -lyaml -lcjson -lcurl) -lm \
     >"$TMP/cc.log" 2>&1; then
  # container_args FILE: the args after "controller", unquoted, one per line
  container_args() {
    awk '/^          args:$/ {on=1; next} on && /^          [a-z]/ {on=0} on {sub(/^ *- /, ""); gsub(/^"|"$/, ""); print}' "$1" |
      grep -v '^controller$'
  }
  argcheck() { # NAME WANT-RC FILE ENV...
    local name=$1 want=$2 file=$3; shift 3
    printf '%s\n' "$@" >"$TMP/env"
    mapfile -t a < <(container_args "$file")
    expect_rc "$name (${#a[@]} flags)" "$want" "$TMP/argcheck" "$TMP/env" "${a[@]}"
  }
  argcheck "option parser accepts the deployment's args" 0 "$TMP/default.yaml" POD_NAME=leakwatch-0 POD_NAMESPACE=leakwatch
  expect_grep "  ... mode deployment, no node" "$TMP/out" '^ok mode=deployment node=$'
  argcheck "option parser accepts the daemonset's args + NODE_NAME" 0 "$TMP/ds.yaml" POD_NAME=leakwatch-x POD_NAMESPACE=leakwatch NODE_NAME=node-7
  expect_grep "  ... mode daemonset, node from NODE_NAME" "$TMP/out" '^ok mode=daemonset node=node-7$'
  argcheck "daemonset args without the downward-API NODE_NAME are refused" 1 "$TMP/ds.yaml" POD_NAME=leakwatch-x
  expect_grep "  ... because the node name is missing" "$TMP/out" 'needs the node name'
  argcheck "option parser accepts the no-leader-election args" 0 "$TMP/noel.yaml" POD_NAME=p
  printf 'config:\n  scrapeInterval: 5s\n  scrapeTimeout: 20s\n' >"$TMP/bad-timeout.yaml"
  "$R" -f "$TMP/bad-timeout.yaml" "$CHART" >"$TMP/bad-timeout-r.yaml"
  argcheck "values with scrapeTimeout > scrapeInterval are refused by the parser" 1 "$TMP/bad-timeout-r.yaml" POD_NAME=p
  expect_grep "  ... naming the two options" "$TMP/out" 'scrape-timeout.*scrape-interval'
else
  bad "build tests/helm/argcheck.c against $BD: $(head -c 400 "$TMP/cc.log")"
fi

# -- drift: manifests/ is the chart rendered
if bash "$SRC/scripts/render-manifests.sh" --check >"$TMP/drift" 2>&1; then
  ok "manifests/leakwatch.yaml and leakwatch-daemonset.yaml match the chart"
else bad "manifests/ drifted from the chart: $(head -c 600 "$TMP/drift")"; fi
sed '/^# SPDX\|^# GENERATED\|^# Apply after/d' "$SRC/manifests/leakwatch.yaml" | cmp -s - "$TMP/default.yaml" \
  && ok "manifests/leakwatch.yaml == render(default)" || bad "manifests/leakwatch.yaml != render(default)"
sed '/^# SPDX\|^# GENERATED\|^# Apply after/d' "$SRC/manifests/leakwatch-daemonset.yaml" | cmp -s - "$TMP/ds.yaml" \
  && ok "manifests/leakwatch-daemonset.yaml == render(mode=daemonset)" || bad "manifests/leakwatch-daemonset.yaml != render(daemonset)"
validate_ok "manifests/namespace.yaml + leakwatch.yaml" leakwatch "$SRC/manifests/namespace.yaml" "$SRC/manifests/leakwatch.yaml"
validate_ok "manifests/namespace.yaml + leakwatch-daemonset.yaml" leakwatch "$SRC/manifests/namespace.yaml" "$SRC/manifests/leakwatch-daemonset.yaml"

# -- helm's rendering rules and built-ins
ndocs=$(grep -c '^---$' "$TMP/default.yaml")
nsrc=$(grep -c '^# Source: leakwatch/templates/[a-z]*\.yaml$' "$TMP/default.yaml")
[ "$ndocs" = "$nsrc" ] && [ "$ndocs" = 7 ] && ok "7 documents, each with a helm '# Source:' header" \
  || bad "documents $ndocs, Source headers $nsrc (want 7)"
expect_nogrep "partials (_helpers.tpl) are not rendered" "$TMP/default.yaml" 'Source: .*/_helpers'
expect_nogrep "NOTES.txt is not in the manifests" "$TMP/default.yaml" 'NOTES|kubectl annotate'
expect_nogrep "no '<no value>' leaks" "$TMP/default.yaml" '<no value>'
grep -o '^# Source: .*' "$TMP/default.yaml" >"$TMP/order"
sort -c "$TMP/order" 2>/dev/null && ok "templates rendered in name order" || bad "templates not in name order: $(tr '\n' ' ' <"$TMP/order")"
expect_rc "NOTES render" 0 "$R" --notes "$CHART"
cp "$TMP/out" "$TMP/notes.txt"
expect_grep "NOTES: how to annotate a pod" "$TMP/notes.txt" 'kubectl annotate pod .*leakwatch\.io/scrape=true leakwatch\.io/port=6060'
expect_grep "NOTES: where to read results" "$TMP/notes.txt" 'kubectl describe pod'
expect_grep "NOTES: result annotations" "$TMP/notes.txt" 'leakwatch\.io/status'
expect_nogrep "NOTES: no ServiceMonitor warning by default" "$TMP/notes.txt" 'WARNING'
expect_rc "NOTES with ServiceMonitor on a cluster without the CRDs" 0 "$R" --notes --set serviceMonitor.enabled=true "$CHART"
expect_grep "  ... warns (.Capabilities.APIVersions.Has)" "$TMP/out" 'WARNING: serviceMonitor'
expect_rc "NOTES with ServiceMonitor and monitoring.coreos.com/v1 served" 0 \
  "$R" --notes --set serviceMonitor.enabled=true --api-versions monitoring.coreos.com/v1 "$CHART"
expect_nogrep "  ... no warning" "$TMP/out" 'WARNING'
expect_rc "required: empty image.repository fails" 1 "$R" --set image.repository= "$CHART"
expect_grep "  ... with the chart's message" "$TMP/err" 'image.repository is required'
expect_rc "bad mode fails" 1 "$R" --set mode=statefulset "$CHART"
expect_grep "  ... naming the modes" "$TMP/err" 'mode must be deployment or daemonset'
printf 'extraArgs:\n  - "--leader-election-namespace={{ .Release.Namespace }}"\nextraEnv:\n  - name: LEAKWATCH_LOG_LEVEL\n    value: debug\n' >"$TMP/tpl-values.yaml"
expect_rc "tpl in extraArgs, extraEnv via -f" 0 "$R" -f "$TMP/tpl-values.yaml" --namespace team-a "$CHART"
expect_grep "  ... tpl expanded .Release.Namespace" "$TMP/out" '"--leader-election-namespace=team-a"'
expect_grep "  ... extraEnv rendered" "$TMP/out" 'name: LEAKWATCH_LOG_LEVEL'
cp "$TMP/out" "$TMP/tpl.yaml"
validate_ok "with extraArgs/extraEnv" team-a "$TMP/tpl.yaml"
expect_rc "image digest wins over tag" 0 "$R" --set image.digest=sha256:0123abcd "$CHART"
expect_grep "  ... image@digest" "$TMP/out" 'image: "leakwatch/leakwatch@sha256:0123abcd"'
expect_rc "rbac.create=false and serviceAccount.create=false" 0 "$R" --set rbac.create=false,serviceAccount.create=false "$CHART"
[ "$(kinds "$TMP/out")" = "Deployment Service " ] && ok "  ... renders only the Deployment and Service" || bad "  ... kinds: $(kinds "$TMP/out")"
expect_grep "  ... uses the default ServiceAccount" "$TMP/out" 'serviceAccountName: default'

# -- kubectl parses the manifests (client-side; needs only discovery)
if command -v kubectl >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
  python3 "$SRC/tests/helm/discovery.py" --port-file "$TMP/dport" >"$TMP/disc.log" 2>&1 &
  T_PIDS+=($!)
  for _ in $(seq 1 50); do [ -s "$TMP/dport" ] && break; sleep 0.1; done
  if [ -s "$TMP/dport" ]; then
    for m in leakwatch.yaml leakwatch-daemonset.yaml; do
      expect_rc "kubectl apply --dry-run=client manifests/namespace.yaml + $m" 0 \
        kubectl --server "http://127.0.0.1:$(cat "$TMP/dport")" apply --dry-run=client --validate=false \
          -f "$SRC/manifests/namespace.yaml" -f "$SRC/manifests/$m" -o name
      want=$(grep -c '^kind: ' "$SRC/manifests/$m")
      got=$(grep -c . "$TMP/out")
      [ "$got" = $((want+1)) ] && ok "  ... kubectl accepted all $got objects" || bad "  ... kubectl listed $got objects, want $((want+1)): $(cat "$TMP/out")"
    done
    "$R" --set serviceMonitor.enabled=true "$CHART" >"$TMP/sm2.yaml"
    expect_rc "kubectl parses the ServiceMonitor variant" 0 \
      kubectl --server "http://127.0.0.1:$(cat "$TMP/dport")" apply --dry-run=client --validate=false -f "$TMP/sm2.yaml" -o name
  else
    bad "discovery stub did not start: $(head -c 300 "$TMP/disc.log")"
  fi
else
  echo "note: kubectl or python3 missing, kubectl dry-run skipped"
fi

finish
