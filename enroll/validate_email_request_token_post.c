/*
 * POST /_matrix/identity/v2/validate/email/requestToken (and api/v1): past the rate limits
 * and the enrollment gate, creates or renews a validation session and queues the mail with
 * its link; a repeated send_attempt gets the same sid and no mail.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/address.h"
#include "core/cfg.h"
#include "core/crypto.h"
#include "core/fetch.h"
#include "core/http.h"
#include "core/json.h"
#include "core/mail.h"
#include "directory/directory.h"
#include "enroll/internal.h"

struct request_in {
    const char *client_secret;
    const char *email;
    long long send_attempt;
    const char *next_link;
};

static const struct jx_field fields[] = {
    { "client_secret", JX_STRING, JX_REQUIRED, offsetof(struct request_in, client_secret), 1, 255,
      0, 0, enr_client_secret_ok },
    { "email", JX_STRING, JX_REQUIRED, offsetof(struct request_in, email), 1, 254, 0, 0, NULL },
    { "send_attempt", JX_INT, JX_REQUIRED | JX_NUMERIC_STRING,
      offsetof(struct request_in, send_attempt), 0, 0, 0, 1000000000LL, NULL },
    { "next_link", JX_STRING, 0, offsetof(struct request_in, next_link), 1, 2048, 0, 0,
      enr_next_link_ok },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

struct request {
    const struct request_in *in;
    const char *address; /* canonical: what the session stands for, and where the mail goes */
    char secret_hash[ENR_TOKEN_HASH_LEN + 1];
    enum enr_lang lang;
};

struct request_out {
    char *sid;
    bool queued;
    bool render_failed;
};

/* Builds the verification mail for a fresh token. @return the message or NULL */
static char *
render(const struct request *q, const char *sid, const char *token)
{
    const struct cfg *cfg = cfg_get();
    char *secret = fetch_escape(q->in->client_secret);
    char *link = xasprintf("%s/_matrix/identity/v2/validate/email/submitToken?token=%s"
                           "&client_secret=%s&sid=%s",
                           cfg->server.public_base_url, token, secret, sid);
    char *from_addr = mail_address_of(cfg->mail.from);
    const char *domain = from_addr ? strchr(from_addr, '@') : NULL;
    const struct util_var vars[] = {
        { "from", cfg->mail.from }, { "to", q->address }, { "address", q->address },
        { "link", link },           { "token", token },   { "brand", cfg->mail.brand },
    };
    char *msg = mail_render(enr_template(ENR_TPL_VERIFICATION, q->lang), vars, ANN_ARRAY_LEN(vars),
                            domain ? domain + 1 : NULL);

    OPENSSL_cleanse(link, strlen(link));
    free(link);
    free(secret);
    free(from_addr);
    return msg;
}

static enum db_status
request_txn(struct db_conn *c, const void *in, void *out)
{
    const struct request *q = in;
    struct request_out *o = out;
    char token_hash[ENR_TOKEN_HASH_LEN + 1];
    long long last_attempt = 0;
    char *token = NULL;
    char *msg = NULL;
    enum db_status st;

    free(o->sid);
    memset(o, 0, sizeof(*o));
    st =
        enr_store_session_by_secret(c, "email", q->address, q->secret_hash, &o->sid, &last_attempt);
    if (st < 0) {
        return st;
    }
    if (st > 0 && q->in->send_attempt <= last_attempt) {
        return 1; /* a retry of a request already handled: same sid, no new mail */
    }
    token = cx_random_token(18);
    enr_token_hash(token, token_hash);
    if (st == 0) {
        o->sid = cx_random_token(18);
        st = enr_store_session_insert(c, o->sid, "email", q->address, q->secret_hash,
                                      q->in->send_attempt, token_hash, q->in->next_link);
        if (st == DB_NO_ROWS) {
            st = DB_SOFT; /* created concurrently: the retry finds it */
        }
    } else {
        st = enr_store_session_new_token(c, o->sid, q->in->send_attempt, token_hash,
                                         q->in->next_link);
    }
    if (st > 0) {
        msg = render(q, o->sid, token);
        if (msg == NULL) {
            o->render_failed = true;
            st = DB_HARD;
        } else {
            st = mail_queue(c, q->address, "verification", msg);
            o->queued = st > 0;
        }
    }
    if (msg != NULL) {
        OPENSSL_cleanse(msg, strlen(msg));
    }
    OPENSSL_cleanse(token, strlen(token));
    free(msg);
    free(token);
    return st;
}

int
enr_email_request_token_post(struct http_req *r, const json_t *body)
{
    struct request_in in = { 0 };
    enum reply_status rs = http_unpack(r, body, &spec, &in);
    struct request q = { .in = &in };
    struct request_out out = { 0 };
    char *address = NULL;
    const char *why = NULL;
    enum db_status st;
    int ret;

    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (addr_email_check(in.email, &address, &why) != 0) {
        return http_reply_ec(r, E_INVALID_EMAIL, why);
    }
    if (in.next_link != NULL && !enr_next_link_allowed(in.next_link)) {
        free(address);
        return http_reply_ec(r, E_INVALID_PARAM, "next_link is not on the allowed domains");
    }
    rs = enr_limit_mail(r, address);
    if (rs != RS_OK) {
        free(address);
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    /* The enrollment gate, after the limits (its answer says something of the address):
     * no mail for an address that could register nowhere. */
    if (cfg_get()->routing.enrollment_gate) {
        enum dir_enroll verdict = dir_enroll_check(r->db, "email", address);

        if (verdict != DIR_ENROLL_OK) {
            free(address);
            return verdict == DIR_ENROLL_ERROR
                       ? http_reply_ec(r, E_DB_UNAVAILABLE, NULL)
                       : http_reply_ec(r, E_ENROLL_FORBIDDEN, enr_enroll_refusal(verdict));
        }
    }
    q.address = address;
    q.lang = enr_lang_pick(http_header(r, MHD_HTTP_HEADER_ACCEPT_LANGUAGE));
    enr_token_hash(in.client_secret, q.secret_hash);
    st = db_txn_run(r->db, "request_token", request_txn, &q, &out);
    if (st < 0) {
        ret = http_reply_ec(r, out.render_failed ? E_EMAIL_SEND_ERROR : E_DB_UNAVAILABLE, NULL);
    } else {
        if (out.queued) {
            mail_wake();
        }
        ret = http_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "sid", out.sid));
    }
    free(out.sid);
    free(address);
    return ret;
}
