#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Replay pkg/forecast alone on every finished bench trace (DIR/meta.json +
# DIR/usage.jsonl, written by bench/run.sh): one summary line per service
# (first warning, lead as a share of the life, kill-time errors). This scores
# the forecast module on its own, on the working-set series; the project's
# scored evaluation is bench/score.py on `leakwatch analyze --replay`.
#   bench/forecast/replay_all.sh [RAW_DIR]     (default bench/results/raw)
set -euo pipefail
cd "$(dirname "$0")/../.."
raw=${1:-bench/results/raw}
bench/forecast/replay.sh /dev/null 1 --quiet >/dev/null 2>&1 || true # build once
bin=${TMPDIR:-/tmp}/leakwatch-fc-replay
for d in "$raw"/*/; do
    [ -f "$d/meta.json" ] && [ -f "$d/usage.jsonl" ] || continue
    read -r name kind limit kill < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(m["name"], m["kind"], m["limit_bytes"], m["kill_time"] if m.get("kill_time") else -1)
' "$d/meta.json")
    if [ "$kill" = "-1" ]; then
        printf '%-28s %-8s %s\n' "$name" "$kind" "$("$bin" "$d/usage.jsonl" "$limit" --quiet)"
    else
        printf '%-28s %-8s %s\n' "$name" "$kind" "$("$bin" "$d/usage.jsonl" "$limit" --kill "$kill" --quiet)"
    fi
done
