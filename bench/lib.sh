# Shared by the bench scripts: builds, then starts a private PostgreSQL (on its
# unix socket in $work/pg/run only) and annuaire serve on the loopback port it
# picks (http.port 0, read from its log), all under one temporary directory that
# is removed on exit. Source from the top of the checkout after scripts/lib.sh.
# Sets: work, pgport (the number in the socket's name), port, pid. Extra config
# lines may be given in BENCH_CONFIG, the SMTP relay's port in SMTP_PORT.

# A loopback port nothing else is handed while this script runs (ports.py), for a
# server told its port before it starts (the internal listener, an SMTP relay).
reserve_port() {
    local p
    read -r p < <(/usr/bin/python3 tests/integration/ports.py $$)
    echo "$p"
}

bench_start() {
    ensure_packages "${BUILD_PACKAGES[@]}" "${PG_PACKAGES[@]}" wrk curl python3
    build build
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
    build/annuaire migrate -c "$work/annuaire.yaml" >/dev/null 2>&1
    build/annuaire keys generate -c "$work/annuaire.yaml" >/dev/null
    build/annuaire serve -c "$work/annuaire.yaml" 2>"$work/serve.log" &
    pid=$!
    for _ in $(seq 100); do
        [ -n "$port" ] || port=$(sed -n 's/.* listening on 127\.0\.0\.1 port \([0-9]*\) with [0-9]* threads$/\1/p' \
            "$work/serve.log")
        [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/_matrix/identity/v2" >/dev/null && return 0
        sleep 0.1
    done
    cat "$work/serve.log" >&2
    return 1
}

bench_stop() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    scripts/pg-cluster stop "$work/pg"
    rm -rf "$work"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
