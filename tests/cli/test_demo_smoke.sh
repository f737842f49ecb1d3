#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke test of scripts/demo.sh (issue 3, point 11): a short run
# (DEMO_DURATION=90, rounds every 10 s, the already built binary) under a
# timeout must set everything up, print what `kubectl describe pod` shows for
# the leaky pod (Annotations with leakwatch.io/status, an Events section) and
# the healthy pod's status, exit 0, and leave nothing behind: no process
# referring to its temp dir, no temp dir, no memory cgroup.
# Skips (77) without go, python3 or kubectl.
. "$(dirname "$0")/lib.sh"
for t in go python3 kubectl curl openssl timeout; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: no $t"; exit 77; }
done
SRC=${LW_SOURCE_DIR:-.}
case "$LEAKWATCH" in /*) ;; *) LEAKWATCH=$PWD/$LEAKWATCH;; esac
[ -x "$LEAKWATCH" ] || { bad "no leakwatch binary at $LEAKWATCH"; finish; exit 1; }

OUT=$TMP/demo.out
start=$(date +%s)
DEMO_DURATION=90 DEMO_INTERVAL=10 DEMO_SKIP_BUILD=1 LEAKWATCH=$LEAKWATCH \
  timeout -k 10 140 bash "$SRC/scripts/demo.sh" >"$OUT" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
echo "demo exit $rc after ${took}s; its output ends with:"
tail -25 "$OUT"

[ "$rc" = 0 ] && ok "demo exits 0" || bad "demo exit $rc: $(tail -5 "$OUT")"
expect_grep "the test API server came up" "$OUT" '^test API server: https://127\.0\.0\.1:[0-9]+'
expect_grep "the leaking service started" "$OUT" '^leaky +\(leakzoo -scenario http-transport'
expect_grep "the controller became ready" "$OUT" '^leakwatch controller running'
expect_grep "a kubectl describe round is printed" "$OUT" '^\$ kubectl describe pod leaky'
expect_grep "describe shows the Annotations section" "$OUT" '^Annotations: '
expect_grep "describe shows leakwatch.io/status on the leaky pod" "$OUT" '^ +leakwatch\.io/status: (ok|leaking|oom-predicted|oomkilled)$'
expect_grep "describe shows the Events section" "$OUT" '^Events:'
expect_grep "the healthy pod is reported ok" "$OUT" '^leakwatch\.io/status: ok '
expect_nogrep "no healthy-pod events" "$OUT" '^leakwatch\.io/status: ok +events: .*[A-Za-z]'
expect_grep "a summary at the end" "$OUT" '^===== summary after [0-9]+s'
expect_grep "the controller stops cleanly" "$OUT" 'leakwatch controller stopped \(exit 0\)'
[ "$took" -le 135 ] && ok "bounded by DEMO_DURATION (${took}s)" || bad "took ${took}s"

# nothing left behind
dtmp=$(sed -n 's/^temp dir \([^ ,]*\).*/\1/p' "$OUT" | head -1)
if [ -n "$dtmp" ]; then
  sleep 1
  [ ! -e "$dtmp" ] && ok "temp dir removed" || bad "temp dir $dtmp left"
  left=$(pgrep -f "$dtmp" || true)
  [ -z "$left" ] && ok "no processes left" || bad "processes left: $(ps -o pid=,args= -p $left 2>/dev/null)"
  cgs=$(sed -n 's/^temp dir .*, cgroups \(.*\)\*$/\1/p' "$OUT" | head -1)
  if [ -n "$cgs" ]; then
    ls -d "$cgs"* >/dev/null 2>&1 && bad "cgroups left: $(ls -d "$cgs"*)" || ok "memory cgroups removed"
  fi
else
  bad "the demo did not print its temp dir"
fi
finish
