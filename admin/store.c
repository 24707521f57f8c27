/*
 * The admin module's SQL: every statement of admin/ as a named prepared statement
 * (registered by adm_init), one function each. Results are copied out into values or
 * handed row by row to a callback, columns read by name; no PGresult leaves this file.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "admin/internal.h"
#include "core/util.h"

/* ISO 8601 UTC with milliseconds, as every admin answer shows times. */
#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const struct db_stmt adm_store_stmts[] = {
    { "adm_store_token_auth",
      "SELECT name, token_hash, array_to_json(scopes)::text AS scopes,"
      " ($2::text IS NULL OR $2 = ANY (scopes) OR 'all' = ANY (scopes)) AS allowed"
      " FROM annuaire.admin_tokens WHERE token_hash = $1" },
    { "adm_store_token_scopes", "SELECT array_to_json(scopes)::text AS scopes"
                                " FROM annuaire.admin_tokens WHERE name = $1" },
    { "adm_store_token_insert", "INSERT INTO annuaire.admin_tokens (name, token_hash, scopes)"
                                " VALUES ($1, $2, $3::text[])" },
    { "adm_store_token_list",
      "SELECT name, array_to_json(scopes)::text AS scopes, " ISO_UTC(
          "created_at") " AS created_at,"
                        " " ISO_UTC("last_used_at") " AS last_used_at FROM annuaire.admin_tokens "
                                                    "ORDER BY name" },
    { "adm_store_token_delete", "DELETE FROM annuaire.admin_tokens WHERE name = $1" },
    { "adm_store_token_used",
      "UPDATE annuaire.admin_tokens SET last_used_at = now() WHERE name = $1"
      " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')" },
};

static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void
register_stmts(void)
{
    db_register(adm_store_stmts, ANN_ARRAY_LEN(adm_store_stmts));
}

void
adm_init(void)
{
    pthread_once(&registered, register_stmts);
}

void
adm_token_row_clear(struct adm_token_row *t)
{
    free(t->name);
    free(t->token_hash);
    free(t->scopes);
    *t = (struct adm_token_row){ 0 };
}

enum db_status
adm_store_token_auth(struct db_conn *c,
                     const char *token_hash,
                     const char *scope,
                     struct adm_token_row *out)
{
    static const char *const names[] = { "name", "token_hash", "scopes", "allowed" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { token_hash, scope };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "adm_store_token_auth", 2, params, &res);

    *out = (struct adm_token_row){ 0 };
    if (st > 0 && db_columns(res, "adm_store_token_auth", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        out->name = xstrdup(PQgetvalue(res, 0, cols[0]));
        out->token_hash = xstrdup(PQgetvalue(res, 0, cols[1]));
        out->scopes = xstrdup(PQgetvalue(res, 0, cols[2]));
        out->allowed = strcmp(PQgetvalue(res, 0, cols[3]), "t") == 0;
    }
    PQclear(res);
    return st;
}

enum db_status
adm_store_token_scopes(struct db_conn *c, const char *name, char **scopes)
{
    static const char *const names[] = { "scopes" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { name };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "adm_store_token_scopes", 1, params, &res);

    *scopes = NULL;
    if (st > 0 &&
        db_columns(res, "adm_store_token_scopes", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        *scopes = xstrdup(PQgetvalue(res, 0, cols[0]));
    }
    PQclear(res);
    return st;
}

enum db_status
adm_store_token_insert(struct db_conn *c,
                       const char *name,
                       const char *token_hash,
                       const char *scopes)
{
    const char *params[] = { name, token_hash, scopes };

    return db_exec(c, "adm_store_token_insert", 3, params, NULL);
}

enum db_status
adm_store_token_list(struct db_conn *c, adm_token_fn fn, void *arg)
{
    static const char *const names[] = { "name", "scopes", "created_at", "last_used_at" };
    int cols[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "adm_store_token_list", 0, NULL, &res);

    if (st > 0 && db_columns(res, "adm_store_token_list", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    for (int i = 0; st > 0 && i < PQntuples(res); i++) {
        fn(arg, PQgetvalue(res, i, cols[0]), PQgetvalue(res, i, cols[1]),
           PQgetvalue(res, i, cols[2]),
           PQgetisnull(res, i, cols[3]) ? NULL : PQgetvalue(res, i, cols[3]));
    }
    PQclear(res);
    return st;
}

enum db_status
adm_store_token_delete(struct db_conn *c, const char *name)
{
    const char *params[] = { name };

    return db_exec(c, "adm_store_token_delete", 1, params, NULL);
}

enum db_status
adm_store_token_used(struct db_conn *c, const char *name)
{
    const char *params[] = { name };

    return db_exec(c, "adm_store_token_used", 1, params, NULL);
}
