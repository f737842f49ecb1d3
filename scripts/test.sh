#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, as README's quick start and CI run it:
#   1. normal build (-Wall -Wextra -Werror) + ctest;
#   2. ASan+UBSan build + ctest;
#   3. valgrind memcheck (leaks are errors) over the unit tests and fuzz
#      replays of the normal build;
#   4. every libFuzzer target for a bounded time (LW_FUZZ_SECONDS, 15 s).
# Set LW_TEST_QUICK=1 to run only step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
scripts/deps.sh

echo "== build + ctest"
scripts/build.sh build
# twice the cores: most of the long end-to-end tests wait on real services
(cd build && ctest --output-on-failure -j"$((jobs * 2))")

[ "${LW_TEST_QUICK:-0}" = 1 ] && exit 0

echo "== ASan+UBSan build + ctest"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DLW_SANITIZE="address;undefined"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LW_FUZZ_ITERS=1000 \
   ctest --output-on-failure -j"$jobs")

echo "== valgrind memcheck (unit tests and fuzz replays)"
scripts/valgrind.sh build
echo "== libFuzzer: each target for ${LW_FUZZ_SECONDS:-15}s (clang, ASan+UBSan)"
scripts/fuzz.sh "${LW_FUZZ_SECONDS:-15}"

echo "== all test stages passed"
