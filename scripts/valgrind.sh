#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every unit test and fuzz replay of BUILD_DIR under valgrind memcheck;
# any error or leak (definite, indirect, possible) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
export LW_FIXTURES=$PWD/tests/fixtures LW_SOURCE_DIR=$PWD LW_VALGRIND=1 LW_FUZZ_ITERS=150
fail=0; n=0
for t in "$dir"/tests/test_*; do
  [ -x "$t" ] || continue
  n=$((n+1))
  if ! valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
       --error-exitcode=33 "$t" >"$dir/valgrind-$(basename "$t").log" 2>&1; then
    echo "valgrind: $(basename "$t") FAILED (see $dir/valgrind-$(basename "$t").log)"
    tail -40 "$dir/valgrind-$(basename "$t").log"
    fail=1
  fi
done
for t in "$dir"/tests/fuzz_*_replay; do
  [ -x "$t" ] || continue
  n=$((n+1))
  name=$(basename "$t" _replay)
  if ! valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
       --error-exitcode=33 "$t" "tests/fuzz/corpus/$name" >"$dir/valgrind-$name.log" 2>&1; then
    echo "valgrind: $name FAILED"; tail -40 "$dir/valgrind-$name.log"; fail=1
  fi
done
echo "valgrind: $n binaries checked, $([ $fail = 0 ] && echo 0 || echo some) with errors"
exit $fail
