#!/usr/bin/env bash
# bench/status.sh: requests per second on GET /_matrix/identity/v2 with wrk on
# loopback, and the resident memory of the idle service.
#
#   bench/status.sh [RUNS] [SECONDS] [CONNECTIONS]     defaults: 5 runs of 10 s, 64 connections
#
# Builds (release), starts a private PostgreSQL and the service (access log on,
# written to a file), runs wrk RUNS times and prints each run, then the median.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

runs=${1:-5}
secs=${2:-10}
conns=${3:-64}

. bench/lib.sh
bench_start
sleep 1
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
idle_hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

url="http://127.0.0.1:$port/_matrix/identity/v2"
wrk -t1 -c"$conns" -d2s "$url" >/dev/null # warm-up
rates=()
lat50=()
for i in $(seq "$runs"); do
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$url")
    rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
    rates+=("$rate")
    lat50+=("$p50")
    echo "run $i: $rate req/s, median latency $p50 ${errors:+($errors)}"
done
busy_hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo
echo "GET /_matrix/identity/v2, wrk -t1 -c$conns, $runs x ${secs}s on $(nproc) cores:"
echo "  median: $(median "${rates[@]}") req/s; median of per-run median latencies: $(printf '%s\n' "${lat50[@]}" | sort | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
echo "  idle service: RSS ${idle_rss} kB, peak RSS ${idle_hwm} kB; peak RSS after the load: ${busy_hwm} kB"
echo "  access log lines written: $(grep -c ' GET /_matrix/identity/v2 200 ' "$work/serve.log")"
