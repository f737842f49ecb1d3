#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_kubeconfig_e2e.sh: pkg/kubeconfig against the test API server over
# real TLS. The client is `test_kubeconfig --e2e` (libcurl easy + the
# endpoint; on a 401 it calls unauthorized() and retries once, as the API
# client does) doing GET /api/v1/namespaces/default/pods:
#  - the server's kubeconfig (CA inline, tokenFile), then token rotation
#    recovered through unauthorized();
#  - CA from a file (relative path), a wrong CA (fails, verification on),
#    client-certificate auth (and 401 without it), insecure-skip-tls-verify;
#  - tls-server-name against a server whose certificate names only
#    kube.lw.test (fails without it, works with it);
#  - in-cluster from a kubelet-style service-account dir, rotated atomically;
#  - an exec plugin handing out the current token, re-run after rotation.
. tests/cli/lib.sh
. tests/apiserver/apiserver.sh

for t in python3 openssl curl; do
  command -v $t >/dev/null 2>&1 || { echo "skip: $t missing"; exit 77; }
done
KC=${LW_BUILD_DIR:-build}/tests/test_kubeconfig
[ -x "$KC" ] || { echo "skip: $KC not built"; exit 77; }
P=/api/v1/namespaces/default/pods

apiserver_start || { bad "test API server did not start"; finish; exit 1; }
apiserver_ctl POST pods '{"metadata":{"name":"p1","namespace":"default"}}' >/dev/null

# 1. the kubeconfig the server wrote: certificate-authority-data + tokenFile
expect_rc "inline CA + tokenFile" 0 "$KC" --e2e --kubeconfig "$APISERVER_KUBECONFIG" $P
expect_grep "  listed the seeded pod" "$TMP/out" '^get1: 200 PodList items=1$'
expect_grep "  auth from the token file" "$TMP/out" 'auth=token-file'

# 2. rotation: the old token gets 401, unauthorized() re-reads the file
expect_rc "token rotation" 0 "$KC" --e2e --kubeconfig "$APISERVER_KUBECONFIG" \
  --between "printf 'tok-rot-%s\n' \$\$ > '$APISERVER_TOKEN_FILE'" $P
expect_grep "  401 after rotation" "$TMP/out" '^get2: 401 -> unauthorized\(\)$'
expect_grep "  retry with the new token" "$TMP/out" '^retry: 200 PodList'

# 3. CA from a file, relative to the kubeconfig's directory
mkdir -p "$TMP/kc/pki"
cp "$APISERVER_CA" "$TMP/kc/pki/ca.crt"
cat >"$TMP/kc/config" <<EOF
apiVersion: v1
kind: Config
current-context: file-ca
contexts:
- name: file-ca
  context: {cluster: t, user: tok}
- name: wrong-ca
  context: {cluster: t-wrong, user: tok}
- name: cert
  context: {cluster: t, user: cert}
- name: nouser
  context: {cluster: t}
- name: insecure
  context: {cluster: t-insecure, user: tok}
clusters:
- name: t
  cluster:
    server: $APISERVER_URL
    certificate-authority: pki/ca.crt
- name: t-wrong
  cluster:
    server: $APISERVER_URL
    certificate-authority: pki/other-ca.crt
- name: t-insecure
  cluster:
    server: $APISERVER_URL
    insecure-skip-tls-verify: true
users:
- name: tok
  user:
    tokenFile: $APISERVER_TOKEN_FILE
- name: cert
  user:
    client-certificate: $APISERVER_DIR/tls/client.crt
    client-key: $APISERVER_DIR/tls/client.key
EOF
(cd "$TMP/kc/pki" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
   -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=not-the-ca) >/dev/null 2>&1
expect_rc "CA from a relative file" 0 "$KC" --e2e --kubeconfig "$TMP/kc/config" $P
expect_grep "  listed" "$TMP/out" '^get1: 200 PodList items=1$'

# 4. a CA that did not sign the server's certificate: refused, no fallback
expect_rc "wrong CA fails" 1 "$KC" --e2e --kubeconfig "$TMP/kc/config" --context wrong-ca $P
expect_grep "  certificate verification error" "$TMP/out" 'curl error 60: .*(certificate|SSL)'
expect_nogrep "  no response" "$TMP/out" '^get1: 200'

# 5. client certificate auth; without any credential the server says 401
expect_rc "client certificate auth" 0 "$KC" --e2e --kubeconfig "$TMP/kc/config" --context cert $P
expect_grep "  auth=client-cert" "$TMP/out" 'auth=client-cert '
expect_grep "  listed" "$TMP/out" '^get1: 200 PodList'
expect_rc "no credentials: 401" 1 "$KC" --e2e --kubeconfig "$TMP/kc/config" --context nouser $P
expect_grep "  401 twice" "$TMP/out" '^retry: 401'

# 6. insecure-skip-tls-verify (explicit): works without a CA
expect_rc "insecure-skip-tls-verify" 0 "$KC" --e2e --kubeconfig "$TMP/kc/config" --context insecure $P

# 7. bad CA content is a load-time error naming the field and file
printf 'not a certificate\n' >"$TMP/kc/pki/bad.crt"
sed 's#pki/ca.crt#pki/bad.crt#' "$TMP/kc/config" >"$TMP/kc/config-bad"
expect_rc "bad CA file refused at load" 3 "$KC" --e2e --kubeconfig "$TMP/kc/config-bad" $P
expect_grep "  names file, cluster and field" "$TMP/out" \
  'load error: kubeconfig .*config-bad: context "file-ca": cluster "t": certificate-authority: .*bad.crt: no PEM certificate'

# 8. exec plugin: prints the current token; after rotation the 401 re-runs it
cat >"$TMP/kc/plugin.sh" <<EOF
#!/bin/sh
echo run >> "$TMP/kc/plugin.runs"
case "\$KUBERNETES_EXEC_INFO" in *'"server":"$APISERVER_URL"'*) ;; *) echo "no cluster info" >&2; exit 1;; esac
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}' "\$(tr -d '[:space:]' < "$APISERVER_TOKEN_FILE")"
EOF
chmod +x "$TMP/kc/plugin.sh"
cat >"$TMP/kc/exec-config" <<EOF
current-context: x
contexts:
- name: x
  context: {cluster: t, user: x}
clusters:
- name: t
  cluster:
    server: $APISERVER_URL
    certificate-authority: pki/ca.crt
users:
- name: x
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./plugin.sh
      provideClusterInfo: true
EOF
rm -f "$TMP/kc/plugin.runs"
expect_rc "exec plugin + rotation" 0 "$KC" --e2e --kubeconfig "$TMP/kc/exec-config" \
  --between "printf 'tok-exec-%s\n' \$\$ > '$APISERVER_TOKEN_FILE'" $P
expect_grep "  401 after rotation" "$TMP/out" '^get2: 401 -> unauthorized\(\)$'
expect_grep "  retry 200" "$TMP/out" '^retry: 200 PodList'
runs=$(wc -l <"$TMP/kc/plugin.runs" 2>/dev/null || echo 0)
[ "$runs" = 2 ] && ok "  plugin ran twice (load, after 401)" || bad "  plugin ran $runs times, want 2"

# A second server (no kubeconfig helper) for tls-server-name and in-cluster.
start_server() {   # DIR ARGS... ; sets SRV_PORT
  local d=$1; shift
  mkdir -p "$d"
  python3 "$APISERVER_SRC/apiserver.py" --port 0 --port-file "$d/port" "$@" >"$d/log" 2>&1 &
  T_PIDS+=($!)
  for _ in $(seq 1 150); do [ -s "$d/port" ] && break; sleep 0.1; done
  [ -s "$d/port" ] || { cat "$d/log"; return 1; }
  SRV_PORT=$(cat "$d/port")
}

# 9. tls-server-name: the certificate names only kube.lw.test, the server is 127.0.0.1
T2=$TMP/tsn
mkdir -p "$T2/tls"
(cd "$T2/tls" &&
 openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=tsn-ca \
   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
 printf 'subjectAltName=DNS:kube.lw.test\nextendedKeyUsage=serverAuth\n' >server.ext &&
 openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube.lw.test &&
 openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
   -days 2 -extfile server.ext) >/dev/null 2>&1
echo tsn-token >"$T2/token"
if start_server "$T2" --token-file "$T2/token" --tls-dir "$T2/tls"; then
  cat >"$T2/config" <<EOF
current-context: plain
contexts:
- name: plain
  context: {cluster: plain, user: u}
- name: named
  context: {cluster: named, user: u}
clusters:
- name: plain
  cluster:
    server: https://127.0.0.1:$SRV_PORT
    certificate-authority: tls/ca.crt
- name: named
  cluster:
    server: https://127.0.0.1:$SRV_PORT
    certificate-authority: tls/ca.crt
    tls-server-name: kube.lw.test
users:
- name: u
  user: {token: tsn-token}
EOF
  expect_rc "certificate without 127.0.0.1: refused" 1 "$KC" --e2e --kubeconfig "$T2/config" $P
  expect_grep "  host name mismatch" "$TMP/out" 'curl error 60'
  expect_rc "tls-server-name kube.lw.test" 0 "$KC" --e2e --kubeconfig "$T2/config" --context named $P
  expect_grep "  listed" "$TMP/out" '^get1: 200 PodList'
else
  bad "second API server did not start"
fi

# 10. in-cluster: a kubelet-style service-account dir, rotated through ..data
T3=$TMP/sa
if start_server "$T3" --sa-dir "$T3/sa" --tls-dir "$APISERVER_DIR/tls"; then
  apiserver3() { curl -sS --cacert "$APISERVER_CA" -X POST "https://127.0.0.1:$SRV_PORT/_test/$1"; }
  curl -sS --cacert "$APISERVER_CA" -X POST "https://127.0.0.1:$SRV_PORT/_test/pods" \
    -d '{"metadata":{"name":"sa-pod","namespace":"default"}}' >/dev/null
  expect_rc "in-cluster" 0 "$KC" --e2e --incluster 127.0.0.1 "$SRV_PORT" "$T3/sa" \
    --between "curl -sS --cacert '$APISERVER_CA' -X POST https://127.0.0.1:$SRV_PORT/_test/rotate-token >/dev/null" $P
  expect_grep "  in-cluster source" "$TMP/out" 'loaded: in-cluster .*server=https://127.0.0.1:'
  expect_grep "  listed" "$TMP/out" '^get1: 200 PodList items=1$'
  expect_grep "  401 after the kubelet-style rotation" "$TMP/out" '^get2: 401 -> unauthorized\(\)$'
  expect_grep "  retry 200" "$TMP/out" '^retry: 200 PodList'
else
  bad "in-cluster API server did not start"
fi

finish
