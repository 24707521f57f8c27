/* POST /_matrix/identity/v2/validate/email/submitToken (and v1): checks the token a
 * validation mail carried and marks the session validated. */
#include "core/http.h"
#include "core/json.h"
#include "enroll/internal.h"

struct submit_in {
    const char *sid;
    const char *client_secret;
    const char *token;
};

static const struct jx_field fields[] = {
    { "sid", JX_STRING, JX_REQUIRED, offsetof(struct submit_in, sid), 1, 255, 0, 0,
      enr_client_secret_ok },
    { "client_secret", JX_STRING, JX_REQUIRED, offsetof(struct submit_in, client_secret), 1, 255, 0,
      0, enr_client_secret_ok },
    { "token", JX_STRING, JX_REQUIRED, offsetof(struct submit_in, token), 1, 255, 0, 0, NULL },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

/* The Matrix error for a failed submission. */
static enum err_code
submit_error(enum enr_submit_result result)
{
    switch (result) {
    case ENR_SUBMIT_NO_SESSION:
        return E_NO_VALID_SESSION;
    case ENR_SUBMIT_EXPIRED:
        return E_SESSION_EXPIRED;
    case ENR_SUBMIT_TOO_MANY_TRIES:
        return E_TOO_MANY_TRIES;
    case ENR_SUBMIT_NEXT_LINK_CHANGED:
        return E_NEXT_LINK_CHANGED;
    case ENR_SUBMIT_BAD_TOKEN:
    case ENR_SUBMIT_OK:
        break;
    }
    return E_TOKEN_INCORRECT;
}

int
enr_email_submit_token_post(struct http_req *r, const json_t *body)
{
    struct submit_in in = { 0 };
    enum reply_status rs = http_unpack(r, body, &spec, &in);
    struct enr_session s = { 0 };
    enum enr_submit_result result;
    int ret;

    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (enr_session_submit(r->db, in.sid, in.client_secret, in.token, &result, &s) != 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else if (result != ENR_SUBMIT_OK) {
        ret = http_reply_ec(r, submit_error(result), NULL);
    } else {
        ret = http_reply_json(r, MHD_HTTP_OK, json_pack("{s:b}", "success", 1));
    }
    enr_session_clear(&s);
    return ret;
}
