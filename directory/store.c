/*
 * The directory's SQL: every statement of directory/ as a named prepared statement
 * (registered by dir_init), one function each. Results are copied out into values or
 * handed row by row to a callback, columns read by name; no PGresult leaves this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "directory/internal.h"

const struct db_stmt dir_store_stmts[] = {
    { "dir_store_pepper_get", "SELECT pepper FROM annuaire.lookup_pepper" },
    /* A fresh database gets its first pepper; an existing one is kept. */
    { "dir_store_pepper_ensure", "INSERT INTO annuaire.lookup_pepper (pepper) VALUES ($1)"
                                 " ON CONFLICT (singleton) DO NOTHING" },
    { "dir_store_pepper_replace", "INSERT INTO annuaire.lookup_pepper (pepper) VALUES ($1)"
                                  " ON CONFLICT (singleton) DO UPDATE SET pepper = EXCLUDED.pepper,"
                                  " rotated_at = now()" },
    /* Every association's hash under the pepper $1. */
    { "dir_store_assoc_rehash", "UPDATE annuaire.associations"
                                " SET lookup_hash = annuaire.lookup_hash(address, medium, $1)" },
    { "dir_store_assoc_upsert",
      "INSERT INTO annuaire.associations"
      " (medium, address, mxid, ts, not_before, not_after, lookup_hash)"
      " SELECT $1, $2, $3, $4, $5, $6, annuaire.lookup_hash($2, $1, p.pepper)"
      " FROM annuaire.lookup_pepper p"
      " ON CONFLICT (medium, address) DO UPDATE SET mxid = EXCLUDED.mxid, ts = EXCLUDED.ts,"
      " not_before = EXCLUDED.not_before, not_after = EXCLUDED.not_after,"
      " lookup_hash = EXCLUDED.lookup_hash" },
    { "dir_store_assoc_delete", "DELETE FROM annuaire.associations"
                                " WHERE medium = $1 AND address = $2 AND mxid = $3" },
    { "dir_store_assoc_get", "SELECT mxid, ts, not_before, not_after FROM annuaire.associations"
                             " WHERE medium = $1 AND address = $2" },
    /* The current pepper comes first, for the caller to check: one round trip for both. */
    { "dir_store_lookup_hashes", "SELECT p.pepper, a.lookup_hash, a.mxid"
                                 " FROM annuaire.lookup_pepper p"
                                 " LEFT JOIN annuaire.associations a"
                                 " ON a.lookup_hash = ANY ($1::text[])" },
    /* $1: [[medium, address, key], ...]; rows: key, mxid for those bound. */
    { "dir_store_lookup_pairs", "SELECT q.e->>2 AS key, a.mxid"
                                " FROM jsonb_array_elements($1::jsonb) AS q(e)"
                                " JOIN annuaire.associations a"
                                " ON a.medium = q.e->>0 AND a.address = q.e->>1" },
    /* internal-info in one round trip: a pending invitation, room or VIP (pending, not past
     * its expiry, by a verified sender: as enr_store_invites_use takes them on bind), the
     * bound Matrix ID, and the agent of the annuaire (e-mail only). */
    { "dir_store_internal_info",
      "SELECT EXISTS (SELECT 1 FROM annuaire.invites WHERE medium = $1 AND address = $2"
      "  AND state = 'pending' AND (expires_at IS NULL OR expires_at > now())"
      "  AND verified_by IS NOT NULL)"
      "  AS invited,"
      " (SELECT mxid FROM annuaire.associations WHERE medium = $1 AND address = $2) AS mxid,"
      " o.ministry, o.entity FROM (SELECT 1) AS one LEFT JOIN LATERAL"
      /* the owner as annuaire.directory_owner() picks it, if enabled */
      " (SELECT s.ministry, e.entity, e.disabled FROM annuaire.directory_entries e"
      "  JOIN annuaire.sync_sources s ON s.name = e.source"
      "  WHERE $1 = 'email' AND e.mails @> ARRAY[$2] AND e.deleted_at IS NULL"
      "  ORDER BY s.priority, e.source, e.key LIMIT 1) o ON NOT o.disabled" },
    /* A page of leavers after the cursor $1 (bound addresses only, at most $2), and the
     * last leaver id of the same snapshot: one row even when the page is empty. */
    { "dir_store_leavers",
      "SELECT t.last_id, p.id, p.at, p.reason, p.address, p.mxid"
      " FROM (SELECT max(id) AS last_id FROM annuaire.directory_leavers) t"
      " LEFT JOIN (SELECT l.id,"
      "   to_char(l.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at,"
      "   l.reason, l.address, a.mxid"
      "  FROM annuaire.directory_leavers l"
      "  JOIN annuaire.associations a ON a.medium = 'email' AND a.address = l.address"
      "  WHERE l.id > $1::bigint"
      "  ORDER BY l.id"
      "  LIMIT $2::integer) p ON true"
      " ORDER BY p.id" },
};
const size_t dir_store_n_stmts = ANN_ARRAY_LEN(dir_store_stmts);

enum db_status
dir_store_pepper_get(struct db_conn *c, char **pepper)
{
    static const char *const names[] = { "pepper" };
    int cols[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "dir_store_pepper_get", 0, NULL, &res);

    *pepper = NULL;
    if (st > 0 && db_columns(res, "dir_store_pepper_get", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        *pepper = xstrdup(PQgetvalue(res, 0, cols[0]));
    }
    PQclear(res);
    return st;
}

enum db_status
dir_store_pepper_ensure(struct db_conn *c, const char *pepper)
{
    const char *params[] = { pepper };

    return db_exec(c, "dir_store_pepper_ensure", 1, params, NULL);
}

enum db_status
dir_store_pepper_replace(struct db_conn *c, const char *pepper)
{
    const char *params[] = { pepper };

    return db_exec(c, "dir_store_pepper_replace", 1, params, NULL);
}

enum db_status
dir_store_assoc_rehash(struct db_conn *c, const char *pepper)
{
    const char *params[] = { pepper };

    return db_exec(c, "dir_store_assoc_rehash", 1, params, NULL);
}

enum db_status
dir_store_assoc_upsert(struct db_conn *c, const struct dir_assoc *a)
{
    char ts[24], nb[24], na[24];
    const char *params[] = { a->medium, a->address, a->mxid, ts, nb, na };

    snprintf(ts, sizeof(ts), "%lld", a->ts);
    snprintf(nb, sizeof(nb), "%lld", a->not_before);
    snprintf(na, sizeof(na), "%lld", a->not_after);
    return db_exec(c, "dir_store_assoc_upsert", 6, params, NULL);
}

enum db_status
dir_store_assoc_delete(struct db_conn *c, const char *medium, const char *address, const char *mxid)
{
    const char *params[] = { medium, address, mxid };

    return db_exec(c, "dir_store_assoc_delete", 3, params, NULL);
}

enum db_status
dir_store_assoc_get(struct db_conn *c,
                    const char *medium,
                    const char *address,
                    struct dir_assoc *out)
{
    static const char *const names[] = { "mxid", "ts", "not_before", "not_after" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { medium, address };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "dir_store_assoc_get", 2, params, &res);

    if (st > 0 && db_columns(res, "dir_store_assoc_get", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        out->medium = xstrdup(medium);
        out->address = xstrdup(address);
        out->mxid = xstrdup(PQgetvalue(res, 0, cols[0]));
        out->ts = atoll(PQgetvalue(res, 0, cols[1]));
        out->not_before = atoll(PQgetvalue(res, 0, cols[2]));
        out->not_after = atoll(PQgetvalue(res, 0, cols[3]));
    }
    PQclear(res);
    return st;
}

enum db_status
dir_store_lookup_hashes(struct db_conn *c,
                        const char *const *hashes,
                        size_t n,
                        char **pepper,
                        dir_store_match_fn fn,
                        void *arg)
{
    static const char *const names[] = { "pepper", "lookup_hash", "mxid" };
    int cols[ANN_ARRAY_LEN(names)];
    char *array = db_text_array(hashes, n);
    const char *params[] = { array };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "dir_store_lookup_hashes", 1, params, &res);

    free(array);
    *pepper = NULL;
    if (st > 0 &&
        db_columns(res, "dir_store_lookup_hashes", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        *pepper = xstrdup(PQgetvalue(res, 0, cols[0]));
        for (int row = 0; row < PQntuples(res); row++) {
            if (!PQgetisnull(res, row, cols[1])) {
                fn(arg, PQgetvalue(res, row, cols[1]), PQgetvalue(res, row, cols[2]));
            }
        }
    }
    PQclear(res);
    return st;
}

enum db_status
dir_store_lookup_pairs(struct db_conn *c, const json_t *pairs, dir_store_match_fn fn, void *arg)
{
    static const char *const names[] = { "key", "mxid" };
    int cols[ANN_ARRAY_LEN(names)];
    char *text = json_dumps(pairs, JSON_COMPACT);
    const char *params[] = { text };
    PGresult *res = NULL;
    enum db_status st = text ? db_exec(c, "dir_store_lookup_pairs", 1, params, &res) : DB_HARD;

    free(text);
    if (st > 0 &&
        db_columns(res, "dir_store_lookup_pairs", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        fn(arg, PQgetvalue(res, row, cols[0]), PQgetvalue(res, row, cols[1]));
    }
    PQclear(res);
    return st;
}

enum db_status
dir_store_internal_info(struct db_conn *c,
                        const char *medium,
                        const char *address,
                        struct dir_internal_facts *out)
{
    static const char *const names[] = { "invited", "mxid", "ministry", "entity" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { medium, address };
    PGresult *res = NULL;
    enum db_status st;

    memset(out, 0, sizeof(*out));
    st = db_exec(c, "dir_store_internal_info", 2, params, &res);
    if (st > 0 &&
        db_columns(res, "dir_store_internal_info", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        out->invited = strcmp(PQgetvalue(res, 0, cols[0]), "t") == 0;
        out->mxid = db_value_dup(res, 0, cols[1]);
        out->ministry = db_value_dup(res, 0, cols[2]);
        out->entity = db_value_dup(res, 0, cols[3]);
    }
    PQclear(res);
    return st;
}

void
dir_internal_facts_clear(struct dir_internal_facts *f)
{
    free(f->mxid);
    free(f->ministry);
    free(f->entity);
    memset(f, 0, sizeof(*f));
}

enum db_status
dir_store_leavers(struct db_conn *c,
                  long long since,
                  int limit,
                  long long *last_id,
                  dir_store_leaver_fn fn,
                  void *arg)
{
    static const char *const names[] = { "last_id", "id", "at", "reason", "address", "mxid" };
    int cols[ANN_ARRAY_LEN(names)];
    char since_s[24], limit_s[16];
    const char *params[] = { since_s, limit_s };
    PGresult *res = NULL;
    enum db_status st;
    int listed = 0;

    snprintf(since_s, sizeof(since_s), "%lld", since);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    *last_id = 0;
    st = db_exec(c, "dir_store_leavers", 2, params, &res);
    if (st > 0 && db_columns(res, "dir_store_leavers", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0 && !PQgetisnull(res, 0, cols[0])) {
        *last_id = strtoll(PQgetvalue(res, 0, cols[0]), NULL, 10);
    }
    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        if (PQgetisnull(res, row, cols[1])) {
            continue;
        }
        fn(arg, strtoll(PQgetvalue(res, row, cols[1]), NULL, 10), PQgetvalue(res, row, cols[2]),
           PQgetvalue(res, row, cols[3]), PQgetvalue(res, row, cols[4]),
           PQgetvalue(res, row, cols[5]));
        listed++;
    }
    PQclear(res);
    return st < 0 ? st : listed;
}
