# SPDX-License-Identifier: Apache-2.0
# lib.sh: helpers for the CLI tests (sourced). Each check prints ok/FAIL;
# finish() prints "N passed, M failed" and exits non-zero on failure.
set -u
LEAKWATCH=${LEAKWATCH:-build/leakwatch}
FIX=${LW_FIXTURES:-tests/fixtures}
T_PASS=0
T_FAIL=0
TMP=$(mktemp -d /tmp/lwcli.XXXXXX)
T_PIDS=()
cleanup() {
  for p in "${T_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() { T_PASS=$((T_PASS+1)); echo "ok   $*"; }
bad() { T_FAIL=$((T_FAIL+1)); echo "FAIL $*"; }

# expect_rc NAME RC CMD...: run CMD, capture stdout/stderr to $TMP/out,$TMP/err
expect_rc() {
  local name=$1 want=$2; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ "$rc" = "$want" ]; then ok "$name (rc $rc)"; else
    bad "$name: exit $rc, want $want; stderr: $(head -c 400 "$TMP/err")"; fi
}
# expect_grep NAME FILE REGEX
expect_grep() {
  if grep -Eq -- "$3" "$2"; then ok "$1"; else bad "$1: /$3/ not in $(basename "$2"): $(head -c 400 "$2")"; fi
}
expect_nogrep() {
  if grep -Eq -- "$3" "$2"; then bad "$1: /$3/ unexpectedly in $(basename "$2")"; else ok "$1"; fi
}
finish() {
  echo "$T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" = 0 ]
}

# Build tests/go/leakzoo with Debian's go (GOPATH mode) into $TMP; echo path or "".
build_leakzoo() {
  command -v go >/dev/null 2>&1 || return 1
  local src=${LW_SOURCE_DIR:-.}/tests/go/leakzoo
  (cd "$src" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$TMP/gocache \
     go build -o "$TMP/leakzoo" . ) >"$TMP/gobuild.log" 2>&1 || { cat "$TMP/gobuild.log"; return 1; }
  echo "$TMP/leakzoo"
}
# start_leakzoo BIN ARGS...: start it, wait for its pprof address; sets ZOO_URL
start_leakzoo() {
  local bin=$1; shift
  rm -f "$TMP/addr"
  "$bin" -addr-file "$TMP/addr" "$@" >"$TMP/zoo.log" 2>&1 &
  T_PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$TMP/addr" ] && break; sleep 0.1; done
  [ -s "$TMP/addr" ] || return 1
  ZOO_URL="http://$(cat "$TMP/addr")/debug/pprof"
}
