#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/parse/run.sh: parse-speed benchmarks, leakwatch against its peers on
# the same inputs in one run (docs/benchmarks.md, "Parse speed").
#
#   1. builds leakwatch's pprof library (scripts/build.sh $BUILD, default
#      build) and bench/bench_parse.c against it;
#   2. builds the input generators (bench/parse/gen: real Go programs) and
#      the peers (bench/parse/peers: panicparse and google/pprof from the
#      Debian golang-github-maruel-panicparse-dev and
#      golang-github-google-pprof-dev packages, GOPATH mode);
#   3. generates the inputs into a temporary directory: goroutine debug=2 of
#      100,000 (and 20,000) goroutines in a few stacks, and debug=2, debug=1
#      and proto of 16,384 (and 4,096) goroutines with as many distinct stacks;
#   4. runs each input through leakwatch (streamed from the file, as
#      `leakwatch top` reads it) and through its peer, and prints a table.
#
# MB/s are of the plain (inflated) profile bytes, over the best wall time of
# RUNS runs and over the mean user+system CPU time per run (all threads: Go's
# GC included). On a shared machine the wall time depends on the load; the
# CPU time much less, and leakwatch's parser is single-threaded, so its CPU
# time is what it takes on an idle core: the targets are judged on CPU time.
# Peak RSS is getrusage's ru_maxrss of each side's process. leakwatch's parse
# memory is its process's peak RSS during its first parse minus its RSS just
# before it (bench_parse.c: VmHWM reset through /proc/self/clear_refs, and
# VmRSS), i.e. every page the parse touches: read buffer, zlib, the inflated
# input, working arrays and the model; the "2x input" memory target is judged
# on it. Ratio = peer time / leakwatch time.
#
# Usage: bench/parse/run.sh            (RUNS=5, PEER_RUNS=3; 15-30 minutes,
#                                       nearly all of it panicparse on distinct
#                                       stacks; QUICK=1: a few minutes)
# Env: BUILD=build-dir, GO=go binary (default /usr/lib/go-1.23/bin/go),
#      KEEP=1 keeps the temporary directory, QUICK=1 skips panicparse on the
#      16,384 distinct stacks (its bucketing is quadratic: about a minute of
#      CPU for 4,096 stacks, a quarter of an hour for 16,384).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
RUNS=${RUNS:-5}
PEER_RUNS=${PEER_RUNS:-3}
BUILD=${BUILD:-build}
GO=${GO:-/usr/lib/go-1.23/bin/go}
[ -x "$GO" ] || GO=$(command -v go)
export GO111MODULE=off GOFLAGS= GOTOOLCHAIN=local

for pkg in /usr/share/gocode/src/github.com/maruel/panicparse/v2/stack \
           /usr/share/gocode/src/github.com/google/pprof/profile; do
  if [ ! -d "$pkg" ]; then
    echo "run.sh: $pkg missing: apt-get install golang-github-maruel-panicparse-dev golang-github-google-pprof-dev" >&2
    exit 1
  fi
done

tmp=$(mktemp -d /tmp/lwparse.XXXXXX)
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "kept $tmp" >&2 || rm -rf "$tmp"; }
trap cleanup EXIT

echo "== build" >&2
[ -f "$BUILD/pkg/pprof/liblw_pprof.a" ] || scripts/build.sh "$BUILD" >/dev/null
cmake --build "$BUILD" --target lw_pprof lw_base -j2 >/dev/null
gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Ipkg bench/bench_parse.c \
  "$BUILD/pkg/pprof/liblw_pprof.a" "$BUILD/pkg/base/liblw_base.a" -lz -lm -o "$tmp/bench_parse"
(cd bench/parse/gen/few && "$GO" build -o "$tmp/few" .)
(cd bench/parse/gen/gensrc && "$GO" build -o "$tmp/gensrc" .)
(cd bench/parse/peers/panicparse && GOPATH=/usr/share/gocode "$GO" build -o "$tmp/panicparse-bench" .)
(cd bench/parse/peers/pprof && GOPATH=/usr/share/gocode "$GO" build -o "$tmp/pprof-bench" .)
for lv in 12 14; do
  mkdir -p "$tmp/distinct$lv"
  "$tmp/gensrc" -levels "$lv" -pad 8 >"$tmp/distinct$lv/main.go"
  (cd "$tmp/distinct$lv" && "$GO" build -o "$tmp/distinct$lv.bin" .)
done

echo "== generate inputs" >&2
"$tmp/few" -n 100000 -o "$tmp/few100k"
"$tmp/few" -n 20000 -o "$tmp/few20k"
"$tmp/distinct14.bin" -o "$tmp/distinct16k"
"$tmp/distinct12.bin" -o "$tmp/distinct4k"
ls -l "$tmp"/*.txt "$tmp"/*.pb.gz >&2

# field NAME from a RESULT line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

rows=()
# case LABEL FILE PEER PEER_RUNS TARGET
run_case() {
  local label=$1 file=$2 peer=$3 pruns=$4 target=$5
  echo "== $label: leakwatch" >&2
  local lw pr
  lw=$("$tmp/bench_parse" "$file" "$RUNS" | grep '^RESULT')
  if [ "$pruns" = 0 ]; then
    pr="RESULT side=$peer best_s=0 cpu_s=0 maxrss_kb=0"
  else
    echo "== $label: $peer ($pruns runs)" >&2
    pr=$("$tmp/$peer-bench" "$file" "$pruns" | grep '^RESULT')
  fi
  echo "$lw" >&2
  echo "$pr" >&2
  rows+=("$label|$(field bytes "$lw")|$(field plain "$lw")|$lw|$pr|$target")
}

run_case "debug=2, 100,000 goroutines, 6 stacks" "$tmp/few100k.debug2.txt" panicparse "$PEER_RUNS" d2
run_case "debug=2, 20,000 goroutines, 6 stacks" "$tmp/few20k.debug2.txt" panicparse "$PEER_RUNS" d2
run_case "debug=2, 4,096 distinct stacks" "$tmp/distinct4k.debug2.txt" panicparse 1 d2
if [ "${QUICK:-0}" = 1 ]; then
  run_case "debug=2, 16,384 distinct stacks" "$tmp/distinct16k.debug2.txt" panicparse 0 d2
else
  run_case "debug=2, 16,384 distinct stacks" "$tmp/distinct16k.debug2.txt" panicparse 1 d2
fi
run_case "debug=1, 16,384 distinct stacks" "$tmp/distinct16k.debug1.txt" pprof "$PEER_RUNS" d1
run_case "proto (gzip'd), 16,384 distinct stacks" "$tmp/distinct16k.pb.gz" pprof "$PEER_RUNS" pb

echo
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "leakwatch: streamed from the file (lw_pprof_parse_file), best of $RUNS; peers: best of $PEER_RUNS (1 on distinct debug=2)"
echo
echo "| input | file MB | plain MB | leakwatch MB/s wall / CPU | leakwatch peak RSS MB | leakwatch parse memory MB | peer | peer MB/s wall / CPU | peer peak RSS MB | ratio wall / CPU | targets (on CPU time) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r label bytes plain lw pr target <<<"$r"
  awk -v label="$label" -v bytes="$bytes" -v plain="$plain" -v target="$target" \
      -v lwb="$(field best_s "$lw")" -v lwc="$(field cpu_s "$lw")" -v lwr="$(field maxrss_kb "$lw")" \
      -v lwp="$(field parse_kb "$lw")" \
      -v peer="$(field side "$pr")" -v prb="$(field best_s "$pr")" -v prc="$(field cpu_s "$pr")" \
      -v prr="$(field maxrss_kb "$pr")" 'BEGIN {
    mbs = plain / lwb / 1e6; mbc = plain / lwc / 1e6
    rw = 0; if (prb > 0) rw = prb / lwb
    rc = 0; if (prc > 0) rc = prc / lwc
    pm = "not run"; if (prb > 0) pm = sprintf(plain / prb / 1e6 < 10 ? "%.2f / %.2f" : "%.0f / %.0f", plain / prb / 1e6, plain / prc / 1e6)
    pr = "-"; if (prr > 0) pr = sprintf("%.0f", prr / 1024)
    rs = "-"; if (rw > 0) rs = sprintf("%.0fx / %.0fx", rw, rc)
    if (rw > 0 && rw < 10) rs = sprintf("%.1fx / %.1fx", rw, rc)
    rss = lwr / 1024; in_mb = plain / 1e6; pmem = lwp * 1024 / 1e6
    gb = "1 GB/s: NO"; if (mbc >= 1000) gb = "1 GB/s: yes"
    mem = sprintf("parse memory <= 2x input: NO (%.1fx)", pmem / in_mb)
    if (lwp < 0) mem = "parse memory: not measured"
    else if (pmem <= 2 * in_mb) mem = sprintf("parse memory <= 2x input: yes (%.1fx)", pmem / in_mb)
    if (target == "d2") {
      x = "50x: peer not run"
      if (prb > 0) { x = "50x: NO"; if (rc >= 50) x = "50x: yes" }
      ok = gb "; " x
    } else if (target == "d1") {
      ok = gb "; " mem
    } else {
      x = "5x: NO"; if (rc >= 5) x = "5x: yes"
      ok = x "; " mem
    }
    printf "| %s | %.1f | %.1f | %.0f / %.0f | %.1f | %.1f | %s | %s | %s | %s | %s |\n", label, bytes / 1e6, plain / 1e6, mbs, mbc, rss, pmem, peer, pm, pr, rs, ok
  }'
done
