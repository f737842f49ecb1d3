#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every unit test and fuzz replay of BUILD_DIR under valgrind memcheck;
# any error or leak (definite, indirect, possible) fails. The binaries are
# independent (loopback port 0, their own temp dirs), so they run JOBS at a
# time (default: the number of cores); each writes its own log.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
jobs=${JOBS:-$(nproc)}
export LW_FIXTURES=$PWD/tests/fixtures LW_SOURCE_DIR=$PWD LW_VALGRIND=1 LW_FUZZ_ITERS=150

# one: run binary $1 (with its argument $2, if any) under memcheck into log $3;
# prints a line and the log's tail if it fails
one() {
  local bin=$1 arg=$2 log=$3
  if ! valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
       --error-exitcode=33 "$bin" ${arg:+"$arg"} >"$log" 2>&1; then
    echo "valgrind: $(basename "$bin") FAILED (see $log)"
    tail -40 "$log"
    return 1
  fi
}
export -f one

list=$(mktemp)
trap 'rm -f "$list"' EXIT
for t in "$dir"/tests/test_*; do
  [ -x "$t" ] && printf '%s\t\t%s\n' "$t" "$dir/valgrind-$(basename "$t").log" >>"$list"
done
for t in "$dir"/tests/fuzz_*_replay; do
  [ -x "$t" ] || continue
  name=$(basename "$t" _replay)
  printf '%s\t%s\t%s\n' "$t" "tests/fuzz/corpus/$name" "$dir/valgrind-$name.log" >>"$list"
done
n=$(wc -l <"$list")
fail=0
# xargs exits 123 when any invocation failed
tr '\t' '\0' <"$list" | tr '\n' '\0' | xargs -0 -n 3 -P "$jobs" bash -c 'one "$0" "$1" "$2"' || fail=1
echo "valgrind: $n binaries checked, $([ $fail = 0 ] && echo 0 || echo some) with errors"
exit $fail
