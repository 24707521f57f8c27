#!/usr/bin/env bash
# bench/triggers.sh: what the statement triggers of annuaire.directory_entries (leavers,
# sql/017; search, sql/019; their plans, sql/023) cost on mass changes, median of RUNS,
# for each size N (entries of one LDIF source, synced in by `annuaire sync`):
#   update   one UPDATE of every entry's title (search words unchanged, no leaver), in a
#            session of its own;
#   remove   the removal statement of a sync run for all entries but one (what a run of an
#            export with one entry left does with --allow-mass-delete and no removal
#            grace): N - 1 leavers, N - 1 entries out of the search;
#   1+rest   in one session, an UPDATE of one entry's title, then one of all the others
#            (the plans the first statement leaves behind, applied to the second).
# Every statement is stopped after TIMEOUT seconds (default 600): one that takes longer
# prints ">TIMEOUT". With SYNC_REMOVE=1, "remove" is that sync run, timed whole, instead
# (it also looks for conflicts, annuaire_sync_conflicts, which takes minutes at 100,000).
#
#   bench/triggers.sh [SIZES...]     default: 100 100000; RUNS=3 TIMEOUT=600
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 100000)
runs=${RUNS:-3}
timeout=${TIMEOUT:-600}
bench_start
kill "$pid"; wait "$pid" 2>/dev/null || true; pid= # only the database is needed
bin=${ANNUAIRE_BIN:-build/annuaire}
export PGOPTIONS="-c statement_timeout=${timeout}s"

psql_() { scripts/pg-cluster psql "$work/pg" -d annuaire -qAt "$@"; }
# The time of the last statement of a psql run given -c ... (seconds), or >TIMEOUT.
last_ms() {
    local out
    if out=$(psql_ -c '\timing on' "$@" 2>&1); then
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | tail -1 | awk '{ printf "%.2f", $1 / 1000 }'
    elif grep -q 'statement timeout' <<<"$out"; then
        echo ">$timeout"
    else
        echo "$out" >&2
        return 1
    fi
}
conf() {
    cat >"$work/sync.yaml" <<CONF
database:
  conninfo: "host=$work/pg/run port=$pgport dbname=annuaire user=annuaire"
sync:
  removal_grace_runs: 0
  removal_grace_seconds: 0
  sources:
    - name: bench
      ministry: Bench
      ldif: $work/$1.ldif
CONF
}
# A sync run's wall time (seconds), or >TIMEOUT: its own connection has no statement
# timeout, so a run still going after TIMEOUT seconds is stopped and its statement
# cancelled.
sync_secs() {
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    timeout "$timeout" "$bin" sync -c "$work/sync.yaml" --allow-mass-delete >/dev/null 2>"$work/sync.err" || rc=$?
    t1=$(date +%s.%N)
    if [ "$rc" = 124 ]; then
        psql_ -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
                  WHERE datname = 'annuaire' AND pid <> pg_backend_pid()" >/dev/null
        echo ">$timeout"
    elif [ "$rc" != 0 ]; then
        cat "$work/sync.err" >&2
        return 1
    else
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
    fi
}
med() { if [[ " $* " == *">"* ]]; then echo ">$timeout"; else median "$@"; fi; }

summary=()
for n in "${sizes[@]}"; do
    /usr/bin/python3 - "$n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
def export(name, count):
    with open(f"{work}/{name}.ldif", "w") as f:
        f.write("version: 1\n\n")
        for i in range(count):
            f.write(f"dn: uid=a{i:07d},ou=people,dc=bench\nobjectClass: inetOrgPerson\n"
                    f"uid: a{i:07d}\ncn: Agent {i}\nsn: Agent{i}\ngivenName: Camille\n"
                    f"mail: a{i:07d}@bench.gouv.fr\nou: Direction {i % 300}\n"
                    f"title: Chargé de mission\nentryUUID: 00000000-0000-4000-8000-{i:012d}\n\n")
export(f"base-{n}", n)
export(f"one-{n}", 1)
PY
    first="00000000-0000-4000-8000-000000000000"
    up=() rm=() rest=()
    for i in $(seq "$runs"); do
        psql_ -c "TRUNCATE annuaire.directory_entries, annuaire.directory_leavers CASCADE" \
            -c "DELETE FROM annuaire.sync_sources"
        conf "base-$n"; sync_secs >/dev/null
        psql_ -c "VACUUM ANALYZE annuaire.directory_entries"
        up+=("$(last_ms -c "UPDATE annuaire.directory_entries SET title = 'Cheffe de projet $i'")")
        rest+=("$(last_ms -c "UPDATE annuaire.directory_entries SET title = 'Directrice' WHERE key = '$first'" \
            -c "UPDATE annuaire.directory_entries SET title = 'Directrice' WHERE key <> '$first'")")
        if [ "${SYNC_REMOVE:-0}" = 1 ]; then
            conf "one-$n"; rm+=("$(sync_secs)")
        else
            rm+=("$(last_ms -c "UPDATE annuaire.directory_entries
                SET deleted_at = now(), missing_since = NULL, missing_runs = 0
                WHERE source = 'bench' AND key <> '$first' AND deleted_at IS NULL")")
        fi
        echo "  $n entries, run $i: update ${up[-1]} s; remove ${rm[-1]} s; 1+rest ${rest[-1]} s;" \
            "leavers $(psql_ -c 'SELECT count(*) FROM annuaire.directory_leavers')"
    done
    summary+=("$n entries: update $(med "${up[@]}") s; removal of $((n - 1)) $(med "${rm[@]}") s; 1 then $((n - 1)) updated $(med "${rest[@]}") s")
done
echo
printf '%s\n' "${summary[@]}"
