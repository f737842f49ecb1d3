#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build bench/forecast/replay.c and replay the forecast on a real usage.jsonl.
#   bench/forecast/replay.sh USAGE.JSONL LIMIT_BYTES [--every k] [--kill T] [--min-span S] [--quiet]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/leakwatch-fc-replay
cc ${SIM_CFLAGS:-} -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Ipkg \
   bench/forecast/replay.c pkg/forecast/*.c pkg/stats/*.c pkg/base/base.c -lm -o "$out"
exec "$out" "$@"
