#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build and run the forecast simulation sweep (bench/forecast/sim.c) against
# the stats/forecast/base sources directly, so it needs no full build.
#   bench/forecast/run.sh [seeds] [scenario-substring]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/leakwatch-fc-sim
cc ${SIM_CFLAGS:-} -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Wno-format-truncation -Ipkg \
   bench/forecast/sim.c pkg/forecast/*.c pkg/stats/*.c pkg/base/base.c -lm -o "$out"
exec "$out" "$@"
