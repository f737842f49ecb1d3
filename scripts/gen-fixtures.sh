#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates tests/fixtures/ from the real Go program tests/go/leakzoo:
# pprof goroutine/heap profiles of each leak scenario (go1.19 and go1.23),
# a 100,000-goroutine dump, real bad inputs (HTML index, 404 bodies) and
# short time-series traces in leakwatch's trace format.
#
#   scripts/gen-fixtures.sh [all|snapshots|huge|bad|traces]...   (default: all)
#   scripts/gen-fixtures.sh counts    (prints the table for tests/fixtures/README.md)
#
# Environment: GO119, GO123 (toolchains), HOLD (seconds each snapshot
# scenario runs before capture, default 72 so waits show "1 minutes"),
# TRACE_SECONDS (default 360), TRACE_EVERY (default 5), VERSIONS
# (default "1.19 1.23"), FIXTURES_OUT (default tests/fixtures).
# Each fixture directory is written in a temp dir and moved into place when
# complete, so tests never see a half-written one.
# Only loopback is used; every process started here is killed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FIXTURES_OUT:-$ROOT/tests/fixtures}
GO119=${GO119:-/usr/bin/go}
GO123=${GO123:-/usr/lib/go-1.23/bin/go}
HOLD=${HOLD:-72}
TRACE_SECONDS=${TRACE_SECONDS:-360}
TRACE_EVERY=${TRACE_EVERY:-5}
VERSIONS=${VERSIONS:-"1.19 1.23"}

WORK=$(mktemp -d "${TMPDIR_FIXTURES:-/dev/shm}/leakzoo.XXXXXX" 2>/dev/null || mktemp -d)
PIDFILE=$WORK/pids
: >"$PIDFILE"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local p
	# Background capture loops first (they are our own jobs), then servers.
	for p in $(jobs -p); do
		kill "$p" 2>/dev/null || true
	done
	# Kill exactly the processes this script started (recorded by pid).
	while read -r p; do
		kill "$p" 2>/dev/null || true
	done <"$PIDFILE"
	sleep 0.5
	while read -r p; do
		kill -9 "$p" 2>/dev/null || true
	done <"$PIDFILE"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leak scenarios hold thousands of sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

log() { printf '[gen-fixtures %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# curl restricted to loopback: no proxy, fail on HTTP errors unless asked.
fetch() { # URL FILE
	curl -sS --noproxy '*' --fail --max-time 300 -o "$2" "$1"
}

build() { # VERSION -> $WORK/leakzoo-VERSION
	local v=$1 go
	case $v in
	1.19) go=$GO119 ;;
	1.23) go=$GO123 ;;
	*) log "unknown Go version $v"; exit 2 ;;
	esac
	log "building leakzoo with $("$go" version)"
	(cd "$ROOT/tests/go/leakzoo" &&
		GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS="" "$go" build -o "$WORK/leakzoo-$v" .)
}

# start NAME BIN ARGS... : runs BIN in the background, records its pid and
# waits until it wrote its pprof address to $WORK/NAME.addr.
start() {
	local name=$1 bin=$2 i
	shift 2
	rm -f "$WORK/$name.addr"
	"$bin" -pprof 127.0.0.1:0 -addr-file "$WORK/$name.addr" "$@" 2>"$WORK/$name.log" &
	echo $! >>"$PIDFILE"
	echo $! >"$WORK/$name.pid"
	for i in $(seq 200); do
		[ -s "$WORK/$name.addr" ] && return 0
		sleep 0.1
	done
	log "$name did not start:"; cat "$WORK/$name.log" >&2
	return 1
}

stop() { # NAME
	kill "$(cat "$WORK/$1.pid")" 2>/dev/null || true
}

addr() { cat "$WORK/$1.addr"; }

# Waits (up to $2 seconds) for a line matching $3 in NAME's log.
wait_log() {
	local name=$1 secs=$2 pat=$3 i
	for i in $(seq $((secs * 10))); do
		grep -q "$pat" "$WORK/$name.log" && return 0
		sleep 0.1
	done
	log "$name: no '$pat' after ${secs}s"
	return 1
}

backend() { # starts the shared backend (HTTP, gRPC, silent TCP) once
	[ -s "$WORK/backend.addr.silent" ] && return 0
	start backend "$WORK/leakzoo-1.19" -scenario backend \
		-backend-http 127.0.0.1:0 -backend-grpc 127.0.0.1:0 -backend-silent 127.0.0.1:0
	local i
	for i in $(seq 100); do
		[ -s "$WORK/backend.addr.silent" ] && return 0
		sleep 0.1
	done
	return 1
}

# Scenario -> extra flags for the snapshot fixtures. -max keeps each
# profile to a few hundred goroutines; rates finish the leak in ~4 s.
snapshot_args() {
	local H G S
	H=$(cat "$WORK/backend.addr.http")
	G=$(cat "$WORK/backend.addr.grpc")
	S=$(cat "$WORK/backend.addr.silent")
	case $1 in
	http-transport) echo "-target $H -rate 25 -max 100" ;;
	http-body) echo "-target $H -rate 25 -max 100" ;;
	grpc-dial) echo "-target $G -rate 15 -max 60" ;;
	ssh-handshake) echo "-target $S -rate 30 -max 120" ;;
	server-idle) echo "-rate 30 -max 120" ;;
	chan-send) echo "-rate 50 -max 200" ;;
	ticker) echo "-rate 40 -max 150" ;;
	heap-map) echo "-rate 500 -max 2000" ;;
	healthy) echo "-target $H -rate 50" ;;
	*) return 1 ;;
	esac
}

SNAPSHOT_SCENARIOS="http-transport http-body grpc-dial ssh-handshake server-idle chan-send ticker heap-map healthy"

install_dir() { # SRC DEST : replace DEST by the finished SRC
	mkdir -p "$(dirname "$2")"
	rm -rf "$2.old"
	[ -e "$2" ] && mv "$2" "$2.old"
	mv "$1" "$2"
	rm -rf "$2.old"
}

capture_all() { # ADDR DIR : the five profiles of one snapshot
	local a=$1 d=$2
	mkdir -p "$d"
	fetch "http://$a/debug/pprof/goroutine?debug=1" "$d/goroutine1.txt"
	fetch "http://$a/debug/pprof/goroutine?debug=2" "$d/goroutine2.txt"
	fetch "http://$a/debug/pprof/goroutine" "$d/goroutine.pb.gz"
	fetch "http://$a/debug/pprof/heap" "$d/heap.pb.gz"
	fetch "http://$a/debug/pprof/heap?debug=1" "$d/heap1.txt"
}

snapshot_one() { # VERSION SCENARIO
	local v=$1 sc=$2 name="s-$1-$2" a args
	args=$(snapshot_args "$sc")
	# shellcheck disable=SC2086
	start "$name" "$WORK/leakzoo-$v" -scenario "$sc" $args
	a=$(addr "$name")
	# The runtime stamps a parked goroutine's wait start during GC mark,
	# with the start time of the *previous* completed GC (0 before the
	# first one, i.e. no stamp). Two forced GCs after the leak phase make
	# debug=2 show "[IO wait, 1 minutes]" at capture time.
	sleep 6
	fetch "http://$a/debug/pprof/heap?gc=1" /dev/null
	fetch "http://$a/debug/pprof/heap?gc=1" /dev/null
	sleep $((HOLD - 6))
	capture_all "$a" "$WORK/out-$name"
	stop "$name"
	install_dir "$WORK/out-$name" "$OUT/go$v/$sc"
	log "go$v/$sc: $(head -1 "$OUT/go$v/$sc/goroutine1.txt")"
}

do_snapshots() {
	local v sc pids=()
	backend
	for v in $VERSIONS; do
		for sc in $SNAPSHOT_SCENARIOS; do
			snapshot_one "$v" "$sc" &
			pids+=($!)
		done
	done
	wait_pids "${pids[@]}"
}

# wait_pids PID... : waits for the given background jobs; fails if any did.
wait_pids() {
	local rc=0 j
	for j in "$@"; do
		wait "$j" || rc=1
	done
	return $rc
}

do_huge() {
	local v name a d n=${HUGE_N:-100000}
	for v in $VERSIONS; do
		name="huge-$v"
		start "$name" "$WORK/leakzoo-$v" -scenario huge -n "$n"
		wait_log "$name" 120 "goroutines parked"
		a=$(addr "$name")
		d="$WORK/out-$name"
		mkdir -p "$d"
		fetch "http://$a/debug/pprof/goroutine?debug=2" "$WORK/huge2.txt"
		gzip -9n <"$WORK/huge2.txt" >"$d/goroutine2.txt.gz"
		fetch "http://$a/debug/pprof/goroutine?debug=1" "$WORK/huge1.txt"
		gzip -9n <"$WORK/huge1.txt" >"$d/goroutine1.txt.gz"
		fetch "http://$a/debug/pprof/goroutine" "$d/goroutine.pb.gz"
		log "go$v/huge: $(head -1 "$WORK/huge1.txt"); debug=2 $(wc -c <"$WORK/huge2.txt") bytes raw"
		rm -f "$WORK/huge1.txt" "$WORK/huge2.txt"
		stop "$name"
		install_dir "$d" "$OUT/go$v/huge"
	done
}

do_bad() {
	local a
	start bad "$WORK/leakzoo-1.19" -scenario healthy -rate 1
	a=$(addr bad)
	mkdir -p "$OUT/bad"
	fetch "http://$a/debug/pprof/" "$OUT/bad/index.html"
	# Error bodies: fetch without --fail so the body is kept.
	curl -sS --noproxy '*' -o "$OUT/bad/404.txt" "http://$a/debug/pprof/goroutinez?debug=1"
	curl -sS --noproxy '*' -o "$OUT/bad/404-mux.txt" "http://$a/metrics"
	curl -sS --noproxy '*' -o "$OUT/bad/400-seconds.txt" "http://$a/debug/pprof/heap?seconds=1&debug=1"
	stop bad
	if [ -x "$WORK/leakzoo-1.23" ]; then
		# GOPATH-mode builds default to GODEBUG=httpmuxgo121=1 (no method
		# patterns); turn it off to get the Go 1.22+ mux and its 405.
		GODEBUG=httpmuxgo121=0 start bad23 "$WORK/leakzoo-1.23" -scenario healthy -rate 1
		a=$(addr bad23)
		fetch "http://$a/debug/pprof/" "$OUT/bad/index-go1.23.html"
		curl -sS --noproxy '*' -X POST -o "$OUT/bad/405-go1.23.txt" "http://$a/debug/pprof/goroutine?debug=1"
		stop bad23
	fi
	log "bad inputs saved"
}

# capture_trace ADDR DIR : leakwatch trace format, one sample every
# TRACE_EVERY seconds for TRACE_SECONDS: debug=1 goroutines and the heap
# proto every sample, heap debug=1 (with MemStats) every 2nd sample and
# debug=2 every 4th (sample 0 has all four), keeping each trace < ~4 MB;
# plus usage.jsonl with the process's VmRSS at each sample.
capture_trace() {
	local a=$1 d=$2 pid=${3:-} secs=${4:-$TRACE_SECONDS} i=0 t next end rss
	rm -rf "$d"
	mkdir -p "$d"
	end=$(($(date +%s) + secs))
	next=$(date +%s)
	while [ "$(date +%s)" -lt "$end" ]; do
		t=$(date +%s)
		fetch "http://$a/debug/pprof/goroutine?debug=1" "$d/$t-goroutine.txt"
		fetch "http://$a/debug/pprof/heap" "$d/$t-heap.pb.gz"
		if [ $((i % 2)) -eq 0 ]; then
			fetch "http://$a/debug/pprof/heap?debug=1" "$d/$t-heap1.txt"
		fi
		if [ $((i % 4)) -eq 0 ]; then
			fetch "http://$a/debug/pprof/goroutine?debug=2" "$d/$t-goroutine2.txt"
		fi
		# Memory series for usage.jsonl: the process's resident set (VmRSS),
		# standing in for a container working set.
		if [ -n "$pid" ] && rss=$(awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$pid/status" 2>/dev/null) && [ -n "$rss" ]; then
			printf '{"t": %s, "bytes": %s}\n' "$t" "$rss" >>"$d/usage.jsonl"
		fi
		i=$((i + 1))
		next=$((next + TRACE_EVERY))
		while [ "$(date +%s)" -lt "$next" ]; do sleep 0.2; done
	done
}

# trace_seconds NAME : how long NAME is recorded. longpoll needs its fall
# judged after analysis.min_span_s (300 s) of history.
trace_seconds() {
	case $1 in
	longpoll) echo $((TRACE_SECONDS * 5 / 3)) ;;
	*) echo "$TRACE_SECONDS" ;;
	esac
}

trace_args() {
	local H
	H=$(cat "$WORK/backend.addr.http")
	case $1 in
	http-transport) echo "-scenario http-transport -target $H -rate 0.33 -max 0" ;;
	chan-send) echo "-scenario chan-send -rate 0.5 -max 0" ;;
	healthy) echo "-scenario healthy -target $H -rate 20" ;;
	burst) echo "-scenario burst -target $H -rate 20 -burst-at $((TRACE_SECONDS * 2 / 5))s -burst-len 45s -burst-n 300" ;;
	warmup) echo "-scenario warmup -warmup 90s" ;;
	ramp) echo "-scenario ramp -rate 40 -warmup ${TRACE_SECONDS}s" ;;
	poolramp) echo "-scenario poolramp -rate 40 -warmup ${TRACE_SECONDS}s" ;;
	workerramp) echo "-scenario workerramp -rate 30 -warmup ${TRACE_SECONDS}s" ;;
	streamramp) echo "-scenario streamramp -rate 2 -warmup ${TRACE_SECONDS}s" ;;
	streamhold) echo "-scenario streamhold -rate 3 -warmup ${TRACE_SECONDS}s" ;;
	longpoll) echo "-scenario longpoll -max 200 -warmup $(($(trace_seconds longpoll) * 2 / 3))s" ;;
	rampleak) echo "-scenario rampleak -rate 20 -warmup ${TRACE_SECONDS}s" ;;
	heap-map) echo "-scenario heap-map -rate 20 -max 0" ;;
	*) return 1 ;;
	esac
}

TRACES=${TRACES:-"http-transport chan-send heap-map healthy burst warmup ramp poolramp workerramp streamramp streamhold rampleak longpoll"}

trace_one() { # NAME
	local tr=$1 name="t-$1" args
	args=$(trace_args "$tr")
	# shellcheck disable=SC2086
	start "$name" "$WORK/leakzoo-1.19" $args
	capture_trace "$(addr "$name")" "$WORK/out-$name" "$(cat "$WORK/$name.pid")" "$(trace_seconds "$tr")"
	stop "$name"
	install_dir "$WORK/out-$name" "$OUT/traces/$tr"
	log "trace $tr: $(find "$OUT/traces/$tr" -type f | wc -l) files, $(du -sh "$OUT/traces/$tr" | cut -f1)"
}

do_traces() {
	local tr pids=()
	backend
	for tr in $TRACES; do
		trace_one "$tr" &
		pids+=($!)
	done
	wait_pids "${pids[@]}"
}

# counts: prints the Markdown table of fixtures used in tests/fixtures/README.md.
do_counts() {
	local d f n files
	echo "| fixture | goroutines (debug=1 total) | files | size |"
	echo "|---|---|---|---|"
	for d in "$OUT"/go1.*/*/; do
		d=${d%/}
		if [ -f "$d/goroutine1.txt" ]; then
			n=$(head -1 "$d/goroutine1.txt" | sed 's/.*total //')
		else
			n=$(zcat "$d/goroutine1.txt.gz" | head -1 | sed 's/.*total //')
		fi
		files=$(find "$d" -type f | wc -l)
		echo "| \`${d#"$OUT"/}\` | $n | $files | $(du -sh "$d" | cut -f1) |"
	done
	echo
	echo "| trace | samples | goroutines first -> last | debug=2 samples | size |"
	echo "|---|---|---|---|---|"
	for d in "$OUT"/traces/*/; do
		d=${d%/}
		files=$(find "$d" -name '*-goroutine.txt' | sort)
		n=$(echo "$files" | wc -l)
		f=$(echo "$files" | head -1)
		echo "| \`${d#"$OUT"/}\` | $n | $(head -1 "$f" | sed 's/.*total //') -> $(head -1 "$(echo "$files" | tail -1)" | sed 's/.*total //') | $(find "$d" -name '*-goroutine2.txt' | wc -l) | $(du -sh "$d" | cut -f1) |"
	done
}

main() {
	local steps=("$@") s v
	[ ${#steps[@]} -eq 0 ] && steps=(all)
	if [ "${steps[*]}" = counts ]; then
		do_counts
		return
	fi
	for v in $VERSIONS; do build "$v"; done
	for s in "${steps[@]}"; do
		case $s in
		all)
			backend
			# Traces take TRACE_SECONDS; run them alongside the rest.
			do_traces &
			local tpid=$!
			do_snapshots
			do_huge
			do_bad
			wait "$tpid"
			;;
		snapshots) do_snapshots ;;
		huge) do_huge ;;
		bad) do_bad ;;
		traces) do_traces ;;
		*) log "unknown step $s"; exit 2 ;;
		esac
	done
	log "done: $(du -sh "$OUT" | cut -f1) in $OUT"
}

main "$@"; exit $?  # exit here: never read past this line (safe if the file is edited while running)
