#!/usr/bin/env bash
# bench/search.sh: directory search on a generated annuaire.
#
#  1. what the search tables cost a sync: an LDIF source of SYNC_N entries (default
#     100,000), then a run where every title changes (words unchanged) and one where
#     every surname changes too (words changed), the search triggers of
#     sql/019_search.sql disabled, then enabled (medians of RUNS);
#  2. bench/search-gen.sql fills N entries (default 2,500,000), `annuaire migrate`
#     computes their words and, through the triggers, the search tables: times, sizes;
#  3. 8 clients (`annuaire search --bench`, the service's own code and statements) each
#     search terms taken from the annuaire for SECS seconds: 40% 3-letter prefixes of the
#     300 commonest words, 30% common surnames whole, 30% given name + surname of a
#     random live entry; medians and p99 per kind, searches per second.
#
#   bench/search.sh [N]      RUNS=3 SYNC_N=100000 CLIENTS=8 SECS=20 PARTS="sync search"
#
# KEEP=1 leaves the work directory (its cluster stopped) and prints where it is;
# REUSE=DIR runs part 3 alone on the annuaire a KEEP=1 run left in DIR (kept again).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh

n=${1:-2500000}
runs=${RUNS:-3}
sync_n=${SYNC_N:-100000}
clients=${CLIENTS:-8}
secs=${SECS:-20}
parts=${PARTS:-sync search}
keep() { scripts/pg-cluster stop "$work/pg" >/dev/null || true; echo "kept: REUSE=$work"; }
if [[ -n ${REUSE:-} ]]; then
    ensure_packages "${BUILD_PACKAGES[@]}" "${PG_PACKAGES[@]}" python3
    build build
    work=$REUSE pgport=5432
    parts=search
    trap keep EXIT
    scripts/pg-cluster start "$work/pg" >/dev/null
else
bench_start
kill "$pid"; wait "$pid" 2>/dev/null || true; pid= # only the database is needed
[[ -z ${KEEP:-} ]] || trap keep EXIT
scripts/pg-cluster stop "$work/pg" >/dev/null
cat >>"$work/pg/postgresql.conf" <<'CONF'
shared_buffers = 2GB
work_mem = 16MB
maintenance_work_mem = 512MB
jit = off
CONF
scripts/pg-cluster start "$work/pg" >/dev/null
fi
psql_() { scripts/pg-cluster psql "$work/pg" -d annuaire -qAt "$@"; }
elapsed() { # seconds a command takes
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# ---- 1. the sync ----------------------------------------------------------------------
if [[ $parts == *sync* ]]; then
/usr/bin/python3 - "$sync_n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
given = ["Élodie", "Jean", "Camille", "Louis", "Séverine", "Thomas", "Zoé", "Hélène"]
sn = ["Martin", "Lefèvre", "Dupont", "D'Angelo", "Le Gall", "Nguyen", "Dubois", "Moreau"]
def export(name, surname=lambda i: sn[i % 8] + str(i // 8 % 1000), title="Chargé de mission"):
    with open(f"{work}/{name}.ldif", "w") as f:
        f.write("version: 1\n\n")
        for i in range(n):
            g, s = given[i % 8], surname(i)
            f.write(f"dn: uid=a{i:07d},ou=people,dc=bench\nobjectClass: inetOrgPerson\n"
                    f"uid: a{i:07d}\ncn: {g} {s}\ndisplayName: {g} {s}\ngivenName: {g}\n"
                    f"sn: {s}\nmail: a{i:07d}@bench.gouv.fr\nou: Direction {i % 300}\n"
                    f"title: {title}\nentryUUID: 00000000-0000-4000-8000-{i:012d}\n\n")
export("base")
export("retitled", title="Cheffe de projet")
export("renamed", surname=lambda i: sn[(i + 3) % 8] + "-" + given[i % 8], title="Cheffe de projet")
PY
conf() {
    cat >"$work/sync.yaml" <<CONF
database:
  conninfo: "host=$work/pg/run port=$pgport dbname=annuaire user=annuaire"
sync:
  sources:
    - name: bench
      ministry: Bench
      ldif: $work/$1.ldif
CONF
}
sync_() { conf "$1"; elapsed build/annuaire sync -c "$work/sync.yaml" --allow-mass-delete; }
declare -A sy
for trig in DISABLE ENABLE; do
    re=() rt=()
    for _ in $(seq "$runs"); do
        psql_ -c "TRUNCATE annuaire.directory_entries, annuaire.search_postings,
                  annuaire.search_terms, annuaire.search_term_dels, annuaire.search_entities" \
            -c "DELETE FROM annuaire.sync_sources"
        for t in insert update delete; do
            psql_ -c "ALTER TABLE annuaire.directory_entries $trig TRIGGER directory_entries_search_$t"
        done
        sync_ base >/dev/null
        rt+=("$(sync_ retitled)")
        re+=("$(sync_ renamed)")
    done
    sy[$trig]="$(median "${re[@]}") $(median "${rt[@]}")"
    echo "search triggers ${trig,,}d: $sync_n retitled $(median "${rt[@]}") s (runs ${rt[*]}), then renamed $(median "${re[@]}") s (runs ${re[*]})"
done
psql_ -c "TRUNCATE annuaire.directory_entries, annuaire.search_postings, annuaire.search_terms,
          annuaire.search_term_dels, annuaire.search_entities" -c "DELETE FROM annuaire.sync_sources"
fi
[[ $parts == *search* ]] || exit 0

# ---- 2. the generated annuaire and its search tables -------------------------------------
if [[ -z ${REUSE:-} ]]; then
gen=$(elapsed scripts/pg-cluster psql "$work/pg" -d annuaire -v ON_ERROR_STOP=1 -v n="$n" \
    -c "SET ROLE annuaire" -f bench/search-gen.sql)
fill=$(elapsed build/annuaire migrate -c "$work/annuaire.yaml")
psql_ -c "VACUUM ANALYZE annuaire.search_postings" -c "VACUUM ANALYZE annuaire.directory_entries" \
    -c "VACUUM ANALYZE annuaire.search_terms" -c "VACUUM ANALYZE annuaire.search_term_dels"
echo "generated $n entries in $gen s; words and search tables filled by annuaire migrate in $fill s"
psql_ -F ' ' -c "SELECT c.relname, c.reltuples::bigint, pg_size_pretty(pg_relation_size(c.oid))
                 FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                 WHERE s.nspname = 'annuaire' AND (c.relname LIKE 'search%'
                       OR c.relname LIKE 'directory_entries_search%')
                 ORDER BY c.relname"
fi

# ---- 3. searches under load --------------------------------------------------------------
psql_ -c "SELECT left(word, 3) FROM (SELECT p.word, count(*) AS k FROM annuaire.search_postings p
          WHERE length(p.word) >= 3 AND p.word !~ '^[0-9]' GROUP BY p.word
          ORDER BY k DESC, p.word LIMIT 300) t" >"$work/common3"
psql_ -c "SELECT lower(surname) FROM (SELECT surname, count(*) AS k
          FROM annuaire.directory_entries GROUP BY surname ORDER BY k DESC LIMIT 150) t" \
    >"$work/surnames"
psql_ -c "SELECT given_name || ' ' || surname FROM annuaire.directory_entries TABLESAMPLE
          BERNOULLI (1) REPEATABLE (7) WHERE NOT hidden AND NOT disabled AND deleted_at IS NULL
          LIMIT 5000" >"$work/pairs"
/usr/bin/python3 - "$work" "$clients" <<'PY'
import random, sys
work, clients = sys.argv[1], int(sys.argv[2])
kinds = {k: open(f"{work}/{f}").read().split("\n")[:-1]
         for k, f in (("prefix3", "common3"), ("surname", "surnames"), ("two", "pairs"))}
r = random.Random(42)
for c in range(clients):
    with open(f"{work}/terms{c}", "w") as f, open(f"{work}/kinds{c}", "w") as g:
        for _ in range(20000):
            k = r.choices(["prefix3", "surname", "two"], [4, 3, 3])[0]
            f.write(r.choice(kinds[k]) + "\n")
            g.write(k + "\n")
PY
# one warm-up pass of every term kind, then the clients
head -300 "$work/terms0" >"$work/warm"
build/annuaire search -c "$work/annuaire.yaml" --limit 20 --bench "$work/warm" >/dev/null
t0=$(date +%s.%N)
cpids=()
for c in $(seq 0 $((clients - 1))); do
    timeout "$secs" build/annuaire search -c "$work/annuaire.yaml" --limit 20 \
        --bench "$work/terms$c" >"$work/out$c" 2>/dev/null &
    cpids+=($!)
done
for p in "${cpids[@]}"; do wait "$p" || true; done
t1=$(date +%s.%N)
/usr/bin/python3 - "$work" "$clients" "$t0" "$t1" <<'PY'
import sys
work, clients, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
lat = {}
total = 0
for c in range(clients):
    kinds = open(f"{work}/kinds{c}").read().split("\n")
    for i, line in enumerate(open(f"{work}/out{c}")):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 3:
            continue  # the line being written when the client was stopped
        lat.setdefault(kinds[i], []).append(float(parts[0]))
        total += 1
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]
print(f"{clients} clients, {t1 - t0:.1f} s: {total} searches, {total / (t1 - t0):.0f} searches/s")
for k in ("prefix3", "surname", "two"):
    v = lat.get(k, [])
    if v:
        print(f"  {k:8} n={len(v):6}  median {q(v, 0.5):7.2f} ms  p99 {q(v, 0.99):7.2f} ms")
PY
