#!/usr/bin/env bash
# bench/leavers.sh: what recording leavers (sql/017_leavers.sql, a statement trigger on
# annuaire.directory_entries) costs, with the trigger disabled and then enabled, median of
# RUNS, on an LDIF source of 2N entries: a sync run that changes every entry (a new title:
# no leaver), one that disables N (N leavers), and the sync's removal statement for N
# entries (N leavers) alone, in a transaction rolled back. (A sync run that only removes
# entries spends its time looking for conflicts address by address, with or without the
# trigger: its statement is timed instead.)
#
#   bench/leavers.sh [N]     default: 100000; RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh

n=${1:-100000}
runs=${RUNS:-3}
bench_start
kill "$pid"; wait "$pid" 2>/dev/null || true; pid= # only the database is needed

/usr/bin/python3 - "$n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
def export(name, title="Chargé de mission", uac=lambda i: 512, keep=lambda i: True):
    with open(f"{work}/{name}.ldif", "w") as f:
        f.write("version: 1\n\n")
        for i in range(2 * n):
            if keep(i):
                f.write(f"dn: uid=a{i:07d},ou=people,dc=bench\nobjectClass: inetOrgPerson\n"
                        f"uid: a{i:07d}\ncn: Agent {i}\nsn: Agent{i}\nmail: a{i:07d}@bench.gouv.fr\n"
                        f"title: {title}\nuserAccountControl: {uac(i)}\n"
                        f"entryUUID: 00000000-0000-4000-8000-{i:012d}\n\n")
export("base")
export("changed", title="Cheffe de projet", keep=lambda i: True)
export("disabled", uac=lambda i: 514 if i < n else 512)
PY
psql_() { scripts/pg-cluster psql "$work/pg" -d annuaire -qAt "$@"; }
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
      attributes:
        disabled: userAccountControl
CONF
}
secs() {
    local t0 t1
    t0=$(date +%s.%N)
    build/annuaire sync -c "$work/sync.yaml" --allow-mass-delete >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
for trigger in DISABLE ENABLE; do
    ch=() di=() re=()
    for _ in $(seq "$runs"); do
        psql_ -c "ALTER TABLE annuaire.directory_entries $trigger TRIGGER directory_entries_leavers" \
            -c "TRUNCATE annuaire.directory_entries, annuaire.directory_leavers" \
            -c "DELETE FROM annuaire.sync_sources"
        conf base; secs >/dev/null
        conf changed; ch+=("$(secs)")
        conf base; secs >/dev/null
        conf disabled; di+=("$(secs)")
        conf base; secs >/dev/null
        re+=("$(psql_ -c '\timing on' -c 'BEGIN' \
            -c "UPDATE annuaire.directory_entries SET deleted_at = now()
                WHERE source = 'bench' AND key < '00000000-0000-4000-8000-$(printf '%012d' "$n")'" \
            -c 'ROLLBACK' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 2p |
            awk '{ printf "%.3f", $1 / 1000 }')")
    done
    echo "trigger ${trigger,,}d: $n changed $(median "${ch[@]}") s, $n disabled $(median "${di[@]}") s," \
        "the removal of $n $(median "${re[@]}") s; leavers recorded: $(psql_ -c 'SELECT count(*) FROM annuaire.directory_leavers')"
done
