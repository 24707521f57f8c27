#!/usr/bin/env bash
# bench/lookup.sh: POST /_matrix/identity/v2/lookup with 1,000 sha256 hashes against
# 100,000, 1,000,000 and 10,000,000 bound associations.
#
#   bench/lookup.sh [SIZES...]          default: 100000 1000000 10000000
#   SECONDS_PER_RUN=10 RUNS=3 THREADS=8 bench/lookup.sh 1000000
#
# For each size: median latency of one client (wrk -c1), throughput under
# concurrent load (wrk -c8; addresses resolved per second = requests x 1,000),
# the same query timed alone in PostgreSQL (pgbench -c1) for the HTTP/SQL ratio,
# and the peak RSS of serve. Half of the hashes of each request are bound.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000 10000000)
secs=${SECONDS_PER_RUN:-10}
runs=${RUNS:-3}

. bench/lib.sh
# One bench user sends hundreds of lookups a second: lift the per-user limits.
BENCH_CONFIG="ratelimit:
  enabled: false"
bench_start
psql_() { scripts/pg-cluster psql "$work/pg" -d annuaire "$@"; }
# An account for the bench: the token is "bench-token", stored hashed like any other.
psql_ -c "INSERT INTO annuaire.accounts (token_hash, user_id)
          VALUES (encode(sha256('bench-token'), 'hex'), '@bench:hs.test')"
pepper=$(psql_ -At -c "SELECT pepper FROM annuaire.lookup_pepper")

loaded=0
# Average latency (ms) of the lookup statement run alone by pgbench: one client,
# prepared once, the array of hashes as its parameter, as serve runs it.
sql_latency() {
    local f=/tmp/annuaire-bench-query.$$.sql
    cp "$1" "$f"
    chmod 644 "$f"
    local cmd=(/usr/lib/postgresql/15/bin/pgbench -n -M prepared -c1 -j1 -T "$secs" -f "$f"
        -D "arr=$(cat "$work/array.txt")" -h "$work/pg/run" -p "$pgport" -U annuaire annuaire)
    if [ "$(id -u)" = 0 ]; then cmd=(runuser -u postgres -- "${cmd[@]}"); fi
    "${cmd[@]}" 2>/dev/null | awk '/latency average/ {print $4}'
    rm -f "$f"
}
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f\n", v}' <<<"$1"; }
summary=()

for n in "${sizes[@]}"; do
    echo "== $n associations"
    bench_load_associations "$loaded" "$n" "$pepper"
    loaded=$n
    bench_lookup_request "$n" "$pepper"
    found=$(curl -s -H "Authorization: Bearer bench-token" -H "Content-Type: application/json" \
        --data-binary "@$work/body.json" "http://127.0.0.1:$port/_matrix/identity/v2/lookup" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["mappings"]))')
    [ "$found" = 500 ] || { echo "expected 500 mappings, got $found" >&2; exit 1; }
    url="http://127.0.0.1:$port/_matrix/identity/v2/lookup"
    wrk -t1 -c1 -d2s -s "$work/lookup.lua" "$url" >/dev/null # warm-up
    lat=()
    rates=()
    for i in $(seq "$runs"); do
        out=$(wrk -t1 -c1 -d"${secs}s" --latency -s "$work/lookup.lua" "$url")
        grep -qE "Non-2xx|Socket errors" <<<"$out" && { echo "$out"; exit 1; }
        lat+=("$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")")
        out=$(wrk -t1 -c8 -d"${secs}s" -s "$work/lookup.lua" "$url")
        grep -qE "Non-2xx|Socket errors" <<<"$out" && { echo "$out"; exit 1; }
        rates+=("$(awk '/Requests\/sec/ {print $2}' <<<"$out")")
        echo "  run $i: one client median ${lat[-1]} ms; 8 clients ${rates[-1]} req/s"
    done
    sql=$(sql_latency "$work/query.sql")
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    ml=$(median "${lat[@]}")
    mr=$(median "${rates[@]}")
    line=$(awk -v n="$n" -v ml="$ml" -v mr="$mr" -v sql="$sql" -v rss="$rss" 'BEGIN {
        printf "%d associations: median %.2f ms (one client); %.0f req/s = %.0f addresses/s (8 clients); SQL alone %.2f ms, HTTP/SQL %.2fx; peak RSS %.1f MB",
               n, ml, mr, mr * 1000, sql, ml / sql, rss / 1024 }')
    echo "  $line"
    summary+=("$line")
done
echo
printf '%s\n' "${summary[@]}"
