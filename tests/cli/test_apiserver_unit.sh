#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the test API server's own unit tests (tests/apiserver/test_apiserver.py,
# python3 unittest) as one ctest and prints "N passed, M failed".
# Exit 77 (skip) when python3 is missing.
set -u
command -v python3 >/dev/null 2>&1 || { echo "skip: no python3"; exit 77; }
src=${LW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src/tests/apiserver" || exit 1
python3 -B -W ignore::ResourceWarning - <<'PY'
import sys
import unittest

suite = unittest.defaultTestLoader.loadTestsFromName("test_apiserver")
res = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(res.failures) + len(res.errors)
passed = res.testsRun - failed - len(res.skipped)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or passed == 0 else 0)
PY
