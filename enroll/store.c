#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "enroll/internal.h"

const struct db_stmt enr_store_stmts[] = {
    { "enr_store_account_insert", "INSERT INTO annuaire.accounts (token_hash, user_id)"
                                  " VALUES ($1, $2)" },
    /* The user behind a token, and whether some URL of every current policy is accepted. */
    { "enr_store_account_auth",
      "SELECT a.user_id,"
      " NOT EXISTS (SELECT 1 FROM jsonb_array_elements($2::jsonb) AS p(urls)"
      "  WHERE NOT EXISTS (SELECT 1 FROM annuaire.accepted_terms t"
      "   WHERE t.user_id = a.user_id"
      "   AND t.url IN (SELECT jsonb_array_elements_text(p.urls))))"
      " FROM annuaire.accounts a"
      " WHERE a.token_hash = $1" },
    { "enr_store_account_delete", "DELETE FROM annuaire.accounts WHERE token_hash = $1" },
    { "enr_store_terms_accept", "INSERT INTO annuaire.accepted_terms (user_id, url)"
                                " SELECT $1, u FROM jsonb_array_elements_text($2::jsonb) AS u"
                                " ON CONFLICT DO NOTHING" },
};
const size_t enr_store_n_stmts = ANN_ARRAY_LEN(enr_store_stmts);

enum db_status
enr_store_account_insert(struct db_conn *c, const char *token_hash, const char *user_id)
{
    const char *params[] = { token_hash, user_id };

    return db_exec(c, "enr_store_account_insert", 2, params, NULL);
}

enum db_status
enr_store_account_auth(struct db_conn *c, const char *token_hash, char **user_id, bool *terms_ok)
{
    const char *params[] = { token_hash, enr_terms_required_json() };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "enr_store_account_auth", 2, params, &res);

    *user_id = NULL;
    *terms_ok = false;
    if (st > 0) {
        *user_id = xstrdup(PQgetvalue(res, 0, 0));
        *terms_ok = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    }
    PQclear(res);
    return st;
}

enum db_status
enr_store_account_delete(struct db_conn *c, const char *token_hash)
{
    const char *params[] = { token_hash };

    return db_exec(c, "enr_store_account_delete", 1, params, NULL);
}

enum db_status
enr_store_terms_accept(struct db_conn *c, const char *user_id, const char *urls_json)
{
    const char *params[] = { user_id, urls_json };

    return db_exec(c, "enr_store_terms_accept", 2, params, NULL);
}
