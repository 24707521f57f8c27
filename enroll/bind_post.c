#include <string.h>

#include "core/federation.h"
#include "core/http.h"
#include "core/json.h"
#include "directory/directory.h"
#include "enroll/internal.h"

struct bind_in {
    const char *sid;
    const char *client_secret;
    const char *mxid;
};

static const struct jx_field fields[] = {
    { "sid", JX_STRING, JX_REQUIRED, offsetof(struct bind_in, sid), 1, 255, 0, 0,
      enr_client_secret_ok },
    { "client_secret", JX_STRING, JX_REQUIRED, offsetof(struct bind_in, client_secret), 1, 255, 0,
      0, enr_client_secret_ok },
    { "mxid", JX_STRING, JX_REQUIRED, offsetof(struct bind_in, mxid), 3, 255, 0, 0, enr_mxid_ok },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

bool
enr_mxid_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    struct fed_server server;

    return s[0] == '@' && colon != NULL && colon > s + 1 && strlen(s) <= 255 &&
           fed_parse_server_name(colon + 1, &server) == 0;
}

static enum db_status
bind_txn(struct db_conn *c, const void *in, void *out)
{
    return dir_assoc_bind(c, in);
}

int
enr_bind_post(struct http_req *r, const json_t *body)
{
    struct bind_in in = { 0 };
    enum reply_status rs = http_unpack(r, body, &spec, &in);
    struct enr_session s = { 0 };
    struct dir_assoc a = { 0 };
    json_t *signed_assoc;
    enum db_status st;
    int ret;

    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    /* v2: a user binds only its own Matrix ID. (v1 has no token to check.) */
    if (r->user_id != NULL && strcmp(r->user_id, in.mxid) != 0) {
        return http_reply_ec(r, E_THREEPID_MISMATCH, NULL);
    }
    st = enr_session_find(r->db, in.sid, in.client_secret, &s);
    if (st < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    if (st == 0) {
        return http_reply_ec(r, E_NO_VALID_SESSION, NULL);
    }
    if (s.expired || s.validated_at_ms == 0) {
        ret = http_reply_ec(r, s.expired ? E_SESSION_EXPIRED : E_SESSION_NOT_VALIDATED, NULL);
        enr_session_clear(&s);
        return ret;
    }
    a.medium = s.medium;
    a.address = s.address;
    a.mxid = (char *)in.mxid;
    dir_assoc_now(&a);
    if (db_txn_run(r->db, "bind", bind_txn, &a, NULL) < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else if ((signed_assoc = dir_assoc_signed(&a)) == NULL) {
        ret = http_reply_ec(r, E_INTERNAL, NULL);
    } else {
        ret = http_reply_json(r, MHD_HTTP_OK, signed_assoc);
    }
    enr_session_clear(&s);
    return ret;
}
