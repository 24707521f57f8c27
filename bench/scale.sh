#!/usr/bin/env bash
# bench/scale.sh: lookup throughput (POST /_matrix/identity/v2/lookup, 1,000 sha256
# hashes a request, as bench/lookup.sh sends them) against BINDINGS bound associations,
# with one serve, two serve on the same database, and two serve reading from a
# streaming replica (database.replica) started here by pg_basebackup.
#
#   bench/scale.sh
#   BINDINGS=1000000 RUNS=3 SECONDS_PER_RUN=10 CLIENTS=8 THREADS=0 bench/scale.sh
#
# Every configuration gets the same CLIENTS connections in all: one wrk process per
# instance (CLIENTS / instances connections each, run together), their requests/s
# summed. Median of RUNS runs each. While each run lasts, the CPU time of serve, of the
# primary's and of the replica's postgres processes, and of the whole machine is read
# from /proc: cores used by each, to say where the bottleneck is ("other" is wrk and
# whatever else runs on the machine), and requests/s per core of serve + postgres, the
# figure that other load on the machine disturbs least. Figures from a shared machine
# are noisy: rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

n=${BINDINGS:-1000000}
secs=${SECONDS_PER_RUN:-10}
runs=${RUNS:-3}
clients=${CLIENTS:-8}
[ $((clients % 2)) = 0 ] || { echo "CLIENTS must be even (split over two instances)" >&2; exit 2; }

. bench/lib.sh
ensure_packages procps # ps, for the postgres processes' CPU
# One bench user sends hundreds of lookups a second: lift the per-user limits.
BENCH_CONFIG="ratelimit:
  enabled: false"
bench_start
serves=()  # the instances this script started itself (bench_stop stops $pid)
standby=
scale_stop() {
    local p
    for p in "${serves[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
    done
    if [ -n "$standby" ]; then
        as_owner /usr/lib/postgresql/15/bin/pg_ctl -D "$standby/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    bench_stop
}
trap scale_stop EXIT
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_() { scripts/pg-cluster psql "$work/pg" -d annuaire "$@"; }

psql_ -c "INSERT INTO annuaire.accounts (token_hash, user_id)
          VALUES (encode(sha256('bench-token'), 'hex'), '@bench:hs.test')"
pepper=$(psql_ -At -c "SELECT pepper FROM annuaire.lookup_pepper")
echo "== loading $n associations"
bench_load_associations 0 "$n" "$pepper"
bench_lookup_request "$n" "$pepper"

# serve CONFIG: starts one more instance; sets new_pid and new_port.
serve() {
    local log="$work/serve-${#serves[@]}-$RANDOM.log"
    : >"$log"
    ANNUAIRE_HTTP_PUBLIC_METRICS=true build/annuaire serve -c "$1" 2>"$log" &
    new_pid=$!
    serves+=("$new_pid")
    new_port=$(bench_wait_serve "$log")
}
unserve() {
    local p keep=()
    for p in "${serves[@]}"; do
        if [ "$p" = "$1" ]; then kill "$p"; wait "$p" 2>/dev/null || true; else keep+=("$p"); fi
    done
    serves=("${keep[@]}")
}

# "pid ticks" (utime + stime) of the given processes, one a line; gone ones left out.
snap() {
    local p
    for p in "$@"; do
        [ -n "$p" ] && awk -v p="$p" '{print p, $14 + $15}' "/proc/$p/stat" 2>/dev/null || true
    done
}
# CPU ticks spent between two snaps (a process born in between counts from 0: serve's
# threads connect to PostgreSQL on their first request, some of them during the run).
spent() { awk 'NR == FNR {s[$1] = $2; next} {d += $2 - ($1 in s ? s[$1] : 0)} END {print d + 0}' "$1" "$2"; }
# A cluster's postmaster and its children (the backends serving our connections).
pg_pids() {
    local pm
    pm=$(as_owner head -1 "$1/postmaster.pid")
    echo "$pm" $(ps -o pid= --ppid "$pm")
}
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# Every process of a kind: serve, primary, replica.
snap_all() {
    snap "${serves[@]}" "$pid" >"$work/cpu.serve.$1"
    snap $(pg_pids "$work/pg/data") >"$work/cpu.primary.$1"
    if [ -n "$standby" ]; then snap $(pg_pids "$standby/data"); fi >"$work/cpu.replica.$1"
}

# run_wrk NAME PORT...: one run, CLIENTS split over the ports; prints req/s summed and
# the cores used by serve, the primary, the replica and the rest of the machine.
run_wrk() {
    local name=$1 per p i total=0 wpids=() t0 t1 m0 m1
    shift
    per=$((clients / $#))
    snap_all 0
    m0=$(busy_ticks)
    t0=$(date +%s.%N)
    i=0
    for p in "$@"; do
        wrk -t1 -c"$per" -d"${secs}s" -s "$work/lookup.lua" "http://127.0.0.1:$p/_matrix/identity/v2/lookup" \
            >"$work/wrk.$i" &
        wpids+=($!)
        i=$((i + 1))
    done
    wait "${wpids[@]}"
    t1=$(date +%s.%N)
    m1=$(busy_ticks)
    snap_all 1
    for i in $(seq 0 $(($# - 1))); do
        grep -qE "Non-2xx|Socket errors" "$work/wrk.$i" && { cat "$work/wrk.$i"; exit 1; }
        total=$(awk -v t="$total" '/Requests\/sec/ {print t + $2}' "$work/wrk.$i")
    done
    awk -v n="$name" -v r="$total" -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" \
        -v s="$(spent "$work/cpu.serve.0" "$work/cpu.serve.1")" \
        -v p="$(spent "$work/cpu.primary.0" "$work/cpu.primary.1")" \
        -v rp="$(spent "$work/cpu.replica.0" "$work/cpu.replica.1")" -v m=$((m1 - m0)) 'BEGIN {
        c = hz * (t1 - t0)
        printf "%s %.1f %.2f %.2f %.2f %.2f\n", n, r, s / c, p / c, rp / c, (m - s - p - rp) / c }'
}

check_lookup() {
    local found
    found=$(curl -s -H "Authorization: Bearer bench-token" -H "Content-Type: application/json" \
        --data-binary "@$work/body.json" "http://127.0.0.1:$1/_matrix/identity/v2/lookup" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["mappings"]))')
    [ "$found" = 500 ] || { echo "expected 500 mappings on port $1, got $found" >&2; exit 1; }
}

declare -A med_rate med_cpu med_per_core
# scenario NAME PORT...: warm-up, RUNS runs, medians.
scenario() {
    local name=$1 line rates=() cs=() cp=() cr=() co=() per_core=()
    shift
    for p in "$@"; do check_lookup "$p"; done
    for p in "$@"; do wrk -t1 -c1 -d2s -s "$work/lookup.lua" "http://127.0.0.1:$p/_matrix/identity/v2/lookup" >/dev/null; done
    for i in $(seq "$runs"); do
        line=$(run_wrk "$name" "$@")
        read -r _ r s pp rp o <<<"$line"
        rates+=("$r") cs+=("$s") cp+=("$pp") cr+=("$rp") co+=("$o")
        per_core+=("$(awk -v r="$r" -v a="$s" -v b="$pp" -v d="$rp" \
            'BEGIN {c = a + b + d; printf "%.1f", (c > 0 ? r / c : 0)}')")
        echo "  $name run $i: $r req/s; cores: serve $s, primary $pp, replica $rp, other $o; ${per_core[-1]} req/s per core of serve + postgres"
    done
    med_rate[$name]=$(median "${rates[@]}")
    med_per_core[$name]=$(median "${per_core[@]}")
    med_cpu[$name]="serve $(median "${cs[@]}"), primary $(median "${cp[@]}"), replica $(median "${cr[@]}"), other $(median "${co[@]}")"
}

echo "== one instance ($clients clients)"
scenario one "$port"

echo "== two instances ($((clients / 2)) clients each)"
serve "$work/annuaire.yaml"
second=$new_port
scenario two "$port" "$second"

echo "== two instances reading from a streaming replica"
standby=$work/standby
if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres -m 700 "$standby"; else install -d -m 700 "$standby"; fi
as_owner mkdir -p "$standby/run"
as_owner /usr/lib/postgresql/15/bin/pg_basebackup -h "$work/pg/run" -p "$pgport" -U postgres \
    -D "$standby/data" -R -X stream --no-sync -c fast
printf "\n# the bench's standby\nunix_socket_directories = '%s'\n" "$standby/run" |
    as_owner tee -a "$standby/data/postgresql.conf" >/dev/null
as_owner /usr/lib/postgresql/15/bin/pg_ctl -D "$standby/data" -l "$standby/server.log" -w -t 60 \
    -o "-p $pgport -c listen_addresses=''" start >/dev/null
sed "s|^database:\$|database:\n  replica: \"host=$standby/run port=$pgport dbname=annuaire user=annuaire\"|" \
    "$work/annuaire.yaml" >"$work/replica.yaml"
# Both instances again, on the replica's configuration (the first one was bench_start's).
kill "$pid" && wait "$pid" 2>/dev/null || true
pid=
unserve "${serves[0]}"
serve "$work/replica.yaml"
first=$new_port
serve "$work/replica.yaml"
second=$new_port
scenario replica "$first" "$second"
reads=$(curl -s "http://127.0.0.1:$first/metrics" | awk '/^annuaire_db_reads_total\{server="replica"\}/ {print $2}')
[ "${reads:-0}" -gt 0 ] || { echo "the replica served no reads" >&2; exit 1; }

echo
one=${med_rate[one]}
for s in one two replica; do
    awk -v s="$s" -v r="${med_rate[$s]}" -v one="$one" -v cpu="${med_cpu[$s]}" -v n="$n" \
        -v pc="${med_per_core[$s]}" 'BEGIN {
        label = s == "one" ? "one instance" : s == "two" ? "two instances" : "two instances + replica"
        printf "%-24s %7.0f req/s = %9.0f addresses/s, %.2fx one instance; cores: %s; %.0f req/s per core of serve + postgres (%d bindings)\n",
               label ":", r, r * 1000, r / one, cpu, pc, n }'
done
