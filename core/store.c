/*
 * Core's store (see core/store.h): the statements of the mail outbox, of the
 * queue worker and of the schema migrations, and the functions that run them
 * and hand back values.
 */
#include "core/store.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* pg_advisory_xact_lock key serialising concurrent `annuaire migrate` runs. */
#define MIGRATE_LOCK_KEY "1634626677"

static const struct db_stmt store_stmts[] = {
    { "store_mail_queue",
      "WITH q AS (INSERT INTO annuaire.mail_outbox (recipient, kind, message, message_id,"
      " invite_id) VALUES ($1, $2, $3, $4, $5::bigint) RETURNING id)"
      " SELECT pg_notify('annuaire_outbox', ''), id FROM q" },
    /* One mail at a time: a sender holds only what it is sending. The lease moves the
     * next attempt past the longest a send can take, so nobody else takes it meanwhile. */
    { "store_mail_claim", "UPDATE annuaire.mail_outbox SET attempts = attempts + 1,"
                          " claimed_until = now() + make_interval(secs => $1::float8),"
                          " next_attempt_at = now() + make_interval(secs => $1::float8)"
                          " WHERE id = (SELECT id FROM annuaire.mail_outbox"
                          "  WHERE sent_at IS NULL AND next_attempt_at <= now()"
                          "  ORDER BY next_attempt_at"
                          "  LIMIT 1 FOR UPDATE SKIP LOCKED)"
                          " RETURNING id, attempts, recipient, message, message_id" },
    /* The mail of an invitation is counted on it and written to the audit log. */
    { "store_mail_sent",
      "WITH s AS (UPDATE annuaire.mail_outbox SET sent_at = now(), message = NULL,"
      "  last_error = NULL, claimed_until = NULL, waiting_for_relay = false"
      "  WHERE id = $1 AND attempts = $2 AND sent_at IS NULL RETURNING invite_id),"
      " i AS (UPDATE annuaire.invites SET mailed_count = mailed_count + 1,"
      "  last_mailed_at = now() WHERE id = (SELECT invite_id FROM s)),"
      " a AS (INSERT INTO annuaire.audit_log (actor_kind, actor, action, object_kind,"
      "  object_id, outcome) SELECT 'system', 'system', 'invitation.mailed', 'invitation',"
      "  invite_id::text, 'ok' FROM s WHERE invite_id IS NOT NULL)"
      " SELECT 1 FROM s" },
    { "store_mail_failed",
      "UPDATE annuaire.mail_outbox SET failures = failures + 1, last_error = $3,"
      " claimed_until = NULL, waiting_for_relay = $5::boolean,"
      " next_attempt_at = now() + make_interval(secs =>"
      "  least(3600, $4::float8 * power(2, least(failures, 20))))"
      " WHERE id = $1"
      " AND attempts = $2"
      " AND sent_at IS NULL" },
    { "store_mail_relay_back", "UPDATE annuaire.mail_outbox SET failures = 0,"
                               " waiting_for_relay = false, next_attempt_at = now()"
                               " WHERE sent_at IS NULL"
                               " AND waiting_for_relay"
                               " AND claimed_until IS NULL" },
    /* NULL when nothing waits (greatest() would make that 0, a sender that never
     * sleeps); a past time is clamped to 0 by store_queue_next_due. */
    { STORE_MAIL_NEXT_DUE, "SELECT ceil(extract(epoch FROM"
                           "  min(next_attempt_at) - now()) * 1000) AS due_ms"
                           " FROM annuaire.mail_outbox"
                           " WHERE sent_at IS NULL" },
    /* The senders' wake-up across instances (store_mail_queue notifies it). */
    { STORE_MAIL_LISTEN, "LISTEN annuaire_outbox" },
    /* The shared rate limits (sql/021_rate_buckets.sql): one token of the bucket
     * ($1 limit, $2 hex HMAC of the key) holding at most $3 tokens and getting one back
     * every $4 ms, taken in one statement: a new bucket starts full, an old one is first
     * refilled for the time since its last take. The time is read once the row is locked
     * (clock_timestamp() in DO UPDATE, never before updated_at): a take that waited for
     * another's lock cannot write an older updated_at, which would credit that time twice. */
    { "store_rate_take",
      "INSERT INTO annuaire.rate_buckets AS b (name, key_hash, tokens, granted, updated_at,"
      " full_at)"
      " VALUES ($1, decode($2, 'hex'), $3::float8 - 1, true, clock_timestamp(),"
      "  clock_timestamp() + make_interval(secs => $4::float8 / 1000))"
      " ON CONFLICT ON CONSTRAINT rate_buckets_pkey DO UPDATE"
      " SET (tokens, granted, updated_at, full_at) = ("
      "  SELECT x.left_, x.r >= 1, x.t,"
      "   x.t + make_interval(secs => ($3::float8 - x.left_) * $4::float8 / 1000)"
      "  FROM (SELECT t, r, CASE WHEN r >= 1 THEN r - 1 ELSE r END AS left_"
      "   FROM (SELECT t, least($3::float8, b.tokens"
      "     + extract(epoch FROM t - b.updated_at)::float8 * 1000 / $4::float8) AS r"
      "    FROM (SELECT greatest(b.updated_at, clock_timestamp()) AS t) z) y) x)"
      " RETURNING granted::integer AS granted,"
      " CASE WHEN granted THEN 0 ELSE ceil((1 - tokens) * $4::float8) + 1 END AS retry_ms" },
    /* Buckets full again are the same as none: deleted, at most $1 at a time, skipping
     * the rows a take holds; the outer condition checks each row again once it is
     * locked, so a bucket a take has just used is kept. */
    { "store_rate_sweep", "DELETE FROM annuaire.rate_buckets"
                          " WHERE ctid = ANY (ARRAY(SELECT ctid"
                          "  FROM annuaire.rate_buckets"
                          "  WHERE full_at < now()"
                          "  LIMIT $1::integer"
                          "  FOR UPDATE SKIP LOCKED))"
                          " AND full_at < now()" },
    /* A catalog query, not to_regclass(): its cache may predate a concurrent migrate's
     * commit. */
    { "store_schema_exists", "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
                             " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                             " WHERE n.nspname = 'annuaire'"
                             " AND c.relname = 'schema_version')::integer AS present" },
    { "store_schema_version", "SELECT coalesce(max(version), 0) AS version"
                              " FROM annuaire.schema_version" },
    { "store_schema_lock", "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")" },
    { "store_schema_record", "INSERT INTO annuaire.schema_version (version, name, applied_at)"
                             " VALUES ($1, $2, now())" },
    { "store_audit_insert",
      "INSERT INTO annuaire.audit_log (actor_kind, actor, action, object_kind, object_id,"
      " outcome, details) VALUES ($1, $2, $3, $4, $5, $6, coalesce($7::jsonb, '{}'))" },
    /* The retention: entries older than $1 days (audit.retention_days). */
    { "store_audit_purge", "DELETE FROM annuaire.audit_log"
                           " WHERE at < now() - make_interval(days => $1::integer)" },
    /* Newest first, each filter when given, from a cursor (the id of the last row of the
     * page before). Indexes: the primary key, audit_log_action_idx, audit_log_actor_idx,
     * audit_log_object_idx. */
    { "store_audit_list", "SELECT id, annuaire.iso_utc(at) AS at, actor_kind, actor, action,"
                          " object_kind, object_id, outcome, details::text AS details"
                          " FROM annuaire.audit_log"
                          " WHERE ($1::text IS NULL OR action = $1)"
                          " AND ($2::text IS NULL OR actor = $2)"
                          " AND ($3::text IS NULL OR object_kind = $3)"
                          " AND ($4::text IS NULL OR object_id = $4)"
                          " AND ($5::float8 IS NULL OR at >= to_timestamp($5::float8))"
                          " AND ($6::bigint IS NULL OR id < $6::bigint)"
                          " ORDER BY id DESC"
                          " LIMIT $7::integer" },
};

static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void
register_stmts(void)
{
    db_register(store_stmts, ANN_ARRAY_LEN(store_stmts));
}

void
store_init(void)
{
    pthread_once(&registered, register_stmts);
}

void
store_mail_claim_clear(struct mail_claim *m)
{
    free(m->id);
    free(m->attempt);
    free(m->recipient);
    free(m->message);
    free(m->message_id);
    *m = (struct mail_claim){ 0 };
}

enum db_status
store_mail_queue(struct db_conn *c,
                 const char *recipient,
                 const char *kind,
                 const char *message,
                 const char *message_id,
                 const char *invite_id)
{
    const char *params[] = { recipient, kind, message, message_id, invite_id };

    return db_exec(c, "store_mail_queue", 5, params, NULL);
}

enum db_status
store_mail_claim(struct db_conn *c, long lease_s, struct mail_claim *out)
{
    static const char *const names[] = { "id", "attempts", "recipient", "message", "message_id" };
    char lease[24];
    const char *params[] = { lease };
    PGresult *res = NULL;
    int col[ANN_ARRAY_LEN(names)];
    enum db_status st;

    snprintf(lease, sizeof(lease), "%ld", lease_s);
    st = db_exec(c, "store_mail_claim", 1, params, &res);
    if (st > 0 && db_columns(res, "store_mail_claim", names, col, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    } else if (st > 0) {
        out->id = xstrdup(PQgetvalue(res, 0, col[0]));
        out->attempt = xstrdup(PQgetvalue(res, 0, col[1]));
        out->recipient = xstrdup(PQgetvalue(res, 0, col[2]));
        out->message = db_value_dup(res, 0, col[3]);
        out->message_id = db_value_dup(res, 0, col[4]);
    }
    PQclear(res);
    return st;
}

enum db_status
store_mail_sent(struct db_conn *c, const struct mail_claim *m)
{
    const char *params[] = { m->id, m->attempt };

    return db_exec(c, "store_mail_sent", 2, params, NULL);
}

enum db_status
store_mail_failed(struct db_conn *c,
                  const struct mail_claim *m,
                  const char *error,
                  long base_delay_s,
                  bool relay_silent)
{
    char delay[24];
    const char *params[] = { m->id, m->attempt, error, delay, relay_silent ? "true" : "false" };

    snprintf(delay, sizeof(delay), "%ld", base_delay_s);
    return db_exec(c, "store_mail_failed", 5, params, NULL);
}

enum db_status
store_mail_relay_back(struct db_conn *c)
{
    return db_exec(c, "store_mail_relay_back", 0, NULL, NULL);
}

/* Runs stmt (no parameter, one row) and reads its column col as a number: NAN when
 * it is SQL NULL or the statement failed. */
static enum db_status
one_number(struct db_conn *c, const char *stmt, const char *col, double *out)
{
    PGresult *res = NULL;
    enum db_status st = db_exec(c, stmt, 0, NULL, &res);
    int i;

    *out = NAN;
    if (st > 0 && db_columns(res, stmt, &col, &i, 1) != 0) {
        st = DB_HARD;
    } else if (st > 0 && !PQgetisnull(res, 0, i)) {
        *out = strtod(PQgetvalue(res, 0, i), NULL);
    }
    PQclear(res);
    return st;
}

enum db_status
store_queue_next_due(struct db_conn *c, const char *stmt, long *out_ms)
{
    double ms;
    enum db_status st = one_number(c, stmt, "due_ms", &ms);

    *out_ms = isnan(ms) ? -1 : ms < 0 ? 0 : ms > 1e12 ? (long)1e12 : (long)ms;
    return st;
}

enum db_status
store_schema_exists(struct db_conn *c, bool *out_exists)
{
    double v;
    enum db_status st = one_number(c, "store_schema_exists", "present", &v);

    *out_exists = v == 1;
    return st;
}

enum db_status
store_schema_version(struct db_conn *c, int *out_version)
{
    double v;
    enum db_status st = one_number(c, "store_schema_version", "version", &v);

    *out_version = isnan(v) ? 0 : (int)v;
    return st;
}

enum db_status
store_schema_lock(struct db_conn *c)
{
    return db_exec(c, "store_schema_lock", 0, NULL, NULL);
}

enum db_status
store_schema_record(struct db_conn *c, int version, const char *name)
{
    char v[16];
    const char *params[] = { v, name };

    snprintf(v, sizeof(v), "%d", version);
    return db_exec(c, "store_schema_record", 2, params, NULL);
}

enum db_status
store_audit_insert(struct db_conn *c,
                   const char *actor_kind,
                   const char *actor,
                   const char *action,
                   const char *object_kind,
                   const char *object_id,
                   const char *outcome,
                   const char *details)
{
    const char *params[] = { actor_kind, actor, action, object_kind, object_id, outcome, details };

    return db_exec(c, "store_audit_insert", 7, params, NULL);
}

enum db_status
store_audit_purge(struct db_conn *c, long retention_days)
{
    char days[24];
    const char *params[] = { days };

    snprintf(days, sizeof(days), "%ld", retention_days);
    return db_exec(c, "store_audit_purge", 1, params, NULL);
}

enum db_status
store_audit_list(struct db_conn *c,
                 const struct store_audit_filter *f,
                 store_audit_fn fn,
                 void *arg)
{
    static const char *const names[] = { "id",        "at",      "actor_kind",
                                         "actor",     "action",  "object_kind",
                                         "object_id", "outcome", "details" };
    char since[32], limit[24];
    const char *params[] = { f->action, f->actor,     f->object_kind, f->object_id,
                             NULL,      f->before_id, limit };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st;

    if (f->since >= 0) {
        snprintf(since, sizeof(since), "%lld", f->since);
        params[4] = since;
    }
    snprintf(limit, sizeof(limit), "%ld", f->limit);
    st = db_exec(c, "store_audit_list", 7, params, &res);
    if (st > 0 && db_columns(res, "store_audit_list", names, col, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        const struct store_audit_row row = {
            .id = PQgetvalue(res, i, col[0]),
            .at = PQgetvalue(res, i, col[1]),
            .actor_kind = PQgetvalue(res, i, col[2]),
            .actor = PQgetvalue(res, i, col[3]),
            .action = PQgetvalue(res, i, col[4]),
            .object_kind = PQgetisnull(res, i, col[5]) ? NULL : PQgetvalue(res, i, col[5]),
            .object_id = PQgetisnull(res, i, col[6]) ? NULL : PQgetvalue(res, i, col[6]),
            .outcome = PQgetvalue(res, i, col[7]),
            .details = PQgetvalue(res, i, col[8]),
        };

        fn(arg, &row);
    }
    PQclear(res);
    return st;
}

/* ---- Shared rate limits ---- */

enum db_status
store_rate_take(struct db_conn *c,
                const char *name,
                const char *key_hash_hex,
                long burst,
                long interval_ms,
                bool *out_granted,
                long *out_retry_ms)
{
    static const char *const names[] = { "granted", "retry_ms" };
    char b[24], i[24];
    const char *params[] = { name, key_hash_hex, b, i };
    int col[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st;

    *out_granted = false;
    *out_retry_ms = 0;
    snprintf(b, sizeof(b), "%ld", burst);
    snprintf(i, sizeof(i), "%ld", interval_ms);
    st = db_exec_columns(c, "store_rate_take", 4, params, names, col, ANN_ARRAY_LEN(names), &res);
    if (st > 0) {
        *out_granted = strcmp(PQgetvalue(res, 0, col[0]), "1") == 0;
        *out_retry_ms = strtol(PQgetvalue(res, 0, col[1]), NULL, 10);
    } else if (st == 0 || st == DB_NO_ROWS) {
        st = DB_HARD; /* an upsert always returns its row */
    }
    PQclear(res);
    return st;
}

enum db_status
store_rate_sweep(struct db_conn *c, long batch)
{
    char n[24];
    const char *params[] = { n };

    snprintf(n, sizeof(n), "%ld", batch);
    return db_exec(c, "store_rate_sweep", 1, params, NULL);
}
