#!/usr/bin/env bash
# bench/soak.sh: mixed traffic for a long time at 80% of the measured capacity, against a
# private PostgreSQL, annuaire serve and a real SMTP server, then a PASS/FAIL verdict.
#
#   bench/soak.sh                  capacity run, then SOAK_SECONDS (1800) at 80% of it
#   bench/soak.sh --smoke          (or SOAK_SMOKE=1) 60 s at 100 requests/s, no capacity run
#
# The mix: 70% POST /_matrix/identity/v2/lookup (20 to 100 hashes, half of them bound,
# among SOAK_BINDINGS associations), 20% GET /_matrix/identity/api/v1/info (routing file of
# 40 ministries, a validation domain and a catch-all; half bound agents, half externals),
# 10% POST /_matrix/identity/v2/validate/email/requestToken for an address never asked
# before. Every requestToken must give exactly one mail in the SMTP server
# (bench/soak.py sink, aiosmtpd), which submits the token of every tenth mail back.
#
# Client: wrk with bench/soak.lua, one connection per wrk thread (SOAK_CONNECTIONS, 32),
# each on a fixed schedule (open loop, see soak.lua). Capacity: the same mix as fast as
# answers come, SOAK_CAPACITY_SECONDS (30) with the same connections; the soak then runs
# at SOAK_LOAD percent (80) of the 2xx answers per second it got. Unless mails were still
# waiting when that run ended: the rate at which the mails delivered during the run would
# have kept up is then a lower bound, the full-throttle rate an upper one, and
# SOAK_PROBES (3) runs of SOAK_PROBE_SECONDS (20) bisect between them for the highest rate
# whose mails keep up. SOAK_RATE=N skips the capacity runs and sends N requests/s.
#
# Rate limits stay on, with budgets this traffic does not reach: a burst of 1,000,000 and
# a token a millisecond per key, and each connection is its own user (its own access
# token) and its own client address (X-Forwarded-For, 127.0.0.1 being a trusted proxy).
#
# Reported: errors (non-2xx, socket errors, requests sent without an answer, answers that
# do not hold what they must: target 0), p50/p99 per kind every SOAK_BUCKET_SECONDS (60;
# 10 in smoke mode), serve's RSS at the start and the end of the soak (growth under 10%),
# database connections and mail outbox backlog sampled every SOAK_SAMPLE_SECONDS (5),
# mails requested and received after a drain wait (until all arrived, or none for
# SOAK_DRAIN_IDLE seconds, 60), ERROR lines in serve's log, the CPU each process took.
# FAIL on any error, more than 1% of the schedule's slots unused, RSS growth of 10% or
# more, more database connections at the end than at the start, mails missing, twice or
# elsewhere, a token not accepted, an ERROR line, serve gone; exit status 1 then. The
# smoke run checks the same, RSS growth aside (reported only: a minute says nothing of a
# leak).
#
# ANNUAIRE_BIN=path: use that binary instead of building build/annuaire (the test does).
# SOAK_KEEP=DIR: copy the raw figures there (samples, wrk's results, the SMTP server's
# status, serve's log).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

smoke=${SOAK_SMOKE:-0}
for a in "$@"; do
    case $a in
    --smoke) smoke=1 ;;
    *) die "usage: bench/soak.sh [--smoke]" ;;
    esac
done
if [ "$smoke" = 1 ]; then
    secs=${SOAK_SECONDS:-60}
    bindings=${SOAK_BINDINGS:-10000}
    rate=${SOAK_RATE:-100}
    bucket=${SOAK_BUCKET_SECONDS:-10}
    export SOAK_CHECK_RSS=0
else
    secs=${SOAK_SECONDS:-1800}
    bindings=${SOAK_BINDINGS:-100000}
    rate=${SOAK_RATE:-}
    bucket=${SOAK_BUCKET_SECONDS:-60}
    export SOAK_CHECK_RSS=1
fi
conns=${SOAK_CONNECTIONS:-32}
load=${SOAK_LOAD:-80}
cap_secs=${SOAK_CAPACITY_SECONDS:-30}
probes=${SOAK_PROBES:-3}
probe_secs=${SOAK_PROBE_SECONDS:-20}
sample=${SOAK_SAMPLE_SECONDS:-5}
drain_idle=${SOAK_DRAIN_IDLE:-60}
for v in secs bindings bucket conns load cap_secs probe_secs sample drain_idle ${rate:+rate}; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v: ${!v} is not a positive whole number"
done
[[ $probes =~ ^[0-9]+$ ]] || die "SOAK_PROBES: $probes is not a whole number"
[ "$secs" -ge 10 ] && [ "$cap_secs" -ge 5 ] && [ "$probe_secs" -ge 5 ] ||
    die "SOAK_SECONDS must be 10 or more, SOAK_CAPACITY_SECONDS and SOAK_PROBE_SECONDS 5 or more"
[ "$conns" -le 256 ] || die "SOAK_CONNECTIONS: at most 256"

# As a test (bench.soak_smoke), what cannot be had is a skip unless services are required.
if [ "$smoke" = 1 ] && [ "${ANNUAIRE_TEST_REQUIRE_SERVICES:-0}" != 1 ]; then
    for p in wrk /usr/lib/postgresql/15/bin/initdb; do
        command -v "$p" >/dev/null || { echo "soak: $p not installed: skipped" >&2; exit 77; }
    done
    /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
        { echo "soak: python3-aiosmtpd not installed: skipped" >&2; exit 77; }
fi
. bench/lib.sh
ensure_packages python3-aiosmtpd
py=/usr/bin/python3
SMTP_PORT=$(reserve_port)
map=$(mktemp /tmp/annuaire-soak-routing.XXXXXX.yaml)
$py bench/soak.py routing "$map"
# Each connection's client address comes from X-Forwarded-For (soak.lua), as behind a
# reverse proxy; the proxy's address is trusted through the environment, since
# bench/lib.sh writes the http section.
export ANNUAIRE_HTTP_TRUSTED_PROXIES='["127.0.0.1/32"]'
BENCH_CONFIG="ratelimit:
  enabled: true
  lookup_ip_burst: 1000000
  lookup_ip_interval_ms: 1
  lookup_user_burst: 1000000
  lookup_user_interval_ms: 1
  request_token_ip_burst: 1000000
  request_token_ip_interval_ms: 1
  request_token_user_burst: 1000000
  request_token_user_interval_ms: 1
routing:
  info_file: $map"
bench_start
sink_pid=
sampler_pid=
soak_stop() {
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null && wait "$sampler_pid" 2>/dev/null || true
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null || true
    bench_stop
    rm -f "$map"
}
trap soak_stop EXIT

psql_() { scripts/pg-cluster psql "$work/pg" -d annuaire "$@"; }
say "loading $bindings associations and $conns accounts"
psql_ -q -c "INSERT INTO annuaire.accounts (token_hash, user_id)
             SELECT encode(sha256(convert_to('soak-token-' || i, 'UTF8')), 'hex'), '@soak' || i || ':hs.test'
             FROM generate_series(1, $conns) AS i"
pepper=$(psql_ -At -c "SELECT pepper FROM annuaire.lookup_pepper")
psql_ -q -c "DROP INDEX IF EXISTS annuaire.associations_lookup_hash_idx" \
    -c "DROP INDEX IF EXISTS annuaire.associations_mxid_idx" \
    -c "INSERT INTO annuaire.associations (medium, address, mxid, ts, not_before, not_after, lookup_hash)
        SELECT 'email', 'agent' || i || '@ministere' || (i % 40) || '.gouv.fr',
               '@agent' || i || ':ministere' || (i % 40) || '.gouv.fr', 0, 0, 1,
               annuaire.lookup_hash('agent' || i || '@ministere' || (i % 40) || '.gouv.fr', 'email', '$pepper')
        FROM generate_series(1, $bindings) AS i" \
    -c "CREATE INDEX associations_lookup_hash_idx ON annuaire.associations (lookup_hash)" \
    -c "CREATE INDEX associations_mxid_idx ON annuaire.associations (mxid)" \
    -c "VACUUM ANALYZE annuaire.associations"
$py bench/soak.py data "$bindings" "$pepper" "$work"

$py bench/soak.py sink "$SMTP_PORT" "$port" "$work/sink.json" $$ 2>"$work/sink.log" &
sink_pid=$!
for _ in $(seq 100); do
    [ -f "$work/sink.json" ] && break
    kill -0 "$sink_pid" 2>/dev/null || { cat "$work/sink.log" >&2; die "the SMTP server did not start"; }
    sleep 0.1
done
[ -f "$work/sink.json" ] || die "the SMTP server did not start"

sink_field() { # FIELD [PHASE]: a figure of the SMTP server's status
    $py -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(s["phases"].get(sys.argv[3], 0) if sys.argv[2] == "phase" else s[sys.argv[2]])' "$work/sink.json" "$@"
}
asked_mails() { cat "$1"* | awk '$1 == "count" && $2 == "validation" && $3 == 200 { s += $4 } END { print s + 0 }'; }
# Waits until the SMTP server holds N mails of PHASE (and every token to submit back is
# submitted), or until none arrived for $drain_idle s.
wait_mails() { # PHASE N
    local got last=-1 still=0
    while :; do
        got=$(sink_field phase "$1")
        if [ "$got" -ge "$2" ] && [ "$(sink_field submit_pending)" = 0 ]; then
            break
        fi
        if [ "$got" = "$last" ]; then
            still=$((still + 1))
            [ "$still" -lt $((drain_idle * 2)) ] || break
        else
            still=0
            last=$got
        fi
        sleep 0.5
    done
    echo "$got"
}

# One sample: seconds, serve's RSS (kB), client connections to the annuaire database
# (pg_stat_activity, this one aside), mails not yet sent, phase (0 before the soak, 1
# during, 2 after the drain).
sample_once() { # PHASE
    local rss conns
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    conns=$(psql_ -At -F ' ' -c "SELECT (SELECT count(*) FROM pg_stat_activity
                                          WHERE datname = 'annuaire' AND backend_type = 'client backend'
                                            AND pid <> pg_backend_pid()),
                                         (SELECT count(*) FROM annuaire.mail_outbox WHERE sent_at IS NULL)" \
        2>/dev/null || true)
    echo "$SECONDS ${rss:--1} ${conns:--1 -1} $1"
}
sampler() { # PHASE
    while :; do
        sample_once "$1"
        sleep "$sample"
    done
}

# CPU time (clock ticks) of serve, of the SMTP server and of PostgreSQL (the postmaster,
# the processes it reaped and those alive).
cpu_of() { # PID [1: with its reaped children]
    awk -v c="${2:-0}" '{ print $14 + $15 + (c ? $16 + $17 : 0) }' "/proc/$1/stat" 2>/dev/null || echo 0
}
cpu_snapshot() {
    local pm pg p
    pm=$(head -1 "$work/pg/data/postmaster.pid")
    pg=$(cpu_of "$pm" 1)
    for p in $(ps -o pid= --ppid "$pm"); do
        pg=$((pg + $(cpu_of "$p")))
    done
    echo "$(cpu_of "$pid") $pg $(cpu_of "$sink_pid")"
}

url="http://127.0.0.1:$port"
run_wrk() { # PHASE RATE SECONDS -> results in $work/PHASE.results, wrk's CPU in $work/PHASE.wrkcpu
    local TIMEFORMAT='%U %S'
    { time SOAK_DATA="$work/soak_data.lua" SOAK_RESULTS="$work/$1.results" SOAK_PHASE=$1 \
        SOAK_RATE=$2 SOAK_SECONDS=$3 SOAK_BUCKET_SECONDS=$bucket SOAK_CONNECTIONS=$conns \
        wrk -t"$conns" -c"$conns" -d"${3}s" -T10s -s bench/soak.lua "$url" >"$work/$1.wrk"; } \
        2>"$work/$1.wrkcpu"
    sed 's/^/  wrk: /' "$work/$1.wrk"
    [ -s "$work/$1.results" ] || die "wrk wrote no results (bench/soak.lua failed?)"
}

# Waits for every mail of a run of PHASE (dies if one is missing).
drain_run() { # PHASE
    local n got t0=$SECONDS
    n=$(asked_mails "$work/$1.results")
    got=$(wait_mails "$1" "$n")
    echo "mails of the $1 run: $n requested, $got received (the last ones $((SECONDS - t0)) s after its end)"
    [ "$got" = "$n" ] || die "the $1 run's mails did not all arrive ($got of $n)"
}

sample_once 0 >"$work/samples.tsv"
capacity=
if [ -z "$rate" ]; then
    say "capacity: the mix at full throttle for ${cap_secs}s, $conns connections"
    run_wrk cap 0 "$cap_secs"
    # The mix's capacity is also bounded by the mails its validations ask for: HTTP, and
    # a rate at which those delivered during the run would have kept up.
    read -r http_cap capacity < <($py bench/soak.py capacity "$work/cap.results" \
        "$(sink_field phase cap)" "$cap_secs")
    drain_run cap
    # Mails lagged: the sender had the full HTTP load beside it, and keeps up with more at a
    # lower rate. Bisect between the two: a probe keeps up if 99% of its mails were
    # delivered by the end of its run and it left at most 1% of its slots unused.
    for i in $(seq "$probes"); do
        [ "$capacity" -lt "$http_cap" ] || break
        mid=$(((capacity + http_cap) / 2))
        say "capacity probe $i: $mid requests/s for ${probe_secs}s (between $capacity and $http_cap)"
        run_wrk "probe$i" "$mid" "$probe_secs" >/dev/null
        n=$(asked_mails "$work/probe$i.results")
        got=$(sink_field phase "probe$i")
        missed=$(cat "$work/probe$i.results"* | awk '$1 == "missed" { s += $2 } END { print s + 0 }')
        if [ $((got * 100)) -ge $((n * 99)) ] && [ $((missed * 100)) -le $((mid * probe_secs)) ]; then
            echo "probe $i: kept up ($got of $n mails delivered by its end, $missed slots unused)"
            capacity=$mid
        else
            echo "probe $i: fell behind ($got of $n mails delivered by its end, $missed slots unused)"
            http_cap=$mid
        fi
        drain_run "probe$i"
    done
    rate=$((capacity * load / 100))
    [ "$rate" -gt 0 ] || die "no capacity measured"
else
    say "warm-up: ${rate} requests/s for 10s"
    run_wrk warm "$rate" 10
    drain_run warm
fi

say "soak: $rate requests/s for ${secs}s, $conns connections${capacity:+ ($load% of $capacity)}"
sampler 1 >>"$work/samples.tsv" &
sampler_pid=$!
cpu0=$(cpu_snapshot)
t0=$SECONDS
run_wrk soak "$rate" "$secs"
cpu1=$(cpu_snapshot)
wall=$((SECONDS - t0))
sample_once 1 >>"$work/samples.tsv"
kill "$sampler_pid" 2>/dev/null && wait "$sampler_pid" 2>/dev/null || true
sampler_pid=
alive=0
kill -0 "$pid" 2>/dev/null && alive=1
say "drain: waiting for the mails (at most ${drain_idle}s without one)"
t0=$SECONDS
wait_mails soak "$(asked_mails "$work/soak.results")" >/dev/null
echo "drain: $((SECONDS - t0)) s"
sample_once 2 >>"$work/samples.tsv"
# CPU shares over the soak: serve, PostgreSQL, SMTP server, wrk, wall seconds
read -r s0 p0 m0 <<<"$cpu0"
read -r s1 p1 m1 <<<"$cpu1"
hz=$(getconf CLK_TCK)
SOAK_CPU="$(awk -v hz="$hz" -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v m=$((m1 - m0)) \
    '{ print s / hz, p / hz, m / hz, $1 + $2 }' "$work/soak.wrkcpu") $wall"
export SOAK_CPU
errors=$(grep -c '^[^ ]* ERROR ' "$work/serve.log" || true)
warns=$(grep -c '^[^ ]* WARN ' "$work/serve.log" || true)
grep -m5 -E '^[^ ]* (ERROR|WARN) ' "$work/serve.log" | sed 's/^/  serve: /' || true
# (an if: under set -e a failed copy ending an && list would end the script before its
# report)
if [ -n "${SOAK_KEEP:-}" ]; then
    mkdir -p "$SOAK_KEEP" &&
        cp "$work"/{samples.tsv,sink.json,serve.log} "$work"/soak.results* "$SOAK_KEEP"/ ||
        echo "SOAK_KEEP=$SOAK_KEEP: the raw figures could not be copied there" >&2
fi
$py bench/soak.py report "$work/soak.results" "$work/samples.tsv" "$work/sink.json" \
    "$errors" "$warns" "$alive"
