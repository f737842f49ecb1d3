#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install what building and testing leakwatch needs on Debian 12 (as root).
# Idempotent: skips apt when everything is already there.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libcurl4-openssl-dev libcjson-dev libyaml-dev
      libssl-dev zlib1g-dev valgrind clang libclang-rt-14-dev golang-go ca-certificates
      python3 procps openssl curl
      golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev golang-gopkg-yaml.v3-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]} (run as root to install)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
