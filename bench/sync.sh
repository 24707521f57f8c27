#!/usr/bin/env bash
# bench/sync.sh: full sync of a generated inetOrgPerson directory (slapd on loopback)
# into an empty annuaire, side by side with ldapsearch dumping the same entries to
# /dev/null; then the same entries as an LDIF file import.
#
#   bench/sync.sh [SIZES...]     default: 100000 1000000; RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
runs=${RUNS:-3}
ensure_packages "${LDAP_PACKAGES[@]}" python3-requests
bench_start
kill "$pid"; wait "$pid" 2>/dev/null || true; pid= # only the database is needed
export LDAPNOINIT=1
suffix="dc=example,dc=gouv,dc=fr"
summary=()

# Wall time (s) and peak RSS (kB) of a command: "secs kb".
measure() {
    /usr/bin/python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if r.returncode not in (0, 3):
    sys.stderr.write(r.stderr.decode()); sys.exit(1)
print(f"{time.monotonic() - t:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

for n in "${sizes[@]}"; do
    echo "== $n entries"
    data=$work/data-$n.ldif
    /usr/bin/python3 - "$n" "$data" "$suffix" <<'PY'
import base64, sys, uuid
n, data, suffix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
d = data[:-len(".ldif")]
with open(f"{d}-modify.ldif", "w") as f:
    step = max(1, n // 1000)
    for i in range(0, n, step)[:1000]:
        f.write(f"dn: uid=a{i:07d},ou=people,{suffix}\nchangetype: modify\nreplace: title\n"
                f"title: Cheffe de projet\n\n")
with open(f"{d}-modify1.ldif", "w") as f:
    f.write(f"dn: uid=a{n - 1:07d},ou=people,{suffix}\nchangetype: modify\nreplace: title\n"
            "title: Directrice\n\n")
names = ["Élodie", "Jean", "Camille", "Louis", "Séverine", "Thomas", "Zoé", "Hélène"]
with open(data, "w") as f:
    for i in range(n):
        g = names[i % len(names)]
        cn = base64.b64encode(f"{g} Agent{i}".encode()).decode()
        f.write(f"dn: uid=a{i:07d},ou=people,{suffix}\nobjectClass: inetOrgPerson\nuid: a{i:07d}\n"
                f"cn:: {cn}\nsn: Agent{i}\ngivenName:: {base64.b64encode(g.encode()).decode()}\n"
                f"displayName:: {cn}\nmail: a{i:07d}@ministere{i % 40}.gouv.fr\n"
                + (f"mail: alias{i}@ministere{i % 40}.gouv.fr\n" if i % 10 == 0 else "")
                + f"ou: Direction {i % 300}\ntitle: Chargé de mission\n"
                + ("mobile: +33 6 00 00 00 00\n" if i % 3 == 0 else "")
                + f"entryUUID: {uuid.UUID(int=i + 1)}\n\n")
PY
    # The tests' slapd (tests/integration/slapd.py), left running: directory and port.
    read -r sd sport < <(ANNUAIRE_IT_TMP=$work /usr/bin/python3 tests/integration/slapd.py \
        "$data" 5000 $((4 << 30)))
    printf 'secret\n' >"$sd/pw"
    cat >"$work/sync.yaml" <<CONF
database:
  conninfo: "host=$work/pg/run port=$pgport dbname=annuaire user=annuaire"
sync:
  sources:
    - name: bench
      ministry: Bench
      ldap:
        urls: ["ldap://127.0.0.1:$sport"]
        bind_dn: "cn=admin,$suffix"
        bind_password_file: $sd/pw
        base_dns: ["ou=people,$suffix"]
        filter: "(objectClass=inetOrgPerson)"
        page_size: 1000
        timeout: 600
    - name: benchldif
      ministry: Bench LDIF
      ldif: $data
    - name: benchcs
      ministry: Bench content sync
      ldap:
        urls: ["ldap://127.0.0.1:$sport"]
        bind_dn: "cn=admin,$suffix"
        bind_password_file: $sd/pw
        base_dns: ["ou=people,$suffix"]
        filter: "(objectClass=inetOrgPerson)"
        timeout: 600
        content_sync: true
CONF
    ls_t=()
    sy_t=()
    sy_rss=()
    lf_t=()
    for i in $(seq "$runs"); do
        m=$(measure ldapsearch -x -LLL -H "ldap://127.0.0.1:$sport" -D "cn=admin,$suffix" -w secret \
            -b "ou=people,$suffix" -E pr=1000/noprompt "(objectClass=inetOrgPerson)")
        ls_t+=("${m% *}")
        scripts/pg-cluster psql "$work/pg" -d annuaire -c "TRUNCATE annuaire.directory_entries CASCADE" \
            -c "DELETE FROM annuaire.sync_sources" >/dev/null
        m=$(measure build/annuaire sync -c "$work/sync.yaml" --source bench)
        sy_t+=("${m% *}")
        sy_rss+=("${m#* }")
        scripts/pg-cluster psql "$work/pg" -d annuaire -c "TRUNCATE annuaire.directory_entries CASCADE" \
            -c "DELETE FROM annuaire.sync_sources" >/dev/null
        m=$(measure build/annuaire sync -c "$work/sync.yaml" --source benchldif)
        lf_t+=("${m% *}")
        echo "  run $i: ldapsearch ${ls_t[-1]} s; sync from slapd ${sy_t[-1]} s (peak RSS ${sy_rss[-1]} kB); LDIF import ${lf_t[-1]} s"
    done
    # Incremental runs (RFC 4533): 1,000 entries changed, then the present phase after a
    # restart of slapd (its session log is lost).
    scripts/pg-cluster psql "$work/pg" -d annuaire -c "TRUNCATE annuaire.directory_entries CASCADE" \
        -c "DELETE FROM annuaire.sync_sources" >/dev/null
    cs_full=$(measure build/annuaire sync -c "$work/sync.yaml" --source benchcs)
    ldapmodify -x -H "ldap://127.0.0.1:$sport" -D "cn=admin,$suffix" -w secret -f "${data%.ldif}-modify.ldif" >/dev/null
    cs_inc=$(measure build/annuaire sync -c "$work/sync.yaml" --source benchcs)
    kill -INT "$(cat "$sd/run/slapd.pid")"
    while [ -f "$sd/run/slapd.pid" ] && kill -0 "$(cat "$sd/run/slapd.pid")" 2>/dev/null; do sleep 0.1; done
    /usr/sbin/slapd -F "$sd/slapd.d" -h "ldap://127.0.0.1:$sport/"
    sleep 0.5
    # A change the lost session log cannot describe: slapd answers with the present phase.
    ldapmodify -x -H "ldap://127.0.0.1:$sport" -D "cn=admin,$suffix" -w secret -f "${data%.ldif}-modify1.ldif" >/dev/null
    cs_present=$(measure build/annuaire sync -c "$work/sync.yaml" --source benchcs)
    echo "  content sync: first run ${cs_full% *} s; after 1,000 changes ${cs_inc% *} s; present phase after a restart ${cs_present% *} s"
    kill "$(cat "$sd/run/slapd.pid")"
    line=$(awk -v n="$n" -v ls="$(median "${ls_t[@]}")" -v sy="$(median "${sy_t[@]}")" \
        -v rss="$(median "${sy_rss[@]}")" -v lf="$(median "${lf_t[@]}")" 'BEGIN {
        printf "%d entries: ldapsearch %.2f s; full sync into an empty annuaire %.2f s (%.2fx); sync peak RSS %.0f MB; LDIF import %.2f s",
               n, ls, sy, sy / ls, rss / 1024, lf }')
    echo "  $line"
    summary+=("$line" "  content sync: first ${cs_full% *} s, 1,000 changes ${cs_inc% *} s, present phase ${cs_present% *} s")
    rm -rf "$sd"
done
echo
printf '%s\n' "${summary[@]}"
