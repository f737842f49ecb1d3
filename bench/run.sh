#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/run.sh: run the evaluation corpus (bench/services/*) under real
# cgroup v1 memory limits until the kernel OOM-kills each leaking service
# (or for a fixed window for the healthy ones), recording each with
# `leakwatch record` plus a 5 s working-set sampler (usage.jsonl).
# Score the traces afterwards with bench/score.py. Method: docs/evaluation.md.
#
#   sudo bench/run.sh                 # the whole corpus, 3 at a time
#   sudo bench/run.sh leak-chan-send ok-churn   # a subset, by name
#
# Environment (all optional):
#   LEAKWATCH       leakwatch binary   [build-bench/leakwatch, else build/leakwatch]
#   OUT             trace root         [bench/results/raw]; one DIR per service
#   JOBS            services at once   [3]
#   HEALTHY_WINDOW  seconds a healthy service runs            [600]
#   LEAK_MAX        seconds before a leak that was not killed is stopped [1200]
#   EVERY           leakwatch record --every                  [5s]
#   DEBUG2_EVERY    leakwatch record --debug2-every           [30s]
#   LIMIT_OVERRIDE  use this limit for every service (calibration only)
#   CORPUS_FILE     read the corpus table from this file instead of the one
#                   below (same columns), e.g. bench/unseen.corpus: services
#                   written after the engine was frozen (docs/evaluation.md)
#
# Needs root and a writable cgroup v1 memory hierarchy; otherwise it prints
# why and exits 77 (skipped). Binaries run from tmpfs (/dev/shm): a binary
# run from disk can thrash on its own page cache at the limit instead of
# being killed. Peers (backends, client fleets) are moved to an unlimited
# sibling cgroup "<name>-peer" so only the service itself is limited.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CGROOT=/sys/fs/cgroup/memory/leakwatch-bench
SHM=/dev/shm/leakwatch-bench
OUT=${OUT:-$ROOT/bench/results/raw}
JOBS=${JOBS:-3}
HEALTHY_WINDOW=${HEALTHY_WINDOW:-600}
LEAK_MAX=${LEAK_MAX:-1200}
EVERY=${EVERY:-5s}
DEBUG2_EVERY=${DEBUG2_EVERY:-30s}
GO=${GO:-/usr/bin/go}

# name | kind | limit | speed (request-rate multiplier) | expected top-stack substring
# The expected substring must appear in top_stacks[0] (frames, user_frame
# or created_by) of leakwatch's verdict. Order = launch order (long first).
CORPUS='
leak-ssh-handshake         leak    96Mi  1.0  golang.org/x/crypto/ssh.readVersion
ok-cache-warmup            healthy 256Mi 1.0  -
leak-map-cache             leak    192Mi 1.5  main.(*sessionStore).Put
ok-near-limit              healthy 256Mi 1.0  -
leak-transport-per-request leak    128Mi 0.55 net/http.(*persistConn)
ok-bursty                  healthy 256Mi 1.0  -
leak-grpc-dial             leak    128Mi 0.75 google.golang.org/grpc
ok-churn                   healthy 128Mi 1.0  -
leak-body-unclosed         leak    128Mi 1.0  net/http.(*persistConn)
ok-pooled-client           healthy 128Mi 1.0  -
leak-chan-send             leak    96Mi  1.3  main.fetchQuote.func1
leak-proxy-transport       leak    128Mi 1.5  net/http.(*conn).readRequest
'

if [ -n "${CORPUS_FILE:-}" ]; then
    CORPUS=$(grep -v '^[[:space:]]*#' "$CORPUS_FILE") || { echo "bench/run.sh: cannot read CORPUS_FILE $CORPUS_FILE" >&2; exit 2; }
fi

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

to_bytes() { # 128Mi / 1Gi / plain bytes
    local q=$1
    case $q in
        *Ki) echo $((${q%Ki} << 10)) ;;
        *Mi) echo $((${q%Mi} << 20)) ;;
        *Gi) echo $((${q%Gi} << 30)) ;;
        *) echo "$q" ;;
    esac
}

find_leakwatch() {
    if [ -n "${LEAKWATCH:-}" ]; then echo "$LEAKWATCH"; return; fi
    local c
    for c in "$ROOT/build-bench/leakwatch" "$ROOT/build-bench/cmd/leakwatch/leakwatch" \
             "$ROOT/build/leakwatch" "$ROOT/build/cmd/leakwatch/leakwatch"; do
        if [ -x "$c" ]; then echo "$c"; return; fi
    done
    echo ""
}

# ---- preconditions -------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh: SKIP: needs root (cgroup writes, RLIMIT_NOFILE)" >&2; exit 77
fi
if ! mkdir -p "$CGROOT" 2>/dev/null || [ ! -w "$CGROOT" ] || [ ! -e "$CGROOT/memory.limit_in_bytes" ]; then
    echo "bench/run.sh: SKIP: /sys/fs/cgroup/memory (cgroup v1 memory controller) is not writable here" >&2; exit 77
fi
LEAKWATCH=$(find_leakwatch)
if [ -z "$LEAKWATCH" ] || ! "$LEAKWATCH" record --help >/dev/null 2>&1; then
    echo "bench/run.sh: no working leakwatch binary (set LEAKWATCH, or: scripts/build.sh build-bench)" >&2; exit 1
fi
if ! ulimit -n 1048576 2>/dev/null; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    log "note: RLIMIT_NOFILE could not be raised to 1048576 (no CAP_SYS_RESOURCE?); using $(ulimit -n). The corpus leaks < 10,000 fds each."
fi

# ---- selection -----------------------------------------------------------
declare -a SEL=()
idx=0
while read -r name kind limit speed expect; do
    [ -z "$name" ] && continue
    idx=$((idx + 1))
    if [ $# -gt 0 ]; then
        want=0
        for a in "$@"; do [ "$a" = "$name" ] && want=1; done
        [ $want = 0 ] && continue
    fi
    SEL+=("$name $kind $limit $speed $expect $((16100 + idx))")
done <<<"$CORPUS"
if [ $# -gt 0 ] && [ ${#SEL[@]} -ne $# ]; then
    echo "bench/run.sh: unknown service name among: $* (known: $(awk 'NF{printf "%s ", $1}' <<<"$CORPUS"))" >&2; exit 2
fi

# ---- cleanup: only what this script started, by pid ----------------------
mkdir -p "$SHM/bin" "$SHM/gopath/src" "$OUT"
PIDS=$SHM/pids.$$
: >"$PIDS"
track() { echo "$1" >>"$PIDS"; }

kill_cgroup_procs() { # everything left in one of our bench cgroups
    local cg=$1 p
    [ -d "$cg" ] || return 0
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        rmdir "$cg" 2>/dev/null && return 0
        sleep 0.3
    done
    log "warning: could not remove $cg"
}

cleanup() {
    trap - EXIT INT TERM
    local p cg
    while read -r p; do kill -TERM "$p" 2>/dev/null; done <"$PIDS"
    sleep 0.5
    while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$PIDS"
    for cg in "$CGROOT"/*/; do [ -d "$cg" ] && kill_cgroup_procs "${cg%/}"; done
    rmdir "$CGROOT" 2>/dev/null
    rm -f "$PIDS"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---- build (into tmpfs) --------------------------------------------------
ln -sfn "$ROOT/bench/services" "$SHM/gopath/src/lwbench"
for e in "${SEL[@]}"; do
    name=${e%% *}
    if ! GO111MODULE=off GOPATH="$SHM/gopath:/usr/share/gocode" "$GO" build -o "$SHM/bin/$name" "lwbench/$name"; then
        echo "bench/run.sh: build of bench/services/$name failed" >&2; exit 1
    fi
done
log "built ${#SEL[@]} services into $SHM/bin; leakwatch: $LEAKWATCH"

# ---- one service ---------------------------------------------------------
sampler() { # working set = usage - inactive_file, every 5 s, until $2 dies
    # "bytes" is the working set (what leakwatch reads); the other keys keep
    # what the kernel's kill decision depends on, for the kill-level study in
    # docs/evaluation.md: raw usage, the file LRU lists and anonymous memory.
    local cg=$1 pid=$2 out=$3 u inact act rss
    while kill -0 "$pid" 2>/dev/null; do
        u=$(cat "$cg/memory.usage_in_bytes" 2>/dev/null) || break
        read -r inact act rss < <(awk '$1=="total_inactive_file"{i=$2} $1=="total_active_file"{a=$2}
            $1=="total_rss"{r=$2} END{print i+0, a+0, r+0}' "$cg/memory.stat" 2>/dev/null)
        [ -z "$u" ] && break
        printf '{"t": %s, "bytes": %s, "usage": %s, "inactive_file": %s, "active_file": %s, "rss": %s}\n' \
            "$(date +%s)" "$((u - ${inact:-0}))" "$u" "${inact:-0}" "${act:-0}" "${rss:-0}" >>"$out"
        sleep 5
    done
}

oomfield() { awk -v k="$2" '$1==k{print $2}' "$1/memory.oom_control" 2>/dev/null; }

run_one() {
    local name=$1 kind=$2 limit=$3 speed=$4 expect=$5 port=$6
    local dir=$OUT/$name cg=$CGROOT/$name pcg=$CGROOT/$name-peer
    local bytes window
    [ -n "${LIMIT_OVERRIDE:-}" ] && limit=$LIMIT_OVERRIDE
    bytes=$(to_bytes "$limit")
    if [ "$kind" = leak ]; then window=$LEAK_MAX; else window=$HEALTHY_WINDOW; fi
    rm -rf "$dir"
    mkdir -p "$dir"
    kill_cgroup_procs "$cg"
    kill_cgroup_procs "$pcg"
    mkdir -p "$cg" "$pcg" || { log "$name: cannot create $cg"; return 1; }
    echo "$bytes" >"$cg/memory.limit_in_bytes" || { log "$name: cannot set the limit"; return 1; }
    [ -e "$cg/memory.memsw.limit_in_bytes" ] && echo "$bytes" >"$cg/memory.memsw.limit_in_bytes" 2>/dev/null
    echo 0 >"$cg/memory.swappiness" 2>/dev/null
    echo 0 >"$cg/memory.oom_control" 2>/dev/null # make sure the OOM killer is on
    echo 3 >"$pcg/memory.move_charge_at_immigrate" 2>/dev/null

    local start pid rpid spid tpid
    start=$(date +%s.%N)
    (
        echo "$BASHPID" >"$cg/cgroup.procs" || exit 126
        ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
        exec env PPROF_ADDR="127.0.0.1:$port" LW_PEER_CGROUP="$pcg" LW_SPEED="$speed" "$SHM/bin/$name"
    ) >"$dir/service.log" 2>&1 &
    pid=$!
    track "$pid"
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/debug/pprof/" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    log "$name: started pid $pid ($kind, limit $limit, speed $speed, pprof :$port, window ${window}s)"
    "$LEAKWATCH" record "http://127.0.0.1:$port/debug/pprof" --out "$dir" --every "$EVERY" \
        --debug2-every "$DEBUG2_EVERY" >"$dir/record.log" 2>&1 &
    rpid=$!
    track "$rpid"
    sampler "$cg" "$pid" "$dir/usage.jsonl" &
    spid=$!
    track "$spid"
    (sleep "$window"; kill -TERM "$pid" 2>/dev/null) &
    tpid=$!
    track "$tpid"

    wait "$pid"
    local rc=$?
    local end
    end=$(date +%s.%N)
    kill "$tpid" 2>/dev/null
    local oomk under fail maxu
    oomk=$(oomfield "$cg" oom_kill)
    under=$(oomfield "$cg" under_oom)
    fail=$(cat "$cg/memory.failcnt" 2>/dev/null)
    maxu=$(cat "$cg/memory.max_usage_in_bytes" 2>/dev/null)
    local killed=false kill_time=null
    if [ "$rc" = 137 ] && { [ "${oomk:-0}" -gt 0 ] || [ "${fail:-0}" -gt 0 ]; }; then
        killed=true
        kill_time=$end
    fi
    sleep 1
    kill -TERM "$rpid" 2>/dev/null
    kill "$spid" 2>/dev/null
    wait "$rpid" 2>/dev/null
    kill_cgroup_procs "$pcg"
    kill_cgroup_procs "$cg"
    cat >"$dir/meta.json" <<EOF
{"name": "$name", "kind": "$kind", "expected": "$expect", "limit": "$limit", "limit_bytes": $bytes,
 "speed": $speed, "start": $start, "end": $end, "kill_time": $kill_time, "oom_killed": $killed,
 "exit_status": $rc, "oom_kill_count": ${oomk:-null}, "under_oom": ${under:-null}, "failcnt": ${fail:-null},
 "max_usage_bytes": ${maxu:-null}, "window_s": $window, "every": "$EVERY", "debug2_every": "$DEBUG2_EVERY",
 "leakwatch": "$LEAKWATCH", "kernel": "$(uname -r)", "go": "$("$GO" env GOVERSION)"}
EOF
    if [ "$killed" = true ]; then
        log "$name: OOM-killed after $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.0f", b-a}')s (oom_kill=$oomk failcnt=$fail)"
    else
        log "$name: ended after $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.0f", b-a}')s, exit $rc, not OOM-killed (oom_kill=${oomk:-?})"
    fi
}

# ---- schedule ------------------------------------------------------------
log "running ${#SEL[@]} services, $JOBS at a time, traces in $OUT"
for e in "${SEL[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    # shellcheck disable=SC2086
    run_one $e &
    track "$!"
    sleep 2
done
wait
log "done; score with: python3 bench/score.py"
