#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad input through the CLI (issue 2 point 9): truncated, empty, binary, HTML
# (a wrong port), gzip bombs and huge inputs give a clear error naming the
# file, never a crash (exit >= 128), hang (timeout) or unbounded memory.
. "$(dirname "$0")/lib.sh"

G19=$FIX/go1.19
# run_top NAME FILE REGEX: must exit 1 within 60 s with REGEX in stderr
run_top_err() {
  local name=$1 file=$2 re=$3
  timeout 60 "$LEAKWATCH" top "$file" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ $rc = 1 ] && grep -Eq -- "$re" "$TMP/err" && grep -Fq -- "$file" "$TMP/err"; then
    ok "$name: $(head -c 160 "$TMP/err")"
  else
    bad "$name: rc=$rc stderr=$(head -c 300 "$TMP/err")"
  fi
}

: >"$TMP/empty.txt"
run_top_err "empty file" "$TMP/empty.txt" "empty"
head -c 65536 /bin/ls >"$TMP/binary.bin"
run_top_err "binary junk (an ELF file)" "$TMP/binary.bin" "not|unrecogn|format"
[ -f "$FIX/bad/index.html" ] && run_top_err "HTML index page (wrong path)" "$FIX/bad/index.html" "HTML"
[ -f "$FIX/bad/404.txt" ] && run_top_err "404 page" "$FIX/bad/404.txt" "404|not found"

# gzip bomb: 600 MiB of zeros compress to ~600 KiB; inflation must stop at the cap
dd if=/dev/zero bs=1M count=600 2>/dev/null | gzip -1 >"$TMP/bomb.gz"
run_top_err "gzip bomb" "$TMP/bomb.gz" "limit|too large|bomb"
# a gzip stream cut in the middle
if [ -f "$G19/http-transport/goroutine.pb.gz" ]; then
  f=$G19/http-transport/goroutine.pb.gz
  head -c $(( $(stat -c %s "$f") / 2 )) "$f" >"$TMP/cut.pb.gz"
  run_top_err "truncated gzip" "$TMP/cut.pb.gz" "truncat|corrupt"
fi
# huge input: a sparse 600 MiB file is over the 512 MiB input cap
truncate -s 600M "$TMP/huge.txt"
run_top_err "huge input" "$TMP/huge.txt" "limit|too large"

# truncated text profiles at many offsets: exit 0 (partial but valid) or 1
# (clear error), never a crash or hang
for f in "$G19/http-transport/goroutine1.txt" "$G19/http-transport/goroutine2.txt" \
         "$G19/heap-map/heap1.txt" "$G19/http-transport/heap.pb.gz"; do
  [ -f "$f" ] || continue
  size=$(stat -c %s "$f"); crashes=0
  for frac in 1 7 13 29 50 71 93 99; do
    head -c $(( size * frac / 100 )) "$f" >"$TMP/trunc"
    timeout 30 "$LEAKWATCH" top "$TMP/trunc" >/dev/null 2>"$TMP/err"; rc=$?
    if [ $rc != 0 ] && [ $rc != 1 ]; then crashes=$((crashes+1)); echo "  rc=$rc at $frac%: $(head -c 200 "$TMP/err")"; fi
  done
  [ $crashes = 0 ] && ok "truncations of $(basename "$(dirname "$f")")/$(basename "$f")" || bad "truncations of $f: $crashes bad exits"
done

# analyze skips a corrupt file with a warning naming it, and still judges the rest
if [ -d "$FIX/traces/healthy" ]; then
  mkdir "$TMP/tr"; cp "$FIX/traces/healthy"/* "$TMP/tr/"
  first=$(ls "$TMP/tr" | grep -- '-goroutine.txt$' | head -1)
  printf '<html><body>oops</body></html>' >"$TMP/tr/$first"
  timeout 120 "$LEAKWATCH" analyze "$TMP/tr" --json >"$TMP/out" 2>"$TMP/err"; rc=$?
  if [ $rc -le 4 ] && [ $rc != 1 ] && [ $rc != 2 ]; then ok "analyze with a corrupt file still judges (rc $rc)"; else bad "analyze corrupt: rc $rc"; fi
  expect_grep "corrupt file named in warning" "$TMP/err" "skipped .*$first.*HTML"
fi
finish
