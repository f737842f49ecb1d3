# SPDX-License-Identifier: Apache-2.0
# bench/lib/sampler.sh: shared by bench/fleet/run.sh and bench/soak/run.sh
# (sourced). Parses a duration and samples the controller under test, the
# fleet simulator and the test API server into OUT/samples.tsv.

# lw_bench_seconds DURATION: "15m", "1h", "40s" or plain seconds -> seconds
lw_bench_seconds() {
  case $1 in
    *m) echo $(( ${1%m} * 60 ));;
    *h) echo $(( ${1%h} * 3600 ));;
    *s) echo "${1%s}";;
    *) echo "$1";;
  esac
}

lw_bench_rss_of() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
lw_bench_cpu_of() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
lw_bench_fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l || echo 0; }

# lw_bench_sample NAME OUT WATCH_PID MEASURE_PID T0 DUR_S SAMPLE MPORT CA API FLEET_PID API_PID
# Every SAMPLE seconds for DUR_S seconds (or until WATCH_PID exits, reported
# as "NAME: controller exited early"): the measured process's RSS (KiB), CPU
# ticks and open fds, the load average, the fleet's and the API server's RSS
# and CPU, the controller's successful scrapes (from its /metrics on MPORT)
# and the API server's request count (its /_test/counters at API, TLS with CA).
lw_bench_sample() {
  local name=$1 out=$2 watch=$3 pid=$4 t0=$5 dur=$6 every=$7 mport=$8 ca=$9 api=${10} fleet=${11} apipid=${12}
  local end now ok apin
  printf 't_s\trss_kib\tcpu_ticks\tfds\tload1\tfleet_rss_kib\tfleet_cpu_ticks\tapi_rss_kib\tapi_cpu_ticks\tscrapes_ok\tapi_requests\n' >"$out/samples.tsv"
  end=$(( $(date +%s) + dur ))
  while :; do
    now=$(date +%s.%N)
    kill -0 "$watch" 2>/dev/null || { echo "$name: controller exited early" >&2; break; }
    ok=$(curl -s --max-time 5 "http://127.0.0.1:$mport/metrics" |
         awk '/^leakwatch_scrapes_total\{.*result="ok"/{s+=$NF} END{print s+0}') || ok=0
    apin=$(curl -s --max-time 5 --cacert "$ca" "$api/_test/counters" |
           python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])' 2>/dev/null) || apin=0
    printf '%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(echo "$now - $t0" | bc)" \
      "$(lw_bench_rss_of "$pid")" "$(lw_bench_cpu_of "$pid")" "$(lw_bench_fds_of "$pid")" \
      "$(cut -d' ' -f1 /proc/loadavg)" "$(lw_bench_rss_of "$fleet")" "$(lw_bench_cpu_of "$fleet")" \
      "$(lw_bench_rss_of "$apipid")" "$(lw_bench_cpu_of "$apipid")" "$ok" "${apin:-0}" >>"$out/samples.tsv"
    [ "$(date +%s)" -ge "$end" ] && break
    sleep "$every"
  done
}
