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

ensure_packages "${BUILD_PACKAGES[@]}" "${PG_PACKAGES[@]}" wrk curl
build build

work=$(mktemp -d /tmp/annuaire-bench.XXXXXX)
chmod 755 "$work"
pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    scripts/pg-cluster stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT

scripts/pg-cluster start "$work/pg" "$pgport"
scripts/pg-cluster psql "$work/pg" -d postgres -c "CREATE ROLE annuaire LOGIN" \
    -c "CREATE DATABASE annuaire OWNER annuaire"
cat >"$work/annuaire.yaml" <<CONF
database:
  conninfo: "host=$work/pg/run port=$pgport dbname=annuaire user=annuaire"
http:
  port: $port
log:
  level: info
CONF
build/annuaire migrate -c "$work/annuaire.yaml" >/dev/null
build/annuaire serve -c "$work/annuaire.yaml" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/_matrix/identity/v2" >/dev/null && break
    sleep 0.1
done
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
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "GET /_matrix/identity/v2, wrk -t1 -c$conns, $runs x ${secs}s on $(nproc) cores:"
echo "  median: $(median "${rates[@]}") req/s; median of per-run median latencies: $(printf '%s\n' "${lat50[@]}" | sort | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
echo "  idle service: RSS ${idle_rss} kB, peak RSS ${idle_hwm} kB; peak RSS after the load: ${busy_hwm} kB"
echo "  access log lines written: $(grep -c ' GET /_matrix/identity/v2 200 ' "$work/serve.log")"
