#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one build script: CI, the Dockerfile and developers all use it.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLW_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
