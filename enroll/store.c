/*
 * Enrollment's SQL: every statement of enroll/ as a named prepared statement
 * (registered by enr_init), one function each. Results are copied out into values or
 * handed row by row to a callback, columns read by name; no PGresult leaves this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/util.h"
#include "enroll/internal.h"

/* A session by sid: the same row read plainly or locked for an update. */
#define SESSION_GET_SQL                                                               \
    "SELECT medium, address, client_secret_hash, token_hash, token_tries, next_link," \
    " floor(extract(epoch FROM validated_at) * 1000)::bigint AS validated_at_ms,"     \
    " modified_at < now() - make_interval(secs => $2::float8) AS expired,"            \
    " next_link_used"                                                                 \
    " FROM annuaire.validation_sessions WHERE sid = $1"

/* The claim's LIMIT: ENR_ONBIND_BATCH, as SQL text. */
#define TEXT_OF(n)  TEXT_OF_(n)
#define TEXT_OF_(n) #n
#define CLAIM_LIMIT " LIMIT " TEXT_OF(ENR_ONBIND_BATCH)

/* An invitation that counts (pending): not used, expired or revoked, not past its expiry
 * (expires_at, set when it was stored), by a verified sender. dir_store_internal_info
 * counts them the same way, for room and VIP invitations alike. */
#define PENDING_SQL                                                         \
    " AND state = 'pending' AND (expires_at IS NULL OR expires_at > now())" \
    " AND verified_by IS NOT NULL"

/* A room invitation whose ephemeral key is valid and which can be signed: pending, or
 * used by a binding whose onbind callback has been neither delivered nor refused. */
#define KEY_VALID_SQL                                                          \
    " AND kind = 'room' AND verified_by IS NOT NULL"                           \
    " AND ((state = 'pending' AND (expires_at IS NULL OR expires_at > now()))" \
    " OR (state = 'used' AND delivered_at IS NULL AND callback_refused_at IS NULL))"

/* The UTC day an invitation quota counts in (now(): the transaction's start). */
#define QUOTA_DAY_SQL "(now() AT TIME ZONE 'UTC')::date"

const struct db_stmt enr_store_stmts[] = {
    { "enr_store_account_insert", "INSERT INTO annuaire.accounts (token_hash, user_id)"
                                  " VALUES ($1, $2)" },
    /* The user behind a token, and whether some URL of every current policy is accepted. */
    { "enr_store_account_auth",
      "SELECT a.user_id,"
      " NOT EXISTS (SELECT 1 FROM jsonb_array_elements($2::jsonb) AS p(urls)"
      "  WHERE NOT EXISTS (SELECT 1 FROM annuaire.accepted_terms t"
      "   WHERE t.user_id = a.user_id"
      "   AND t.url IN (SELECT jsonb_array_elements_text(p.urls)))) AS terms_ok"
      " FROM annuaire.accounts a"
      " WHERE a.token_hash = $1" },
    { "enr_store_account_delete", "DELETE FROM annuaire.accounts WHERE token_hash = $1" },
    { "enr_store_terms_accept", "INSERT INTO annuaire.accepted_terms (user_id, url)"
                                " SELECT $1, u FROM jsonb_array_elements_text($2::jsonb) AS u"
                                " ON CONFLICT DO NOTHING" },
    { "enr_store_session_by_secret", "SELECT sid, send_attempt FROM annuaire.validation_sessions"
                                     " WHERE medium = $1 AND address = $2"
                                     " AND client_secret_hash = $3 FOR UPDATE" },
    { "enr_store_session_insert",
      "INSERT INTO annuaire.validation_sessions (sid, medium, address, client_secret_hash,"
      " send_attempt, token_hash, next_link) VALUES ($1, $2, $3, $4, $5, $6, $7)" },
    { "enr_store_session_new_token", "UPDATE annuaire.validation_sessions"
                                     " SET send_attempt = $2, token_hash = $3, token_tries = 0,"
                                     " next_link = coalesce($4, next_link), modified_at = now()"
                                     " WHERE sid = $1" },
    { "enr_store_session_get", SESSION_GET_SQL },
    { "enr_store_session_get_locked", SESSION_GET_SQL " FOR UPDATE" },
    { "enr_store_session_failed_try", "UPDATE annuaire.validation_sessions"
                                      " SET token_tries = token_tries + 1 WHERE sid = $1" },
    { "enr_store_session_validate", "UPDATE annuaire.validation_sessions"
                                    " SET validated_at = coalesce(validated_at, now()),"
                                    " next_link_used = CASE WHEN validated_at IS NULL"
                                    " THEN next_link ELSE next_link_used END,"
                                    " modified_at = now() WHERE sid = $1" },
    /* A room invitation, pending; it expires invites.validity ($10 seconds) from now
     * (0: never). */
    { "enr_store_invite_insert",
      "INSERT INTO annuaire.invites (token, medium, address, room_id, sender,"
      " ephemeral_public_key, details, verified_by, kind, state, sender_server, expires_at)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, 'room', 'pending', $9,"
      " CASE WHEN $10::integer = 0 THEN NULL"
      " ELSE now() + make_interval(secs => $10::integer) END)"
      " RETURNING id" },
    { "enr_store_invite_sender",
      "SELECT sender FROM annuaire.invites WHERE token = $1" KEY_VALID_SQL },
    { "enr_store_ephemeral_pending",
      "SELECT 1 FROM annuaire.invites WHERE ephemeral_public_key = $1" KEY_VALID_SQL },
    /* On bind: every pending invitation of the address, room and VIP (as internal-info and
     * the enrollment gate count them), used by $3 now, oldest first. */
    { "enr_store_invites_use",
      "WITH u AS (UPDATE annuaire.invites SET state = 'used', used_at = now(), used_by = $3"
      "  WHERE medium = $1 AND address = $2" PENDING_SQL
      "  RETURNING id, kind, token, room_id, sender, created_at)"
      " SELECT id, kind, token, room_id, sender FROM u ORDER BY created_at, id" },
    /* One more invitation today for subject, unless $2 are counted already: no row then. */
    { "enr_store_quota_take", "INSERT INTO annuaire.invite_quotas AS q (subject, day, used)"
                              " VALUES ($1, " QUOTA_DAY_SQL ", 1)"
                              " ON CONFLICT (subject, day) DO UPDATE SET used = q.used + 1"
                              " WHERE q.used < $2::integer"
                              " RETURNING used" },
    { "enr_store_quota_release", "UPDATE annuaire.invite_quotas SET used = used - 1"
                                 " WHERE subject = $1 AND day = " QUOTA_DAY_SQL " AND used > 0" },
    /* The expiry sweep: at most $1 pending invitations past their expiry, that no other
     * instance holds, expired now (their queued mails withdrawn: trigger
     * invites_withdraw_mails). */
    { "enr_store_invites_expire",
      "WITH e AS (UPDATE annuaire.invites SET state = 'expired'"
      "  WHERE id = ANY (ARRAY (SELECT id FROM annuaire.invites"
      "   WHERE state = 'pending' AND expires_at <= now()"
      "   ORDER BY expires_at LIMIT $1::integer FOR UPDATE SKIP LOCKED))"
      "  AND state = 'pending'"
      "  RETURNING id, kind, address)"
      " SELECT id, kind, address FROM e ORDER BY id" },
    /* Run by the expiry worker (core/worker.c): its wake-up, and when the first pending
     * invitation expires (store_queue_next_due). */
    { "enr_store_expiry_listen", "LISTEN annuaire_invites" },
    { "enr_store_expiry_next_due",
      "SELECT ceil(extract(epoch FROM min(expires_at) - now()) * 1000) AS due_ms"
      " FROM annuaire.invites"
      " WHERE state = 'pending'" },
    { "enr_store_onbind_queue",
      "WITH q AS (INSERT INTO annuaire.onbind_queue (destination, body, tokens)"
      " VALUES ($1, $2::jsonb, $3::text[]) RETURNING id)"
      " SELECT pg_notify('annuaire_onbind', ''), id FROM q" },
    /* One callback at a time, for $1 seconds (longer than a call can take) or its
     * backoff when that is longer: nobody else takes it while it is under way. */
    { "enr_store_onbind_claim",
      "UPDATE annuaire.onbind_queue SET attempts = attempts + 1,"
      " next_attempt_at = now() + make_interval(secs =>"
      "  greatest($1::integer, least(3600, power(2, least(attempts, 20)))))"
      " WHERE id = (SELECT id FROM annuaire.onbind_queue"
      "  WHERE done_at IS NULL AND gave_up_at IS NULL"
      "  AND next_attempt_at <= now()"
      "  ORDER BY next_attempt_at" CLAIM_LIMIT " FOR UPDATE SKIP LOCKED)"
      " RETURNING id, destination, body::text, tokens::text" },
    /* Delivered: the invites are the homeserver's now (their rows are kept). */
    { "enr_store_onbind_done", "WITH d AS (UPDATE annuaire.onbind_queue SET done_at = now(),"
                               " last_error = NULL WHERE id = $1)"
                               " UPDATE annuaire.invites SET delivered_at = now()"
                               " WHERE token = ANY ($2::text[]) AND delivered_at IS NULL" },
    /* Refused: the invitations it carried are closed (their keys no longer valid). */
    { "enr_store_onbind_gave_up", "WITH g AS (UPDATE annuaire.onbind_queue SET gave_up_at = now(),"
                                  " last_error = $2 WHERE id = $1)"
                                  " UPDATE annuaire.invites SET callback_refused_at = now()"
                                  " WHERE token = ANY ($3::text[]) AND delivered_at IS NULL" },
    /* The claim is over: the retry comes after the backoff, not the lease. */
    { "enr_store_onbind_retry", "UPDATE annuaire.onbind_queue SET last_error = $2,"
                                " next_attempt_at = now() + make_interval(secs =>"
                                "  least(3600, power(2, least(attempts - 1, 20))))"
                                " WHERE id = $1" },
    /* Run by the onbind worker (core/worker.c): its wake-up across instances, and when
     * the next callback is due (store_queue_next_due). */
    { "enr_store_onbind_listen", "LISTEN annuaire_onbind" },
    { "enr_store_onbind_next_due",
      "SELECT ceil(extract(epoch FROM min(next_attempt_at) - now()) * 1000) AS due_ms"
      " FROM annuaire.onbind_queue"
      " WHERE done_at IS NULL"
      " AND gave_up_at IS NULL" },
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
    static const char *const names[] = { "user_id", "terms_ok" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { token_hash, enr_terms_required_json() };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "enr_store_account_auth", 2, params, &res);

    *user_id = NULL;
    *terms_ok = false;
    if (st > 0 &&
        db_columns(res, "enr_store_account_auth", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        *user_id = xstrdup(PQgetvalue(res, 0, cols[0]));
        *terms_ok = strcmp(PQgetvalue(res, 0, cols[1]), "t") == 0;
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

enum db_status
enr_store_session_by_secret(struct db_conn *c,
                            const char *medium,
                            const char *address,
                            const char *secret_hash,
                            char **sid,
                            long long *send_attempt)
{
    static const char *const names[] = { "sid", "send_attempt" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { medium, address, secret_hash };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "enr_store_session_by_secret", 3, params, &res);

    *sid = NULL;
    if (st > 0 &&
        db_columns(res, "enr_store_session_by_secret", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        *sid = xstrdup(PQgetvalue(res, 0, cols[0]));
        *send_attempt = atoll(PQgetvalue(res, 0, cols[1]));
    }
    PQclear(res);
    return st;
}

enum db_status
enr_store_session_insert(struct db_conn *c,
                         const char *sid,
                         const char *medium,
                         const char *address,
                         const char *secret_hash,
                         long long send_attempt,
                         const char *token_hash,
                         const char *next_link)
{
    char attempt[24];
    const char *params[] = { sid, medium, address, secret_hash, attempt, token_hash, next_link };

    snprintf(attempt, sizeof(attempt), "%lld", send_attempt);
    return db_exec(c, "enr_store_session_insert", 7, params, NULL);
}

enum db_status
enr_store_session_new_token(struct db_conn *c,
                            const char *sid,
                            long long send_attempt,
                            const char *token_hash,
                            const char *next_link)
{
    char attempt[24];
    const char *params[] = { sid, attempt, token_hash, next_link };

    snprintf(attempt, sizeof(attempt), "%lld", send_attempt);
    return db_exec(c, "enr_store_session_new_token", 4, params, NULL);
}

void
enr_session_row_clear(struct enr_session_row *row)
{
    enr_session_clear(&row->s);
    free(row->client_secret_hash);
    free(row->token_hash);
    free(row->next_link_used);
    *row = (struct enr_session_row){ 0 };
}

enum db_status
enr_store_session_get(struct db_conn *c, const char *sid, bool lock, struct enr_session_row *out)
{
    static const char *const names[] = { "medium",     "address",         "client_secret_hash",
                                         "token_hash", "token_tries",     "next_link",
                                         "expired",    "validated_at_ms", "next_link_used" };
    const char *stmt = lock ? "enr_store_session_get_locked" : "enr_store_session_get";
    int cols[ANN_ARRAY_LEN(names)];
    char lifetime[24];
    const char *params[] = { sid, lifetime };
    PGresult *res = NULL;
    enum db_status st;

    snprintf(lifetime, sizeof(lifetime), "%ld", cfg_get()->validation.session_lifetime);
    st = db_exec(c, stmt, 2, params, &res);
    if (st > 0 && db_columns(res, stmt, names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        out->s.sid = xstrdup(sid);
        out->s.medium = xstrdup(PQgetvalue(res, 0, cols[0]));
        out->s.address = xstrdup(PQgetvalue(res, 0, cols[1]));
        out->client_secret_hash = xstrdup(PQgetvalue(res, 0, cols[2]));
        out->token_hash = xstrdup(PQgetvalue(res, 0, cols[3]));
        out->token_tries = atol(PQgetvalue(res, 0, cols[4]));
        out->s.next_link = db_value_dup(res, 0, cols[5]);
        out->s.expired = strcmp(PQgetvalue(res, 0, cols[6]), "t") == 0;
        out->s.validated_at_ms =
            PQgetisnull(res, 0, cols[7]) ? 0 : atoll(PQgetvalue(res, 0, cols[7]));
        out->next_link_used = db_value_dup(res, 0, cols[8]);
    }
    PQclear(res);
    return st;
}

enum db_status
enr_store_session_failed_try(struct db_conn *c, const char *sid)
{
    const char *params[] = { sid };

    return db_exec(c, "enr_store_session_failed_try", 1, params, NULL);
}

enum db_status
enr_store_session_validate(struct db_conn *c, const char *sid)
{
    const char *params[] = { sid };

    return db_exec(c, "enr_store_session_validate", 1, params, NULL);
}

enum db_status
enr_store_invite_insert(struct db_conn *c, const struct enr_invite_row *row, char **out_id)
{
    static const char *const names[] = { "id" };
    int cols[ANN_ARRAY_LEN(names)];
    char validity[24];
    const char *params[] = { row->token,   row->medium,      row->address,
                             row->room_id, row->sender,      row->ephemeral_public_key,
                             row->details, row->verified_by, row->sender_server,
                             validity };
    PGresult *res = NULL;
    enum db_status st;

    snprintf(validity, sizeof(validity), "%ld", row->validity);
    st = db_exec(c, "enr_store_invite_insert", 10, params, &res);
    if (st > 0 &&
        db_columns(res, "enr_store_invite_insert", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    *out_id = st > 0 ? xstrdup(PQgetvalue(res, 0, cols[0])) : NULL;
    PQclear(res);
    return st;
}

enum db_status
enr_store_invite_sender(struct db_conn *c, const char *token, char **sender)
{
    static const char *const names[] = { "sender" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { token };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "enr_store_invite_sender", 1, params, &res);

    if (st > 0 &&
        db_columns(res, "enr_store_invite_sender", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    *sender = st > 0 ? xstrdup(PQgetvalue(res, 0, cols[0])) : NULL;
    PQclear(res);
    return st;
}

enum db_status
enr_store_ephemeral_pending(struct db_conn *c, const char *public_key)
{
    const char *params[] = { public_key };

    return db_exec(c, "enr_store_ephemeral_pending", 1, params, NULL);
}

enum db_status
enr_store_invites_use(struct db_conn *c,
                      const char *medium,
                      const char *address,
                      const char *mxid,
                      enr_store_invite_fn fn,
                      void *arg)
{
    static const char *const names[] = { "id", "kind", "token", "room_id", "sender" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { medium, address, mxid };
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "enr_store_invites_use", 3, params, &res);

    if (st > 0 &&
        db_columns(res, "enr_store_invites_use", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        const struct enr_used_invite u = {
            .id = PQgetvalue(res, row, cols[0]),
            .kind = PQgetvalue(res, row, cols[1]),
            .token = PQgetvalue(res, row, cols[2]),
            .room_id = PQgetisnull(res, row, cols[3]) ? NULL : PQgetvalue(res, row, cols[3]),
            .sender = PQgetisnull(res, row, cols[4]) ? NULL : PQgetvalue(res, row, cols[4]),
        };

        fn(arg, &u);
    }
    PQclear(res);
    return st;
}

enum db_status
enr_store_quota_take(struct db_conn *c, const char *subject, long limit)
{
    char lim[24];
    const char *params[] = { subject, lim };

    snprintf(lim, sizeof(lim), "%ld", limit);
    return db_exec(c, "enr_store_quota_take", 2, params, NULL);
}

enum db_status
enr_store_quota_release(struct db_conn *c, const char *subject)
{
    const char *params[] = { subject };

    return db_exec(c, "enr_store_quota_release", 1, params, NULL);
}

enum db_status
enr_store_invites_expire(struct db_conn *c, long batch, enr_store_expired_fn fn, void *arg)
{
    static const char *const names[] = { "id", "kind", "address" };
    int cols[ANN_ARRAY_LEN(names)];
    char limit[24];
    const char *params[] = { limit };
    PGresult *res = NULL;
    enum db_status st;

    snprintf(limit, sizeof(limit), "%ld", batch);
    st = db_exec(c, "enr_store_invites_expire", 1, params, &res);
    if (st > 0 &&
        db_columns(res, "enr_store_invites_expire", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        fn(arg, PQgetvalue(res, row, cols[0]), PQgetvalue(res, row, cols[1]),
           PQgetvalue(res, row, cols[2]));
    }
    PQclear(res);
    return st;
}

enum db_status
enr_store_onbind_queue(struct db_conn *c,
                       const char *destination,
                       const char *body,
                       const char *const *tokens,
                       size_t n_tokens)
{
    char *array = db_text_array(tokens, n_tokens);
    const char *params[] = { destination, body, array };
    enum db_status st = db_exec(c, "enr_store_onbind_queue", 3, params, NULL);

    free(array);
    return st;
}

void
enr_onbind_claim_clear(struct enr_onbind_claim *cl)
{
    free(cl->id);
    free(cl->destination);
    free(cl->body);
    free(cl->tokens);
    *cl = (struct enr_onbind_claim){ 0 };
}

enum db_status
enr_store_onbind_claim(struct db_conn *c, long lease_s, struct enr_onbind_claim *out)
{
    static const char *const names[] = { "id", "destination", "body", "tokens" };
    int cols[ANN_ARRAY_LEN(names)];
    char lease[24];
    const char *params[] = { lease };
    PGresult *res = NULL;
    enum db_status st;

    snprintf(lease, sizeof(lease), "%ld", lease_s);
    st = db_exec(c, "enr_store_onbind_claim", 1, params, &res);
    if (st > 0 &&
        db_columns(res, "enr_store_onbind_claim", names, cols, ANN_ARRAY_LEN(names)) != 0) {
        st = DB_HARD;
    }
    if (st > 0) {
        out->id = xstrdup(PQgetvalue(res, 0, cols[0]));
        out->destination = xstrdup(PQgetvalue(res, 0, cols[1]));
        out->body = xstrdup(PQgetvalue(res, 0, cols[2]));
        out->tokens = xstrdup(PQgetvalue(res, 0, cols[3]));
    }
    PQclear(res);
    return st;
}

enum db_status
enr_store_onbind_done(struct db_conn *c, const struct enr_onbind_claim *cl)
{
    const char *params[] = { cl->id, cl->tokens };

    return db_exec(c, "enr_store_onbind_done", 2, params, NULL);
}

enum db_status
enr_store_onbind_gave_up(struct db_conn *c, const struct enr_onbind_claim *cl, const char *error)
{
    const char *params[] = { cl->id, error, cl->tokens };

    return db_exec(c, "enr_store_onbind_gave_up", 3, params, NULL);
}

enum db_status
enr_store_onbind_retry(struct db_conn *c, const struct enr_onbind_claim *cl, const char *error)
{
    const char *params[] = { cl->id, error };

    return db_exec(c, "enr_store_onbind_retry", 2, params, NULL);
}
