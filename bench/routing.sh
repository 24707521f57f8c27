#!/usr/bin/env bash
# bench/routing.sh: GET /info and /internal-info with a routing file of 500 patterns
# (wrk on loopback): throughput with 64 connections, median latency with 4; then a
# reload of the file every 0.2 s while wrk runs: no request may fail.
#
#   RUNS=3 SECONDS_PER_RUN=10 bench/routing.sh
#
# The addresses asked: one that only the last pattern (the catch-all) takes, so that
# all 500 are tried, and one that the 250th pattern takes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh

runs=${RUNS:-3}
secs=${SECONDS_PER_RUN:-10}
conns=${CONNECTIONS:-64}

map=$(mktemp /tmp/annuaire-routing.XXXXXX.yaml)
iport=$(reserve_port)
python3 - "$map" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("platforms:\n  - &ext {hs: agent.externe.example, requires_invite: true}\n"
            "medium:\n  email:\n    entries: {}\n    patterns:\n")
    for i in range(499):
        f.write(f"      - '.*@(.*\\.|)ministere{i}\\.gouv\\.fr': {{hs: agent.m{i}.example, "
                f"shadow_hs: internet.m{i}.example}}\n")
    f.write("      - '.*': *ext\n")
PY
BENCH_CONFIG="routing:
  info_file: $map
  internal_port: $iport"
bench_start
trap 'bench_stop; rm -f "$map"' EXIT

run_wrk() { # URL [CONNECTIONS] -> "rate p50 errors"
    local out
    out=$(wrk -t1 -c"${2:-$conns}" -d"${secs}s" --latency "$1")
    printf '%s %s %s\n' "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
        "$(grep -E "Non-2xx|Socket errors" <<<"$out" | tr -s ' ' | tr '\n' ';' || true)"
}

declare -A urls=(
    [info_catchall]="http://127.0.0.1:$port/_matrix/identity/api/v1/info?medium=email&address=someone%40example.org"
    [info_pattern250]="http://127.0.0.1:$port/_matrix/identity/api/v1/info?medium=email&address=agent%40dir.ministere249.gouv.fr"
    [internal_catchall]="http://127.0.0.1:$iport/_matrix/identity/api/v1/internal-info?medium=email&address=someone%40example.org"
    [internal_pattern250]="http://127.0.0.1:$iport/_matrix/identity/api/v1/internal-info?medium=email&address=agent%40dir.ministere249.gouv.fr"
)
summary=()
for name in info_catchall info_pattern250 internal_catchall internal_pattern250; do
    url=${urls[$name]}
    curl -sf "$url" >/dev/null || { echo "$name: $url fails" >&2; exit 1; }
    wrk -t1 -c"$conns" -d2s "$url" >/dev/null # warm-up
    rates=()
    lat=()
    for i in $(seq "$runs"); do
        read -r rate p50 errors <<<"$(run_wrk "$url")"
        rates+=("$rate")
        echo "$name run $i, $conns connections: $rate req/s ${errors:-}"
        read -r rate p50 errors <<<"$(run_wrk "$url" 4)"
        lat+=("$p50")
        echo "$name run $i, 4 connections: median latency $p50 ${errors:-}"
    done
    summary+=("$name: median $(median "${rates[@]}") req/s (runs: ${rates[*]}); median latency at 4 connections $(printf '%s\n' "${lat[@]}" | sort | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')")
done

# Reloads under load: the file is rewritten (same content, new mtime) and SIGHUP sent
# every 0.2 s while wrk runs; every reply must be a 200.
url=${urls[info_catchall]}
(
    end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        touch "$map"
        kill -HUP "$pid"
        sleep 0.2
    done
) &
reloader=$!
read -r rate p50 errors <<<"$(run_wrk "$url")"
wait "$reloader"
reloads=$(grep -c "routing: .*reloaded" "$work/serve.log" || true)
summary+=("info under reloads: $rate req/s, median latency $p50, $reloads reloads, errors: ${errors:-none}")
echo
printf '%s\n' "${summary[@]}"
