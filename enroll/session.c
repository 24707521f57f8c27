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

static void
fill(struct enr_session *s, PGresult *res, const char *sid)
{
    enr_session_clear(s);
    s->sid = xstrdup(sid);
    s->medium = xstrdup(PQgetvalue(res, 0, 0));
    s->address = xstrdup(PQgetvalue(res, 0, 1));
    s->next_link = PQgetisnull(res, 0, 5) ? NULL : xstrdup(PQgetvalue(res, 0, 5));
    s->validated_at_ms = PQgetisnull(res, 0, 6) ? 0 : atoll(PQgetvalue(res, 0, 6));
    s->expired = strcmp(PQgetvalue(res, 0, 7), "t") == 0;
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
    PGresult *res = NULL;
    enum db_status st = enr_store_session_get(c, sid, false, &res);

    if (st > 0) {
        if (hash_matches(PQgetvalue(res, 0, 2), client_secret)) {
            fill(s, res, sid);
        } else {
            st = DB_NO_ROWS;
        }
    }
    PQclear(res);
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
    PGresult *res = NULL;
    enum db_status st = enr_store_session_get(c, q->sid, true, &res);

    if (st <= 0 || !hash_matches(PQgetvalue(res, 0, 2), q->client_secret)) {
        a->result = ENR_SUBMIT_NO_SESSION;
        PQclear(res);
        return st < 0 ? st : DB_NO_ROWS;
    }
    fill(a->s, res, q->sid);
    if (a->s->expired) {
        a->result = ENR_SUBMIT_EXPIRED;
    } else if (atol(PQgetvalue(res, 0, 4)) >= cfg_get()->validation.max_token_tries) {
        a->result = ENR_SUBMIT_TOO_MANY_TRIES;
    } else if (!hash_matches(PQgetvalue(res, 0, 3), q->token)) {
        a->result = ENR_SUBMIT_BAD_TOKEN;
        st = enr_store_session_failed_try(c, q->sid); /* committed: tries are bounded */
    } else if (a->s->validated_at_ms != 0 &&
               !same_link(a->s->next_link, PQgetisnull(res, 0, 8) ? NULL : PQgetvalue(res, 0, 8))) {
        /* Validated with one next_link, and another asked for since: refused. */
        a->result = ENR_SUBMIT_NEXT_LINK_CHANGED;
    } else {
        a->result = ENR_SUBMIT_OK;
        st = enr_store_session_validate(c, q->sid);
    }
    PQclear(res);
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
