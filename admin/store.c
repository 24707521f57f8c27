/*
 * The admin module's SQL: every statement of admin/ as a named prepared statement
 * (registered by adm_init), one function each. Results are copied out into values or
 * handed row by row to a callback, columns read by name; no PGresult leaves this file.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/internal.h"
#include "core/util.h"

/* ISO 8601 UTC with milliseconds, as every admin answer shows times. */
#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* An invitation's state as shown: a pending one past its expiry is expired. */
#define SHOWN_STATE \
    "CASE WHEN state = 'pending' AND expires_at <= now() THEN 'expired' ELSE state END"

/* The columns of struct adm_invitation, in its order (inv_names), one per line. */
/* clang-format off */
#define INV_COLS                                                                                \
    "id::text AS id, kind, address,"                                                            \
    " CASE WHEN kind = 'vip' THEN details->>'homeserver'"                                       \
    " ELSE coalesce(sender_server, substr(sender, strpos(sender, ':') + 1)) END AS homeserver," \
    " " SHOWN_STATE " AS state,"                                                                \
    " " ISO_UTC("created_at") " AS created_at,"                                                 \
    " " ISO_UTC("expires_at") " AS expires_at,"                                                 \
    " inviter, note, created_by, lang, mailed_count::text AS mailed_count,"                     \
    " " ISO_UTC("last_mailed_at") " AS last_mailed_at,"                                         \
    " " ISO_UTC("used_at") " AS used_at, used_by,"                                              \
    " " ISO_UTC("revoked_at") " AS revoked_at, revoked_by, room_id, sender,"                    \
    " floor(extract(epoch FROM expires_at))::bigint::text AS expires_epoch"
/* clang-format on */

/* A page of the list: $1 state as shown, $2 kind, $3 address, $4 ids below, $5 rows. */
#define INV_PAGE                           \
    " AND ($2::text IS NULL OR kind = $2)" \
    " AND id < $4::bigint"                 \
    " ORDER BY invites.id DESC LIMIT $5::integer" /* the column, not the text of INV_COLS */

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
    { "adm_store_invitation_insert",
      "INSERT INTO annuaire.invites (token, medium, address, kind, state, verified_by,"
      " expires_at, inviter, note, created_by, lang, details)"
      " VALUES ($1, 'email', $2, 'vip', 'pending', 'admin',"
      " now() + make_interval(secs => $3::bigint), $4, $5, $6, $7,"
      " jsonb_build_object('homeserver', $8::text))"
      " RETURNING " INV_COLS },
    { "adm_store_invitation_pending_vip",
      "SELECT id::text AS id FROM annuaire.invites"
      " WHERE medium = 'email' AND address = $1 AND state = 'pending' AND kind = 'vip'"
      " AND (expires_at IS NULL OR expires_at > now())"
      " ORDER BY invites.id DESC LIMIT 1" },
    { "adm_store_invitation_get",
      "SELECT " INV_COLS " FROM annuaire.invites WHERE id = $1::bigint" },
    { "adm_store_invitation_get_locked",
      "SELECT " INV_COLS " FROM annuaire.invites WHERE id = $1::bigint FOR UPDATE" },
    /* Its mails still queued are withdrawn with it (trigger invites_withdraw_mails). */
    { "adm_store_invitation_revoke",
      "UPDATE annuaire.invites SET state = 'revoked', revoked_at = now(), revoked_by = $2"
      " WHERE id = $1::bigint AND state = 'pending'"
      " AND (expires_at IS NULL OR expires_at > now())"
      " RETURNING " INV_COLS },
    /* The list by its most selective index (migration 014): an address, a stored state,
     * or all of them (expired as shown is pending ones too). */
    { "adm_store_invitation_list_by_address",
      "SELECT " INV_COLS " FROM annuaire.invites"
      " WHERE address = $3"
      " AND ($1::text IS NULL OR " SHOWN_STATE " = $1)" INV_PAGE },
    { "adm_store_invitation_list_by_state",
      "SELECT " INV_COLS " FROM annuaire.invites"
      " WHERE state = $1"
      " AND ($1 <> 'pending' OR expires_at IS NULL OR expires_at > now())"
      " AND $3::text IS NULL" INV_PAGE },
    { "adm_store_invitation_list_all", "SELECT " INV_COLS " FROM annuaire.invites"
                                       " WHERE ($1::text IS NULL OR " SHOWN_STATE " = $1)"
                                       " AND $3::text IS NULL" INV_PAGE },
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

/* ---- Invitations ---- */

static const char *const inv_names[] = {
    "id",         "kind",         "address",        "homeserver", "state",
    "created_at", "expires_at",   "inviter",        "note",       "created_by",
    "lang",       "mailed_count", "last_mailed_at", "used_at",    "used_by",
    "revoked_at", "revoked_by",   "room_id",        "sender",     "expires_epoch",
};

/* Hands each row of res to fn. @return st, or DB_HARD when a column is missing */
static enum db_status
inv_rows(enum db_status st, const PGresult *res, const char *stmt, adm_invitation_fn fn, void *arg)
{
    int cols[ANN_ARRAY_LEN(inv_names)];

    if (st <= 0) {
        return st;
    }
    if (db_columns(res, stmt, inv_names, cols, ANN_ARRAY_LEN(inv_names)) != 0) {
        return DB_HARD;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        struct adm_invitation inv = { 0 };
        const char **slot[] = { &inv.id,
                                &inv.kind,
                                &inv.address,
                                &inv.homeserver,
                                &inv.state,
                                &inv.created_at,
                                &inv.expires_at,
                                &inv.inviter,
                                &inv.note,
                                &inv.created_by,
                                &inv.lang,
                                &inv.mailed_count,
                                &inv.last_mailed_at,
                                &inv.used_at,
                                &inv.used_by,
                                &inv.revoked_at,
                                &inv.revoked_by,
                                &inv.room_id,
                                &inv.sender };
        const int last = (int)ANN_ARRAY_LEN(inv_names) - 1;

        for (size_t k = 0; k < ANN_ARRAY_LEN(slot); k++) {
            *slot[k] = PQgetisnull(res, i, cols[k]) ? NULL : PQgetvalue(res, i, cols[k]);
        }
        inv.expires_epoch =
            PQgetisnull(res, i, cols[last]) ? 0 : atoll(PQgetvalue(res, i, cols[last]));
        fn(arg, &inv);
    }
    return st;
}

/* Runs stmt and hands its rows to fn. @return as db_exec, DB_HARD when a column is missing */
static enum db_status
inv_exec(struct db_conn *c,
         const char *stmt,
         int n_params,
         const char *const *params,
         adm_invitation_fn fn,
         void *arg)
{
    PGresult *res = NULL;
    enum db_status st = db_exec(c, stmt, n_params, params, &res);

    st = inv_rows(st, res, stmt, fn, arg);
    PQclear(res);
    return st;
}

enum db_status
adm_store_invitation_insert(struct db_conn *c,
                            const char *token,
                            const char *address,
                            const char *homeserver,
                            long long expires_in,
                            const char *inviter,
                            const char *note,
                            const char *created_by,
                            const char *lang,
                            adm_invitation_fn fn,
                            void *arg)
{
    char secs[24];
    const char *params[] = { token, address, secs, inviter, note, created_by, lang, homeserver };

    snprintf(secs, sizeof(secs), "%lld", expires_in);
    return inv_exec(c, "adm_store_invitation_insert", 8, params, fn, arg);
}

enum db_status
adm_store_invitation_pending_vip(struct db_conn *c, const char *address, char **id)
{
    const char *params[] = { address };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "adm_store_invitation_pending_vip", 1, params, &res);

    *id = st > 0 ? db_value_dup(res, 0, 0) : NULL;
    PQclear(res);
    return st;
}

enum db_status
adm_store_invitation_get(struct db_conn *c,
                         const char *id,
                         bool lock,
                         adm_invitation_fn fn,
                         void *arg)
{
    const char *stmt = lock ? "adm_store_invitation_get_locked" : "adm_store_invitation_get";
    const char *params[] = { id };

    return inv_exec(c, stmt, 1, params, fn, arg);
}

enum db_status
adm_store_invitation_revoke(struct db_conn *c,
                            const char *id,
                            const char *revoked_by,
                            adm_invitation_fn fn,
                            void *arg)
{
    const char *params[] = { id, revoked_by };

    return inv_exec(c, "adm_store_invitation_revoke", 2, params, fn, arg);
}

enum db_status
adm_store_invitation_list(struct db_conn *c,
                          const struct adm_invitation_filter *f,
                          adm_invitation_fn fn,
                          void *arg)
{
    const char *stmt = "adm_store_invitation_list_all";
    char limit[24];
    const char *params[] = { f->state, f->kind, f->address,
                             f->before != NULL ? f->before : "9223372036854775807", limit };

    if (f->address != NULL) {
        stmt = "adm_store_invitation_list_by_address";
    } else if (f->state != NULL && strcmp(f->state, "expired") != 0) {
        stmt = "adm_store_invitation_list_by_state";
    }
    snprintf(limit, sizeof(limit), "%ld", f->limit);
    return inv_exec(c, stmt, 5, params, fn, arg);
}
