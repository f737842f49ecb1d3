#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The benchmark's scoring arithmetic (bench/score.py --self-test): the
# predict_linear baseline, kill-time errors, warnings and Prometheus `for:`,
# and the top-stack match with its Go-release forms. The evaluation in
# docs/evaluation.md rests on it, so a change that breaks it fails here.
. "$(dirname "$0")/lib.sh"

expect_rc "score.py self-test" 0 python3 "$LW_SOURCE_DIR/bench/score.py" --self-test
expect_grep "score.py self-test says ok" "$TMP/out" "self-test: ok"
finish
