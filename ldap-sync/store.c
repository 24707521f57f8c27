/*
 * The sync's statements (ldap-sync/store.h): a source run's steps, the SQL
 * functions of sql/013_sync_steps.sql, called inside the transaction that
 * ldap-sync/reconcile.c opens on the command's own connection; the COPY that
 * streams the read; the run records, sync --status and the /metrics section.
 * With ldap-sync/ops_store.c (the run lock, --retire, --conflicts), the only files of
 * ldap-sync/ that see libpq.
 */
#include "ldap-sync/store.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/db.h"

/* Run by `annuaire sync` on its own connection, each prepared on first use. */
static const struct db_stmt lsync_store_stmts[] = {
    { "lsync_store_source_begin",
      "SELECT stored_cookie, full_due, live_entries, last_complete_read, direct"
      " FROM annuaire.annuaire_sync_begin($1, $2, $3::integer, $4::integer, $5::integer,"
      " $6::boolean)" },
    { "lsync_store_diff",
      "SELECT rejected, added, changed, removed, live_before, marks, backs,"
      " missing_unmentioned, marked"
      " FROM annuaire.annuaire_sync_diff($1, $2::boolean, $3::integer, $4::integer,"
      " $5::bigint, $6::boolean)" },
    { "lsync_store_apply",
      "SELECT annuaire.annuaire_sync_apply($1, $2::boolean, $3::boolean, $4::boolean,"
      " $5::boolean, $6::boolean, $7::boolean, $8, $9::boolean, $10::bigint, $11::bigint)" },
    { "lsync_store_conflicts", "SELECT address, claimed_by"
                               " FROM annuaire.annuaire_sync_conflicts($1, $2::boolean)" },
    /* The entries pending removal of a source, the longest missing first. */
    { "lsync_store_missing",
      "SELECT dn, key, to_char(missing_since, 'YYYY-MM-DD HH24:MI:SS TZ') AS since,"
      " missing_runs"
      " FROM annuaire.directory_entries"
      " WHERE source = $1"
      " AND missing_since IS NOT NULL"
      " AND deleted_at IS NULL"
      " ORDER BY missing_since, key"
      " LIMIT $2::integer" },
    /* The run and its sync.run audit entry, in one statement (so in the transaction of
     * the run when there is one): its counts, never its report. */
    { "lsync_store_run_insert",
      "WITH r AS (INSERT INTO annuaire.sync_runs (source, mode, started_at, status, error,"
      "  added, changed, removed, unchanged, rejected, conflicts, missing, dropped, report,"
      "  entries_read)"
      "  VALUES ($1, $2, now(), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
      "  coalesce($13::jsonb, '[]'), $14::bigint)"
      "  RETURNING id, source, mode, status, error, added, changed, removed, unchanged,"
      "  rejected, conflicts, missing, dropped, entries_read)"
      " INSERT INTO annuaire.audit_log (actor_kind, actor, action, object_kind, object_id,"
      "  outcome, details)"
      " SELECT $15, $16, 'sync.run', 'sync_source', source,"
      "  CASE status WHEN 'failed' THEN 'failed' WHEN 'refused' THEN 'refused' ELSE 'ok' END,"
      "  jsonb_strip_nulls(jsonb_build_object('run', id, 'mode', mode, 'status', status,"
      "  'added', added, 'changed', changed, 'removed', removed, 'unchanged', unchanged,"
      "  'rejected', rejected, 'conflicts', conflicts, 'missing', missing,"
      "  'dropped', dropped, 'entries_read', entries_read, 'error', error))"
      " FROM r" },
    { "lsync_store_status",
      "SELECT s.name, s.ministry,"
      " (SELECT count(*) FROM annuaire.directory_entries e"
      "  WHERE e.source = s.name AND e.deleted_at IS NULL) AS entries,"
      " r.mode, r.status, to_char(r.started_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS started_at,"
      " r.added, r.changed, r.removed, r.rejected, r.conflicts,"
      " coalesce(r.error, '') AS error,"
      " (SELECT count(*) FROM annuaire.directory_entries e"
      "  WHERE e.source = s.name AND e.missing_since IS NOT NULL"
      "  AND e.deleted_at IS NULL) AS missing_now,"
      " coalesce(r.missing, 0) AS missing_run,"
      " coalesce(to_char(s.retired_at, 'YYYY-MM-DD HH24:MI:SS TZ'), '') AS retired_at"
      " FROM annuaire.sync_sources s"
      " LEFT JOIN LATERAL (SELECT * FROM annuaire.sync_runs r"
      "  WHERE r.source = s.name ORDER BY r.started_at DESC, r.id DESC LIMIT 1) r ON true"
      " ORDER BY s.name" },
};

/* Served by `annuaire serve` (its connections prepare it at connect). */
static const struct db_stmt lsync_store_metrics_stmts[] = {
    /* The sources not retired, their last run and last success: runs of the sync
     * (sync --retire's records, mode 'retire', whether it retired the source or was
     * refused, are no run of the source), and the runs not made because another run
     * held the lock. */
    { "lsync_store_metrics",
      "SELECT s.name, s.entries,"
      " extract(epoch FROM r.ended_at)::bigint AS ended_at, r.status, r.added, r.changed,"
      " r.removed, r.rejected, r.conflicts, r.missing,"
      " (SELECT extract(epoch FROM max(ended_at))::bigint FROM annuaire.sync_runs o"
      "  WHERE o.source = s.name AND o.status IN ('success', 'partial')"
      "  AND o.mode <> 'retire') AS last_success,"
      " coalesce(b.runs, 0) AS busy"
      " FROM annuaire.sync_sources s"
      " LEFT JOIN LATERAL (SELECT * FROM annuaire.sync_runs r"
      "  WHERE r.source = s.name AND r.mode <> 'retire' ORDER BY r.id DESC LIMIT 1) r ON true"
      " LEFT JOIN annuaire.sync_busy b ON b.source = s.name"
      " WHERE s.retired_at IS NULL"
      " ORDER BY s.name" },
};

/* Read by the admin API (serve: its connections prepare them at connect). Times as ISO
 * 8601 UTC (annuaire.iso_utc), as every admin answer shows them. */
#define RUN_COLUMNS                                                                          \
    "r.id AS run_id, r.mode, r.status, annuaire.iso_utc(r.started_at) AS started_at,"        \
    " annuaire.iso_utc(r.ended_at) AS ended_at, r.added, r.changed, r.removed, r.unchanged," \
    " r.rejected, r.conflicts, r.missing, r.dropped, r.entries_read, r.error"

static const struct db_stmt lsync_store_admin_stmts[] = {
    /* Every source the database knows (a source whose first run failed has runs and
     * no row yet): its entries by state, the addresses its live entries share with
     * another live entry now (one pass over every live address, not a lookup per
     * address), and its last run. */
    { "lsync_store_sources",
      "WITH claims AS (SELECT e.source, m.address FROM annuaire.directory_entries e"
      "  CROSS JOIN LATERAL unnest(e.mails) AS m(address) WHERE e.deleted_at IS NULL),"
      " shared AS (SELECT address FROM claims GROUP BY address HAVING count(*) > 1),"
      " conflicts AS (SELECT c.source, count(DISTINCT c.address) AS n"
      "  FROM claims c JOIN shared USING (address) GROUP BY c.source)"
      " SELECT n.name, s.ministry, s.priority, annuaire.iso_utc(s.last_full_at) AS last_full_at,"
      " e.live, e.disabled, e.hidden, e.missing, e.deleted,"
      " coalesce(k.n, 0) AS conflicts_now, " RUN_COLUMNS
      " FROM (SELECT name FROM annuaire.sync_sources"
      "  UNION SELECT DISTINCT source FROM annuaire.sync_runs) n"
      " LEFT JOIN annuaire.sync_sources s ON s.name = n.name"
      " LEFT JOIN conflicts k ON k.source = n.name"
      " CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live,"
      "  count(*) FILTER (WHERE deleted_at IS NULL AND disabled) AS disabled,"
      "  count(*) FILTER (WHERE deleted_at IS NULL AND hidden) AS hidden,"
      "  count(*) FILTER (WHERE deleted_at IS NULL AND missing_since IS NOT NULL) AS missing,"
      "  count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted"
      "  FROM annuaire.directory_entries WHERE source = n.name) e"
      " LEFT JOIN LATERAL (SELECT * FROM annuaire.sync_runs r"
      "  WHERE r.source = n.name ORDER BY r.id DESC LIMIT 1) r ON true"
      " ORDER BY n.name" },
    /* Newest first, of one source or all, from a cursor (the id of the last run of the
     * page before). */
    { "lsync_store_runs", "SELECT r.source, " RUN_COLUMNS " FROM annuaire.sync_runs r"
                          " WHERE ($1::text IS NULL OR r.source = $1)"
                          " AND ($2::bigint IS NULL OR r.id < $2::bigint)"
                          " ORDER BY r.id DESC"
                          " LIMIT $3::integer" },
    /* The entries holding an address, live ones first in the owner's order
     * (annuaire.directory_owner's rule), each saying whether it owns it. */
    { "lsync_store_entries",
      "SELECT e.source, e.key, e.dn, s.ministry, e.entity, e.display_name, e.title,"
      " e.disabled, e.hidden, annuaire.iso_utc(e.deleted_at) AS deleted_at,"
      " annuaire.iso_utc(e.missing_since) AS missing_since,"
      " (o.key IS NOT NULL) AS owner"
      " FROM annuaire.directory_entries e"
      " LEFT JOIN annuaire.sync_sources s ON s.name = e.source"
      " LEFT JOIN annuaire.directory_owner($1) o ON o.source = e.source AND o.key = e.key"
      " WHERE e.mails @> ARRAY[$1]"
      " ORDER BY e.deleted_at IS NOT NULL, s.priority, e.source, e.key"
      " LIMIT $2::integer" },
};

void
lsync_store_admin_init(void)
{
    db_register(lsync_store_admin_stmts, ANN_ARRAY_LEN(lsync_store_admin_stmts));
}

void
lsync_store_init(void)
{
    db_register(lsync_store_stmts, ANN_ARRAY_LEN(lsync_store_stmts));
}

void
lsync_store_metrics_init(void)
{
    db_register(lsync_store_metrics_stmts, ANN_ARRAY_LEN(lsync_store_metrics_stmts));
}

enum db_status
lsync_store_source_begin(struct db_conn *c,
                         const struct lsync_source *src,
                         long purge_days,
                         bool direct_ok,
                         struct lsync_store_start *out)
{
    static const char *const names[] = { "stored_cookie", "full_due", "live_entries",
                                         "last_complete_read", "direct" };
    char prio[16], hours[16], days[24];
    const char *params[] = { src->name, src->ministry, prio,
                             hours,     days,          direct_ok ? "true" : "false" };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st;

    *out = (struct lsync_store_start){ 0 };
    snprintf(prio, sizeof(prio), "%d", src->priority);
    snprintf(hours, sizeof(hours), "%d", src->ldap.full_every_hours);
    snprintf(days, sizeof(days), "%ld", purge_days);
    st = db_exec_columns(c, "lsync_store_source_begin", 6, params, names, col, ANN_ARRAY_LEN(names),
                         &res);
    if (st > 0) {
        const char *cookie = db_value(res, 0, col[0]);

        out->cookie = cookie ? xstrdup(cookie) : NULL;
        out->full_due = db_value_bool(res, 0, col[1]);
        out->entries = db_value_count(res, 0, col[2]);
        out->last_read = db_value_count(res, 0, col[3]);
        out->direct = db_value_bool(res, 0, col[4]);
    } else if (st == DB_NO_ROWS) {
        st = DB_HARD; /* the function returns one row: a failure mapped to no rows */
    }
    PQclear(res);
    return st;
}

void
lsync_store_start_clear(struct lsync_store_start *s)
{
    free(s->cookie);
    *s = (struct lsync_store_start){ 0 };
}

/*
 * COPY data goes out without waiting for PostgreSQL (the connection is non-blocking
 * while copying): what the socket does not take yet waits in libpq's buffer, so the
 * directory and the database work at the same time. Past COPY_AHEAD bytes queued
 * since the buffer was last empty, the reader waits for the database to catch up.
 * (The count overestimates what is pending: a wait may come early, never late.)
 */
#define COPY_AHEAD (8 * 1024 * 1024)

struct lsync_copy {
    PGconn *pg;
    size_t queued;  /* COPY bytes handed to libpq since its buffer was last empty */
    bool direct;    /* into directory_entries */
    bool duplicate; /* that COPY met a key twice */
    bool copying;
};

struct lsync_copy *
lsync_store_copy_begin(struct db_conn *c, bool direct, char *err, size_t err_size)
{
    PGconn *pg = db_conn_pg(c);
    struct lsync_copy *cp;
    PGresult *res;

    if (pg == NULL) {
        snprintf(err, err_size, "database: %s", db_conn_error(c));
        return NULL;
    }
    res = PQexec(pg, direct ? "COPY annuaire.directory_entries (source, key, dn, mails,"
                              " display_name, given_name, surname, entity, title, mobile,"
                              " mobile_e164, hidden, disabled, content_hash, search_words,"
                              " search_entity_words, search_name) FROM STDIN"
                            : "COPY sync_staging FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        snprintf(err, err_size, "database: %s", PQerrorMessage(pg));
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    cp = xcalloc(1, sizeof(*cp));
    cp->pg = pg;
    cp->direct = direct;
    cp->copying = true;
    PQsetnonblocking(pg, 1); /* see lsync_store_copy_put */
    return cp;
}

/* COPY text format: backslash, tab, newline and carriage return escaped; NULL as \N. */
void
lsync_store_copy_field(struct util_buf *b, const char *s, bool last)
{
    if (s == NULL) {
        util_buf_put(b, "\\N", 2);
    } else {
        for (;;) {
            size_t plain = strcspn(s, "\\\t\n\r");

            util_buf_put(b, s, plain);
            s += plain;
            if (*s == '\0') {
                break;
            }
            util_buf_put(b,
                         *s == '\\'   ? "\\\\"
                         : *s == '\t' ? "\\t"
                         : *s == '\n' ? "\\n"
                                      : "\\r",
                         2);
            s++;
        }
    }
    util_buf_put(b, last ? "\n" : "\t", 1);
}

/* The COPY failed: the server's own error, and whether it is a key met twice. */
static void
copy_failed(struct lsync_copy *cp, PGresult *res, char *err, size_t err_size)
{
    PGresult *next;
    bool own = res == NULL;

    PQsetnonblocking(cp->pg, 0);
    if (own && cp->copying) {
        /* libpq may still be copying (a local failure): end the COPY so that the
         * results below come to an end. After an error from the server this does
         * nothing, and the server's error is what follows. */
        PQputCopyEnd(cp->pg, "the sync run stopped");
    }
    if (own) {
        res = PQgetResult(cp->pg);
    }
    if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        cp->duplicate = cp->direct && state != NULL && strcmp(state, "23505") == 0;
        snprintf(err, err_size, "database: %s", PQresultErrorMessage(res));
    } else {
        snprintf(err, err_size, "database: %s", PQerrorMessage(cp->pg));
    }
    if (own) {
        PQclear(res);
    }
    cp->copying = false;
    while ((next = PQgetResult(cp->pg)) != NULL) {
        PQclear(next);
    }
    cp->pg = NULL; /* over: the connection is the transaction's again */
}

/* Waits until the connection can take more data (and reads what the server sent
 * meanwhile, an error perhaps). @return 0, or -1 when the connection failed */
static int
wait_writable(struct lsync_copy *cp)
{
    struct pollfd p = { .fd = PQsocket(cp->pg), .events = POLLOUT | POLLIN };

    if (poll(&p, 1, -1) < 0) {
        return errno == EINTR ? 0 : -1;
    }
    return (p.revents & POLLIN) && PQconsumeInput(cp->pg) == 0 ? -1 : 0;
}

int
lsync_store_copy_put(struct lsync_copy *cp,
                     struct util_buf *rows,
                     bool drain,
                     char *err,
                     size_t err_size)
{
    int r = 0;

    if (cp->pg == NULL) {
        snprintf(err, err_size, "database: the COPY is over");
        return -1;
    }
    if (rows->len > 0) {
        /* 0: libpq could not queue it yet; it will once the socket takes some. */
        while ((r = PQputCopyData(cp->pg, rows->p, (int)rows->len)) == 0) {
            if (wait_writable(cp) != 0 || PQflush(cp->pg) < 0) {
                r = -1;
                break;
            }
        }
        if (r != 1) {
            copy_failed(cp, NULL, err, err_size);
            return -1;
        }
        cp->queued += rows->len;
        rows->len = 0;
    }
    while ((r = PQflush(cp->pg)) == 1 && (drain || cp->queued >= COPY_AHEAD)) {
        if (wait_writable(cp) != 0) {
            r = -1;
            break;
        }
    }
    if (r < 0) {
        copy_failed(cp, NULL, err, err_size);
        return -1;
    }
    if (r == 0) {
        cp->queued = 0;
    }
    return 0;
}

int
lsync_store_copy_end(struct lsync_copy *cp,
                     struct util_buf *rows,
                     long long *out_rows,
                     char *err,
                     size_t err_size)
{
    PGresult *res;

    *out_rows = 0;
    if (lsync_store_copy_put(cp, rows, true, err, err_size) != 0) {
        return -1;
    }
    if (PQsetnonblocking(cp->pg, 0) != 0 || PQputCopyEnd(cp->pg, NULL) != 1) {
        copy_failed(cp, NULL, err, err_size);
        return -1;
    }
    cp->copying = false;
    res = PQgetResult(cp->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        copy_failed(cp, res, err, err_size);
        PQclear(res);
        return -1;
    }
    *out_rows = atoll(PQcmdTuples(res));
    PQclear(res);
    while ((res = PQgetResult(cp->pg)) != NULL) {
        PQclear(res);
    }
    cp->pg = NULL; /* the statements that follow may drop the connection */
    return 0;
}

bool
lsync_store_copy_duplicate(const struct lsync_copy *cp)
{
    return cp != NULL && cp->duplicate;
}

void
lsync_store_copy_free(struct lsync_copy *cp)
{
    if (cp == NULL) {
        return;
    }
    if (cp->pg != NULL) {
        PQsetnonblocking(cp->pg, 0);
    }
    if (cp->pg != NULL && cp->copying) {
        PGresult *res;

        PQputCopyEnd(cp->pg, "aborted");
        while ((res = PQgetResult(cp->pg)) != NULL) {
            PQclear(res);
        }
    }
    free(cp);
}

enum db_status
lsync_store_diff(struct db_conn *c,
                 const struct lsync_store_diff_in *in,
                 struct lsync_store_diff *out)
{
    static const char *const names[] = { "rejected",    "added", "changed", "removed",
                                         "live_before", "marks", "backs",   "missing_unmentioned",
                                         "marked" };
    char runs[16], secs[16], live[24];
    const char *params[] = { in->source, in->delete_mode ? "true" : "false", runs, secs,
                             live,       in->bulk ? "true" : "false" };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st;

    *out = (struct lsync_store_diff){ 0 };
    snprintf(runs, sizeof(runs), "%d", in->grace_runs);
    snprintf(secs, sizeof(secs), "%d", in->grace_seconds);
    snprintf(live, sizeof(live), "%lld", in->entries);
    st = db_exec_columns(c, "lsync_store_diff", 6, params, names, col, ANN_ARRAY_LEN(names), &res);

    if (st > 0) {
        out->rejected = db_value_count(res, 0, col[0]);
        out->added = db_value_count(res, 0, col[1]);
        out->changed = db_value_count(res, 0, col[2]);
        out->removed = db_value_count(res, 0, col[3]);
        out->live_before = db_value_count(res, 0, col[4]);
        out->marks = db_value_count(res, 0, col[5]);
        out->backs = db_value_count(res, 0, col[6]);
        out->missing_unmentioned = db_value_count(res, 0, col[7]);
        out->marked = db_value_count(res, 0, col[8]);
    } else if (st == DB_NO_ROWS) {
        st = DB_HARD;
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_apply(struct db_conn *c, const struct lsync_store_apply *in)
{
    char live[24], read[24];
    const char *params[] = { in->source,
                             in->direct ? "true" : "false",
                             in->bulk ? "true" : "false",
                             in->removals ? "true" : "false",
                             in->absences ? "true" : "false",
                             in->backs ? "true" : "false",
                             in->analyze ? "true" : "false",
                             in->cookie,
                             in->delete_mode ? "true" : "false",
                             live,
                             read };
    enum db_status st;

    snprintf(live, sizeof(live), "%lld", in->live);
    snprintf(read, sizeof(read), "%lld", in->read);
    st = db_exec(c, "lsync_store_apply", 11, params, NULL);
    return st == DB_NO_ROWS ? DB_HARD : st;
}

enum db_status
lsync_store_conflicts(struct db_conn *c,
                      const char *source,
                      bool bulk,
                      lsync_store_conflict_fn fn,
                      void *ctx)
{
    static const char *const names[] = { "address", "claimed_by" };
    const char *params[] = { source, bulk ? "true" : "false" };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "lsync_store_conflicts", 2, params, names, col,
                                        ANN_ARRAY_LEN(names), &res);

    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        fn(ctx, PQgetvalue(res, i, col[0]), PQgetvalue(res, i, col[1]));
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_missing(struct db_conn *c,
                    const char *source,
                    int limit,
                    lsync_store_missing_fn fn,
                    void *ctx)
{
    static const char *const names[] = { "dn", "key", "since", "missing_runs" };
    char lim[16];
    const char *params[] = { source, lim };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st;

    snprintf(lim, sizeof(lim), "%d", limit);
    st = db_exec_columns(c, "lsync_store_missing", 2, params, names, col, ANN_ARRAY_LEN(names),
                         &res);

    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        if (fn(ctx, PQgetvalue(res, i, col[0]), PQgetvalue(res, i, col[1]),
               PQgetvalue(res, i, col[2]), atoi(PQgetvalue(res, i, col[3]))) != 0) {
            st = DB_HARD;
        }
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_run_insert(struct db_conn *c, const struct lsync_store_run *run)
{
    const long long counts[] = { run->added,     run->changed,  run->removed,
                                 run->unchanged, run->rejected, run->conflicts,
                                 run->missing,   run->dropped,  run->read };
    char n[ANN_ARRAY_LEN(counts)][24];
    const char *params[16] = { run->source, run->mode, run->status, run->error };
    enum db_status st;

    for (size_t i = 0; i < ANN_ARRAY_LEN(counts); i++) {
        snprintf(n[i], sizeof(n[i]), "%lld", counts[i]);
    }
    for (size_t i = 0; i < 8; i++) {
        params[4 + i] = n[i];
    }
    params[12] = run->report;
    params[13] = run->read >= 0 ? n[8] : NULL;
    params[14] = run->actor_kind != NULL ? run->actor_kind : "system";
    params[15] = run->actor != NULL ? run->actor : "system";
    st = db_exec(c, "lsync_store_run_insert", 16, params, NULL);
    return st == DB_NO_ROWS ? DB_HARD : st;
}

enum db_status
lsync_store_status(struct db_conn *c, lsync_store_status_fn fn, void *ctx)
{
    static const char *const names[] = { "name",        "ministry",    "entries",   "mode",
                                         "status",      "started_at",  "added",     "changed",
                                         "removed",     "rejected",    "conflicts", "error",
                                         "missing_now", "missing_run", "retired_at" };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st =
        db_exec_columns(c, "lsync_store_status", 0, NULL, names, col, ANN_ARRAY_LEN(names), &res);

    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        /* PQgetvalue gives "" for NULL: a source without a run prints empty fields. */
        const struct lsync_store_status row = {
            .source = PQgetvalue(res, i, col[0]),
            .ministry = PQgetvalue(res, i, col[1]),
            .entries = PQgetvalue(res, i, col[2]),
            .mode = PQgetvalue(res, i, col[3]),
            .status = PQgetvalue(res, i, col[4]),
            .started_at = PQgetvalue(res, i, col[5]),
            .added = PQgetvalue(res, i, col[6]),
            .changed = PQgetvalue(res, i, col[7]),
            .removed = PQgetvalue(res, i, col[8]),
            .rejected = PQgetvalue(res, i, col[9]),
            .conflicts = PQgetvalue(res, i, col[10]),
            .error = PQgetvalue(res, i, col[11]),
            .missing_now = PQgetvalue(res, i, col[12]),
            .missing_run = PQgetvalue(res, i, col[13]),
            .retired_at = PQgetvalue(res, i, col[14]),
        };

        if (fn(ctx, &row) != 0) {
            st = DB_HARD;
        }
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_metrics(struct db_conn *c, lsync_store_metric_fn fn, void *ctx)
{
    static const char *const names[] = { "name",      "entries", "ended_at",     "status",
                                         "added",     "changed", "removed",      "rejected",
                                         "conflicts", "missing", "last_success", "busy" };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st =
        db_exec_columns(c, "lsync_store_metrics", 0, NULL, names, col, ANN_ARRAY_LEN(names), &res);

    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        struct lsync_store_metric row = {
            .source = db_value(res, i, col[0]),
            .entries = db_value(res, i, col[1]),
            .ended_at = db_value(res, i, col[2]),
            .status = db_value(res, i, col[3]),
            .last_success = db_value(res, i, col[10]),
            .busy = db_value(res, i, col[11]),
        };

        for (size_t k = 0; k < ANN_ARRAY_LEN(row.counts); k++) {
            row.counts[k] = db_value(res, i, col[4 + k]);
        }
        fn(ctx, &row);
    }
    PQclear(res);
    return st;
}

/* The run columns (RUN_COLUMNS) of row i, from col[0] (run_id) on; run_id NULL: none. */
#define RUN_NAMES                                                                        \
    "run_id", "mode", "status", "started_at", "ended_at", "added", "changed", "removed", \
        "unchanged", "rejected", "conflicts", "missing", "dropped", "entries_read", "error"
#define RUN_N_COLS 15

static void
run_of(const PGresult *res, int i, const int *col, struct lsync_store_run_row *out)
{
    out->id = db_value(res, i, col[0]);
    out->mode = db_value(res, i, col[1]);
    out->status = db_value(res, i, col[2]);
    out->started_at = db_value(res, i, col[3]);
    out->ended_at = db_value(res, i, col[4]);
    for (size_t k = 0; k < ANN_ARRAY_LEN(out->counts); k++) {
        out->counts[k] = db_value(res, i, col[5 + k]);
    }
    out->error = db_value(res, i, col[14]);
}

enum db_status
lsync_store_sources(struct db_conn *c, lsync_store_source_fn fn, void *ctx)
{
    static const char *const names[] = { "name",    "ministry",      "priority", "last_full_at",
                                         "live",    "disabled",      "hidden",   "missing",
                                         "deleted", "conflicts_now", RUN_NAMES };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st =
        db_exec_columns(c, "lsync_store_sources", 0, NULL, names, col, ANN_ARRAY_LEN(names), &res);

    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        struct lsync_store_source_row row = {
            .name = db_value(res, i, col[0]),
            .ministry = db_value(res, i, col[1]),
            .priority = db_value(res, i, col[2]),
            .last_full_at = db_value(res, i, col[3]),
            .conflicts = db_value(res, i, col[9]),
        };

        for (size_t k = 0; k < ANN_ARRAY_LEN(row.entries); k++) {
            row.entries[k] = db_value(res, i, col[4 + k]);
        }
        run_of(res, i, col + 10, &row.run);
        fn(ctx, &row);
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_runs(struct db_conn *c,
                 const char *source,
                 const char *before_id,
                 long limit,
                 lsync_store_run_fn fn,
                 void *ctx)
{
    static const char *const names[] = { "source", RUN_NAMES };
    char lim[24];
    const char *params[] = { source, before_id, lim };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st;

    snprintf(lim, sizeof(lim), "%ld", limit);
    st = db_exec_columns(c, "lsync_store_runs", 3, params, names, col, ANN_ARRAY_LEN(names), &res);
    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        struct lsync_store_run_row row = { 0 };

        run_of(res, i, col + 1, &row);
        fn(ctx, db_value(res, i, col[0]), &row);
    }
    PQclear(res);
    return st;
}

enum db_status
lsync_store_entries(struct db_conn *c,
                    const char *address,
                    int limit,
                    lsync_store_entry_fn fn,
                    void *ctx)
{
    static const char *const names[] = { "source",     "key",           "dn",
                                         "ministry",   "entity",        "display_name",
                                         "title",      "disabled",      "hidden",
                                         "deleted_at", "missing_since", "owner" };
    char lim[16];
    const char *params[] = { address, lim };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st;

    snprintf(lim, sizeof(lim), "%d", limit);
    st = db_exec_columns(c, "lsync_store_entries", 2, params, names, col, ANN_ARRAY_LEN(names),
                         &res);
    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        const struct lsync_store_entry_row row = {
            .source = db_value(res, i, col[0]),
            .key = db_value(res, i, col[1]),
            .dn = db_value(res, i, col[2]),
            .ministry = db_value(res, i, col[3]),
            .entity = db_value(res, i, col[4]),
            .display_name = db_value(res, i, col[5]),
            .title = db_value(res, i, col[6]),
            .disabled = db_value_bool(res, i, col[7]),
            .hidden = db_value_bool(res, i, col[8]),
            .deleted_at = db_value(res, i, col[9]),
            .missing_since = db_value(res, i, col[10]),
            .owner = db_value_bool(res, i, col[11]),
        };

        fn(ctx, &row);
    }
    PQclear(res);
    return st;
}

/* Run by `annuaire migrate` (ldap-sync/words.c), on its own connection. */
static const struct db_stmt lsync_store_words_stmts[] = {
    /* Addresses are canonical (no control character): one per line. */
    { "lsync_store_words_pending", "SELECT id, display_name, given_name, surname, entity,"
                                   " array_to_string(mails, E'\\n') AS mails"
                                   " FROM annuaire.directory_entries"
                                   " WHERE search_words IS NULL"
                                   " AND id > $1::bigint"
                                   " ORDER BY id"
                                   " LIMIT $2::integer" },
    /* A sync that wrote the words meanwhile has the last word. */
    { "lsync_store_words_set", "UPDATE annuaire.directory_entries e"
                               " SET search_words = u.words::text[],"
                               " search_entity_words = u.entity_words::text[],"
                               " search_name = u.name"
                               " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])"
                               " AS u(id, words, entity_words, name)"
                               " WHERE e.id = u.id"
                               " AND e.search_words IS NULL" },
};

void
lsync_store_words_init(void)
{
    db_register(lsync_store_words_stmts, ANN_ARRAY_LEN(lsync_store_words_stmts));
}

enum db_status
lsync_store_words_pending(struct db_conn *c,
                          long long after_id,
                          int limit,
                          lsync_store_words_fn fn,
                          void *ctx)
{
    static const char *const names[] = { "id",      "display_name", "given_name",
                                         "surname", "entity",       "mails" };
    char after[24], lim[16];
    const char *params[] = { after, lim };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st;
    char **mails = NULL;
    size_t cap = 0;

    snprintf(after, sizeof(after), "%lld", after_id);
    snprintf(lim, sizeof(lim), "%d", limit);
    st = db_exec_columns(c, "lsync_store_words_pending", 2, params, names, col,
                         ANN_ARRAY_LEN(names), &res);
    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        struct lsync_store_words_row row = { .id = strtoll(PQgetvalue(res, i, col[0]), NULL, 10) };
        const char *text[4];
        char *copy = xstrdup(PQgetvalue(res, i, col[5])); /* split in place */
        char *list = copy;

        for (int k = 0; k < 4; k++) {
            text[k] = PQgetisnull(res, i, col[1 + k]) ? NULL : PQgetvalue(res, i, col[1 + k]);
        }
        row.in.display_name = text[0];
        row.in.given_name = text[1];
        row.in.surname = text[2];
        row.in.entity = text[3];
        while (*list != '\0') {
            char *nl = strchr(list, '\n');

            if (row.in.n_mails == cap) {
                cap = cap == 0 ? 8 : cap * 2;
                mails = xrealloc(mails, cap * sizeof(*mails));
            }
            mails[row.in.n_mails++] = list;
            if (nl == NULL) {
                break;
            }
            *nl = '\0';
            list = nl + 1;
        }
        row.in.mails = (const char *const *)mails;
        fn(ctx, &row);
        free(copy);
    }
    free(mails);
    PQclear(res);
    return st;
}

enum db_status
lsync_store_words_set(struct db_conn *c,
                      const char *const *ids,
                      const char *const *words,
                      const char *const *entity_words,
                      const char *const *names,
                      size_t n,
                      long long *out_updated)
{
    char *arrays[4] = { db_text_array(ids, n), db_text_array(words, n),
                        db_text_array(entity_words, n), db_text_array(names, n) };
    enum db_status st = db_exec(c, "lsync_store_words_set", 4, (const char *const *)arrays, NULL);

    for (size_t i = 0; i < ANN_ARRAY_LEN(arrays); i++) {
        free(arrays[i]);
    }
    *out_updated = st > 0 ? st : 0;
    return st;
}
