/*
 * The statements of what `annuaire sync` does besides a run (ldap-sync/ops.c, declared
 * in ldap-sync/store.h): the run lock of a source, --retire (sql/022_sync_retire.sql)
 * and its purge, --conflicts. Run on the command's own connection, each prepared on
 * first use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/db.h"
#include "ldap-sync/store.h"

/* The key of a source's advisory lock: one bigint, the 64-bit hash of its name in the
 * sync's namespace (two sources meet with a chance of 2^-64, as they would meet the
 * constant key of the migrate lock, core/store.c). pg_locks shows a bigint key as
 * classid (its high 32 bits), objid (its low 32 bits) and objsubid 1. */
#define LSYNC_LOCK_KEY "hashtextextended('annuaire.sync:' || $1, 0)"
#define LSYNC_LOCK_MATCH                                              \
    " l.locktype = 'advisory'"                                        \
    " AND l.granted"                                                  \
    " AND l.objsubid = 1"                                             \
    " AND l.classid = ((" LSYNC_LOCK_KEY " >> 32) & 4294967295)::oid" \
    " AND l.objid = (" LSYNC_LOCK_KEY " & 4294967295)::oid"

static const struct db_stmt lsync_store_ops_stmts[] = {
    /* One run of a source at a time, whichever machine starts it: a session advisory
     * lock taken before the run's transaction and released after it (or when the
     * connection ends). The session that takes it notices a client gone within
     * seconds, even in the middle of a statement (client_connection_check_interval),
     * or a machine gone (TCP keepalives: 60 s idle, then 6 probes 10 s apart), and
     * then ends, releasing the lock; set at each lock, since a reconnected session
     * (which has lost the lock) starts without them. */
    { "lsync_store_lock",
      "SELECT set_config('client_connection_check_interval', '10s', false) IS NOT NULL"
      " AND set_config('tcp_keepalives_idle', '60', false) IS NOT NULL"
      " AND set_config('tcp_keepalives_interval', '10', false) IS NOT NULL"
      " AND set_config('tcp_keepalives_count', '6', false) IS NOT NULL"
      " AND pg_try_advisory_lock(" LSYNC_LOCK_KEY ") AS locked" },
    { "lsync_store_unlock", "SELECT pg_advisory_unlock(" LSYNC_LOCK_KEY ") AS unlocked" },
    /* Whether this session still holds it (a connection reset in between loses it). */
    { "lsync_store_lock_held", "SELECT EXISTS (SELECT 1 FROM pg_locks l"
                               " WHERE" LSYNC_LOCK_MATCH " AND l.pid = pg_backend_pid()) AS held" },
    /* Who holds a source's lock: when its transaction (else its session) began, and
     * how long ago. */
    { "lsync_store_lock_holder",
      "SELECT to_char(coalesce(a.xact_start, a.backend_start), 'YYYY-MM-DD HH24:MI:SS TZ')"
      " AS since,"
      " extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::bigint AS age,"
      " l.pid, coalesce(host(a.client_addr), 'local') AS client"
      " FROM pg_locks l"
      " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
      " WHERE" LSYNC_LOCK_MATCH
      " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
      " LIMIT 1" },
    /* A run not made because another holds the lock, for /metrics (annuaire_sync_busy_total). */
    /* (Not a column of sync_sources: the holder's run keeps the source's row locked.) */
    { "lsync_store_busy", "INSERT INTO annuaire.sync_busy AS b (source, runs, last_at)"
                          " VALUES ($1, 1, now())"
                          " ON CONFLICT (source) DO UPDATE"
                          " SET runs = b.runs + 1, last_at = now()" },
    /* When the source was retired: no row, it is not (or the database does not know it). */
    { "lsync_store_retired", "SELECT to_char(retired_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS retired_at"
                             " FROM annuaire.sync_sources"
                             " WHERE name = $1"
                             " AND retired_at IS NOT NULL" },
    /* A retired source brought back (sync --unretire, inside its run's transaction). */
    { "lsync_store_unretire", "UPDATE annuaire.sync_sources"
                              " SET retired_at = NULL"
                              " WHERE name = $1"
                              " AND retired_at IS NOT NULL" },
    /* A retired source has no run of its own that would purge its soft-deleted entries:
     * every run purges those past the delay. */
    { "lsync_store_purge_retired",
      "DELETE FROM annuaire.directory_entries e"
      " USING annuaire.sync_sources s"
      " WHERE s.name = e.source"
      " AND s.retired_at IS NOT NULL"
      " AND e.deleted_at < now() - make_interval(days => $1::integer)" },
    /* What retiring a source would do: its live entries, their addresses, the bound
     * ones, those that would leave (no other live, enabled entry holds them: the rule of
     * the leavers trigger, sql/017), the conflicts it ends (two or more live claimants
     * now, at most one after) and the live entries of the whole annuaire. No row: the
     * database does not know the source. */
    { "lsync_store_retire_preview",
      "WITH gone AS (SELECT e.mails, e.disabled FROM annuaire.directory_entries e"
      "  WHERE e.source = $1 AND e.deleted_at IS NULL),"
      " claims AS (SELECT m.address, count(*) AS n, bool_or(NOT g.disabled) AS enabled"
      "  FROM gone g CROSS JOIN LATERAL unnest(g.mails) AS m(address)"
      "  GROUP BY m.address),"
      " addrs AS (SELECT c.address, c.n, c.enabled,"
      "  (SELECT count(*) FROM annuaire.directory_entries o"
      "   WHERE o.mails @> ARRAY[c.address] AND o.deleted_at IS NULL"
      "   AND o.source <> $1) AS others,"
      "  EXISTS (SELECT 1 FROM annuaire.directory_entries o"
      "   WHERE o.mails @> ARRAY[c.address] AND o.deleted_at IS NULL AND NOT o.disabled"
      "   AND o.source <> $1) AS kept,"
      "  EXISTS (SELECT 1 FROM annuaire.associations b"
      "   WHERE b.medium = 'email' AND b.address = c.address) AS bound"
      "  FROM claims c)"
      " SELECT to_char(s.retired_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS retired_at,"
      " (SELECT count(*) FROM gone) AS entries,"
      " (SELECT count(*) FROM addrs) AS addresses,"
      " (SELECT count(*) FILTER (WHERE bound) FROM addrs) AS bound,"
      " (SELECT count(*) FILTER (WHERE enabled AND NOT kept) FROM addrs) AS leaving,"
      " (SELECT count(*) FILTER (WHERE enabled AND NOT kept AND bound) FROM addrs)"
      " AS leaving_bound,"
      " (SELECT count(*) FILTER (WHERE n + others >= 2 AND others <= 1) FROM addrs)"
      " AS resolved,"
      " (SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NULL)"
      " AS annuaire_live"
      " FROM annuaire.sync_sources s"
      " WHERE s.name = $1" },
    { "lsync_store_retire", "SELECT annuaire.annuaire_sync_retire($1) AS removed" },
    /* Every address more than one live entry claims, with each claimant in the owner's
     * order (annuaire.directory_owner's rule: the lowest priority number, then source
     * name, then key): the first of an address owns it. */
    { "lsync_store_conflict_list",
      "WITH claims AS (SELECT m.address, e.source, e.key FROM annuaire.directory_entries e"
      "  CROSS JOIN LATERAL unnest(e.mails) AS m(address) WHERE e.deleted_at IS NULL),"
      " shared AS (SELECT address FROM claims GROUP BY address HAVING count(*) > 1)"
      " SELECT c.address, c.source, s.priority, c.key"
      " FROM claims c"
      " JOIN shared USING (address)"
      " LEFT JOIN annuaire.sync_sources s ON s.name = c.source"
      " ORDER BY c.address, s.priority, c.source, c.key" },
};

void
lsync_store_ops_init(void)
{
    db_register(lsync_store_ops_stmts, ANN_ARRAY_LEN(lsync_store_ops_stmts));
}

enum db_status
lsync_store_lock(struct db_conn *c, const char *source, bool *out_locked)
{
    static const char *const names[] = { "locked" };
    const char *params[] = { source };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st =
        db_exec_columns(c, "lsync_store_lock", 1, params, names, col, ANN_ARRAY_LEN(names), &res);

    *out_locked = st > 0 && db_value_bool(res, 0, col[0]);
    PQclear(res);
    return st == DB_NO_ROWS ? DB_HARD : st;
}

enum db_status
lsync_store_lock_held(struct db_conn *c, const char *source, bool *out_held)
{
    static const char *const names[] = { "held" };
    const char *params[] = { source };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "lsync_store_lock_held", 1, params, names, col,
                                        ANN_ARRAY_LEN(names), &res);

    *out_held = st > 0 && db_value_bool(res, 0, col[0]);
    PQclear(res);
    return st == DB_NO_ROWS ? DB_HARD : st;
}

enum db_status
lsync_store_unlock(struct db_conn *c, const char *source)
{
    const char *params[] = { source };
    enum db_status st = db_exec(c, "lsync_store_unlock", 1, params, NULL);

    return st == DB_NO_ROWS ? DB_HARD : st;
}

enum db_status
lsync_store_lock_holder(struct db_conn *c, const char *source, char *out, size_t out_size)
{
    static const char *const names[] = { "since", "age", "pid", "client" };
    const char *params[] = { source };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "lsync_store_lock_holder", 1, params, names, col,
                                        ANN_ARRAY_LEN(names), &res);

    out[0] = '\0';
    if (st > 0) {
        const char *since = db_value(res, 0, col[0]);
        long long age = db_value_count(res, 0, col[1]);
        char held[64] = "";

        if (since != NULL) {
            snprintf(held, sizeof(held), "since %s, held for %lldh%02lldm%02llds, ", since,
                     age / 3600, age / 60 % 60, age % 60);
        }
        snprintf(out, out_size, "%sbackend pid %s, client %s", held, PQgetvalue(res, 0, col[2]),
                 PQgetvalue(res, 0, col[3]));
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_busy(struct db_conn *c, const char *source)
{
    const char *params[] = { source };

    return db_exec(c, "lsync_store_busy", 1, params, NULL);
}

enum db_status
lsync_store_retired(struct db_conn *c, const char *source, char *out, size_t out_size)
{
    static const char *const names[] = { "retired_at" };
    const char *params[] = { source };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "lsync_store_retired", 1, params, names, col,
                                        ANN_ARRAY_LEN(names), &res);

    out[0] = '\0';
    if (st > 0) {
        snprintf(out, out_size, "%s", PQgetvalue(res, 0, col[0]));
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_unretire(struct db_conn *c, const char *source)
{
    const char *params[] = { source };

    return db_exec(c, "lsync_store_unretire", 1, params, NULL);
}

enum db_status
lsync_store_purge_retired(struct db_conn *c, long purge_days)
{
    char days[24];
    const char *params[] = { days };

    snprintf(days, sizeof(days), "%ld", purge_days);
    return db_exec(c, "lsync_store_purge_retired", 1, params, NULL);
}

enum db_status
lsync_store_retire_preview(struct db_conn *c,
                           const char *source,
                           struct lsync_store_retire_preview *out)
{
    static const char *const names[] = {
        "retired_at", "entries",       "addresses", "bound",
        "leaving",    "leaving_bound", "resolved",  "annuaire_live"
    };
    const char *params[] = { source };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "lsync_store_retire_preview", 1, params, names, col,
                                        ANN_ARRAY_LEN(names), &res);

    *out = (struct lsync_store_retire_preview){ 0 };
    if (st > 0) {
        const char *retired = db_value(res, 0, col[0]);

        snprintf(out->retired_at, sizeof(out->retired_at), "%s", retired ? retired : "");
        out->entries = db_value_count(res, 0, col[1]);
        out->addresses = db_value_count(res, 0, col[2]);
        out->bound = db_value_count(res, 0, col[3]);
        out->leaving = db_value_count(res, 0, col[4]);
        out->leaving_bound = db_value_count(res, 0, col[5]);
        out->resolved = db_value_count(res, 0, col[6]);
        out->annuaire_live = db_value_count(res, 0, col[7]);
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_retire(struct db_conn *c, const char *source, long long *out_removed)
{
    static const char *const names[] = { "removed" };
    const char *params[] = { source };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st =
        db_exec_columns(c, "lsync_store_retire", 1, params, names, col, ANN_ARRAY_LEN(names), &res);

    *out_removed = st > 0 ? db_value_count(res, 0, col[0]) : 0;
    PQclear(res);
    return st == DB_NO_ROWS ? DB_HARD : st;
}

enum db_status
lsync_store_conflict_list(struct db_conn *c, lsync_store_claim_fn fn, void *ctx)
{
    static const char *const names[] = { "address", "source", "priority", "key" };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "lsync_store_conflict_list", 0, NULL, names, col,
                                        ANN_ARRAY_LEN(names), &res);

    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        if (fn(ctx, PQgetvalue(res, i, col[0]), PQgetvalue(res, i, col[1]),
               db_value(res, i, col[2]), PQgetvalue(res, i, col[3])) != 0) {
            st = DB_HARD;
        }
    }
    PQclear(res);
    return st;
}
