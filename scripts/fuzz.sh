#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build every tests/fuzz/fuzz_*.c as a libFuzzer binary (clang, ASan+UBSan,
# all libraries instrumented) and run each for SECONDS (default 60) on a
# scratch copy of its seed corpus plus the real fixtures. Any crash, leak,
# timeout or out-of-memory fails.  Usage: scripts/fuzz.sh [SECONDS] [NAME...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}; shift || true
command -v clang >/dev/null || { echo "fuzz.sh: clang not installed, skipping"; exit 0; }
CC=clang scripts/build.sh build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLW_FUZZ=ON \
  -DLW_SANITIZE="address;undefined" >/dev/null
names=("$@")
if [ ${#names[@]} = 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do names+=("$(basename "$f" .c)"); done
fi
fail=0
for n in "${names[@]}"; do
  bin=build-fuzz/tests/$n
  [ -x "$bin" ] || { echo "fuzz.sh: $bin not built"; fail=1; continue; }
  work=$(mktemp -d /tmp/lwfuzz.XXXXXX)
  mkdir -p "$work/corpus"
  cp -r "tests/fuzz/corpus/$n/." "$work/corpus/" 2>/dev/null || true
  if ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -max_len=1048576 -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" \
       >"$work/log" 2>&1; then
    echo "fuzz $n: $(grep -E '^stat::number_of_executed_units' "$work/log" | awk '{print $2}') runs, no findings"
    rm -rf "$work"
  else
    echo "fuzz $n: FAILED; artifacts and log in $work"; tail -30 "$work/log"; fail=1
  fi
done
exit $fail
