# Shared by the bench scripts: builds, then starts a private PostgreSQL (on its
# unix socket in $work/pg/run only) and annuaire serve on the loopback port it
# picks (http.port 0, read from its log), all under one temporary directory that
# is removed on exit. Source from the top of the checkout after scripts/lib.sh.
# Sets: work, pgport (the number in the socket's name), port, pid. Extra config
# lines may be given in BENCH_CONFIG, the SMTP relay's port in SMTP_PORT, a binary
# already built in ANNUAIRE_BIN (then nothing is built).

# A loopback port nothing else is handed while this script runs (ports.py), for a
# server told its port before it starts (the internal listener, an SMTP relay).
reserve_port() {
    local p
    read -r p < <(/usr/bin/python3 tests/integration/ports.py $$)
    echo "$p"
}

bench_start() {
    ensure_packages "${BUILD_PACKAGES[@]}" "${PG_PACKAGES[@]}" wrk curl python3
    local bin=${ANNUAIRE_BIN:-build/annuaire}
    [ -n "${ANNUAIRE_BIN:-}" ] || build build
    work=$(mktemp -d /tmp/annuaire-bench.XXXXXX)
    chmod 755 "$work"
    pgport=5432
    port=
    pid=
    trap bench_stop EXIT
    scripts/pg-cluster start "$work/pg"
    scripts/pg-cluster psql "$work/pg" -d postgres -c "CREATE ROLE annuaire LOGIN" \
        -c "CREATE DATABASE annuaire OWNER annuaire"
    cat >"$work/annuaire.yaml" <<CONF
database:
  conninfo: "host=$work/pg/run port=$pgport dbname=annuaire user=annuaire"
http:
  port: 0
  threads: ${THREADS:-0}
  max_connections_per_ip: 0 # every connection of the load generator comes from one address
keys:
  signing_key_file: $work/signing.key
mail:
  templates_dir: $PWD/conf/templates
  smtp_port: ${SMTP_PORT:-25}
log:
  level: info
${BENCH_CONFIG:-}
CONF
    "$bin" migrate -c "$work/annuaire.yaml" >/dev/null 2>&1
    "$bin" keys generate -c "$work/annuaire.yaml" >/dev/null
    : >"$work/serve.log" # there before bench_wait_serve reads it
    "$bin" serve -c "$work/annuaire.yaml" 2>"$work/serve.log" &
    pid=$!
    port=$(bench_wait_serve "$work/serve.log")
}

# The port of the serve that logs to LOG, once it answers (10 s at most; else its log,
# and status 1).
bench_wait_serve() {
    local p=
    for _ in $(seq 100); do
        [ -n "$p" ] || p=$(sed -n 's/.* listening on 127\.0\.0\.1 port \([0-9]*\) with [0-9]* threads$/\1/p' "$1")
        [ -n "$p" ] && curl -sf "http://127.0.0.1:$p/_matrix/identity/v2" >/dev/null && { echo "$p"; return 0; }
        sleep 0.1
    done
    cat "$1" >&2
    return 1
}

bench_stop() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    scripts/pg-cluster stop "$work/pg"
    rm -rf "$work"
}

# The lookup benches' data (lookup.sh, scale.sh), in bench_start's database:
# associations FROM+1..N bound as bind writes them (hashed with PEPPER), loaded without
# the secondary indexes, which are then rebuilt.
bench_load_associations() {
    local from=$1 n=$2 pepper=$3
    scripts/pg-cluster psql "$work/pg" -d annuaire \
          -c "DROP INDEX IF EXISTS annuaire.associations_lookup_hash_idx" \
          -c "DROP INDEX IF EXISTS annuaire.associations_mxid_idx" \
          -c "INSERT INTO annuaire.associations (medium, address, mxid, ts, not_before, not_after, lookup_hash)
              SELECT 'email', 'agent' || i || '@ministere' || (i % 40) || '.gouv.fr',
                     '@agent' || i || ':ministere' || (i % 40) || '.gouv.fr', 0, 0, 1,
                     annuaire.lookup_hash('agent' || i || '@ministere' || (i % 40) || '.gouv.fr', 'email', '$pepper')
              FROM generate_series($((from + 1)), $n) AS i" \
          -c "CREATE INDEX associations_lookup_hash_idx ON annuaire.associations (lookup_hash)" \
          -c "CREATE INDEX associations_mxid_idx ON annuaire.associations (mxid)" \
          -c "VACUUM ANALYZE annuaire.associations"
}

# One lookup of 1,000 hashes, 500 bound (spread over the N loaded) and 500 unknown, for
# the "bench-token" account: $work/body.json, lookup.lua (wrk), and for pgbench the
# statement serve prepares (query.sql) with the same hashes (array.txt).
bench_lookup_request() {
    python3 - "$1" "$2" "$work" <<'PY'
import base64, hashlib, json, random, sys
n, pepper, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
random.seed(n)
def h(a): return base64.urlsafe_b64encode(hashlib.sha256(f"{a} email {pepper}".encode()).digest()).decode().rstrip("=")
bound = [f"agent{i}@ministere{i % 40}.gouv.fr" for i in random.sample(range(1, n + 1), 500)]
unknown = [f"nobody{i}@example.org" for i in range(500)]
hashes = [h(a) for a in bound + unknown]
random.shuffle(hashes)
body = json.dumps({"algorithm": "sha256", "pepper": pepper, "addresses": hashes})
open(f"{work}/body.json", "w").write(body)
open(f"{work}/lookup.lua", "w").write(
    'wrk.method = "POST"\n'
    'wrk.headers["Content-Type"] = "application/json"\n'
    'wrk.headers["Authorization"] = "Bearer bench-token"\n'
    f'wrk.body = [[{body}]]\n')
# The statement serve prepares, with the same 1,000 hashes as its parameter.
open(f"{work}/query.sql", "w").write(
    "SELECT p.pepper, a.lookup_hash, a.mxid FROM annuaire.lookup_pepper p "
    "LEFT JOIN annuaire.associations a ON a.lookup_hash = ANY (:arr::text[]);\n")
open(f"{work}/array.txt", "w").write("{" + ",".join(hashes) + "}")
PY
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
