#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "directory/internal.h"

const struct db_stmt dir_store_stmts[] = {
    { "dir_store_pepper_get", "SELECT pepper FROM annuaire.lookup_pepper" },
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
    /* Column 0 is the current pepper, for the caller to check: one round trip for both. */
    { "dir_store_lookup_hashes", "SELECT p.pepper, a.lookup_hash, a.mxid"
                                 " FROM annuaire.lookup_pepper p"
                                 " LEFT JOIN annuaire.associations a"
                                 " ON a.lookup_hash = ANY ($1::text[])" },
    /* $1: [[medium, address, key], ...]; rows: key, mxid for those bound. */
    { "dir_store_lookup_pairs", "SELECT q.e->>2, a.mxid"
                                " FROM jsonb_array_elements($1::jsonb) AS q(e)"
                                " JOIN annuaire.associations a"
                                " ON a.medium = q.e->>0 AND a.address = q.e->>1" },
    /* internal-info in one round trip: a pending invitation (a verified sender, within
     * invites.validity: as enr_store_invites_for carries them on bind), the bound Matrix ID, and
     * the agent of the annuaire (e-mail only). */
    { "dir_store_internal_info",
      "SELECT EXISTS (SELECT 1 FROM annuaire.invites WHERE medium = $1 AND address = $2"
      "  AND verified_by IS NOT NULL"
      "  AND ($3::integer = 0 OR created_at > now() - make_interval(secs => $3::integer))),"
      " (SELECT mxid FROM annuaire.associations WHERE medium = $1 AND address = $2),"
      " o.ministry, o.entity FROM (SELECT 1) AS one LEFT JOIN LATERAL"
      /* the owner as annuaire.directory_owner() picks it, if enabled */
      " (SELECT s.ministry, e.entity, e.disabled FROM annuaire.directory_entries e"
      "  JOIN annuaire.sync_sources s ON s.name = e.source"
      "  WHERE $1 = 'email' AND e.mails @> ARRAY[$2] AND e.deleted_at IS NULL"
      "  ORDER BY s.priority, e.source, e.key LIMIT 1) o ON NOT o.disabled" },
};
const size_t dir_store_n_stmts = ANN_ARRAY_LEN(dir_store_stmts);

enum db_status
dir_store_pepper_get(struct db_conn *c, char **pepper)
{
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "dir_store_pepper_get", 0, NULL, &res);

    *pepper = st > 0 ? xstrdup(PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    return st;
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
    const char *params[] = { medium, address };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "dir_store_assoc_get", 2, params, &res);

    if (st > 0) {
        out->medium = xstrdup(medium);
        out->address = xstrdup(address);
        out->mxid = xstrdup(PQgetvalue(res, 0, 0));
        out->ts = atoll(PQgetvalue(res, 0, 1));
        out->not_before = atoll(PQgetvalue(res, 0, 2));
        out->not_after = atoll(PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return st;
}

enum db_status
dir_store_lookup_hashes(struct db_conn *c, const char *hashes_array, PGresult **out)
{
    const char *params[] = { hashes_array };

    return db_exec(c, "dir_store_lookup_hashes", 1, params, out);
}

enum db_status
dir_store_lookup_pairs(struct db_conn *c, const json_t *pairs, PGresult **out)
{
    char *text = json_dumps(pairs, JSON_COMPACT);
    const char *params[] = { text };
    enum db_status st = text ? db_exec(c, "dir_store_lookup_pairs", 1, params, out) : DB_HARD;

    free(text);
    return st;
}

enum db_status
dir_store_internal_info(struct db_conn *c,
                        const char *medium,
                        const char *address,
                        long validity,
                        struct dir_internal_facts *out)
{
    char v[24];
    const char *params[] = { medium, address, v };
    PGresult *res = NULL;
    enum db_status st;

    memset(out, 0, sizeof(*out));
    snprintf(v, sizeof(v), "%ld", validity);
    st = db_exec(c, "dir_store_internal_info", 3, params, &res);
    if (st > 0) {
        out->invited = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        out->mxid = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
        out->ministry = PQgetisnull(res, 0, 2) ? NULL : xstrdup(PQgetvalue(res, 0, 2));
        out->entity = PQgetisnull(res, 0, 3) ? NULL : xstrdup(PQgetvalue(res, 0, 3));
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
