/*
 * Validation sessions as the submitToken, bind and unbind handlers share them: finding
 * one by sid and client_secret, and checking a token (bounded tries, expiry, next_link).
 */
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/crypto.h"
#include "enroll/internal.h"

void
enr_session_clear(struct enr_session *s)
{
    free(s->sid);
    free(s->medium);
    free(s->address);
    free(s->next_link);
    memset(s, 0, sizeof(*s));
}

/* Moves the session of row into s. */
static void
take_session(struct enr_session *s, struct enr_session_row *row)
{
    enr_session_clear(s);
    *s = row->s;
    row->s = (struct enr_session){ 0 };
}

/* Whether the stored hash is the hash of secret; constant time. */
static bool
hash_matches(const char *stored_hex, const char *secret)
{
    char hash[ENR_TOKEN_HASH_LEN + 1];

    enr_token_hash(secret, hash);
    return cx_streq(stored_hex, hash);
}

enum db_status
enr_session_find(struct db_conn *c,
                 const char *sid,
                 const char *client_secret,
                 struct enr_session *s)
{
    struct enr_session_row row = { 0 };
    enum db_status st = enr_store_session_get(c, sid, false, &row);

    if (st > 0) {
        if (hash_matches(row.client_secret_hash, client_secret)) {
            take_session(s, &row);
        } else {
            st = DB_NO_ROWS;
        }
    }
    enr_session_row_clear(&row);
    return st;
}

static bool
same_link(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

struct submit {
    const char *sid, *client_secret, *token;
    enum enr_submit_result result;
    struct enr_session *s;
};

static enum db_status
submit_txn(struct db_conn *c, const void *in, void *out)
{
    const struct submit *q = in;
    struct submit *a = out;
    struct enr_session_row row = { 0 };
    enum db_status st = enr_store_session_get(c, q->sid, true, &row);

    if (st <= 0 || !hash_matches(row.client_secret_hash, q->client_secret)) {
        a->result = ENR_SUBMIT_NO_SESSION;
        enr_session_row_clear(&row);
        return st < 0 ? st : DB_NO_ROWS;
    }
    if (row.s.expired) {
        a->result = ENR_SUBMIT_EXPIRED;
    } else if (row.token_tries >= cfg_get()->validation.max_token_tries) {
        a->result = ENR_SUBMIT_TOO_MANY_TRIES;
    } else if (!hash_matches(row.token_hash, q->token)) {
        a->result = ENR_SUBMIT_BAD_TOKEN;
        st = enr_store_session_failed_try(c, q->sid); /* committed: tries are bounded */
    } else if (row.s.validated_at_ms != 0 && !same_link(row.s.next_link, row.next_link_used)) {
        /* Validated with one next_link, and another asked for since: refused. */
        a->result = ENR_SUBMIT_NEXT_LINK_CHANGED;
    } else {
        a->result = ENR_SUBMIT_OK;
        st = enr_store_session_validate(c, q->sid);
    }
    take_session(a->s, &row);
    enr_session_row_clear(&row);
    return st < 0 ? st : 1;
}

int
enr_session_submit(struct db_conn *c,
                   const char *sid,
                   const char *client_secret,
                   const char *token,
                   enum enr_submit_result *result,
                   struct enr_session *s)
{
    struct submit q = { .sid = sid, .client_secret = client_secret, .token = token };
    struct submit a = { .s = s };
    enum db_status st = db_txn_run(c, "submit_token", submit_txn, &q, &a);

    if (st < 0) {
        return -1;
    }
    *result = a.result;
    return 0;
}
