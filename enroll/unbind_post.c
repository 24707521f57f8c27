/*
 * POST /_matrix/identity/v2/3pid/unbind and POST /_matrix/identity/api/v1/3pid/unbind: removes
 * a 3PID's association with a Matrix ID, proved by a validated session for that 3PID or by
 * the homeserver's X-Matrix signature.
 */
#include <stdlib.h>
#include <string.h>

#include "core/address.h"
#include "core/http.h"
#include "core/json.h"
#include "directory/directory.h"
#include "enroll/internal.h"

struct unbind_in {
    const char *mxid;
    const json_t *threepid;
    const char *sid;
    const char *client_secret;
};

static const struct jx_field fields[] = {
    { "mxid", JX_STRING, JX_REQUIRED, offsetof(struct unbind_in, mxid), 3, 255, 0, 0, enr_mxid_ok },
    { "threepid", JX_OBJECT, JX_REQUIRED, offsetof(struct unbind_in, threepid), 0, 0, 0, 0, NULL },
    { "sid", JX_STRING, 0, offsetof(struct unbind_in, sid), 1, 255, 0, 0, enr_client_secret_ok },
    { "client_secret", JX_STRING, 0, offsetof(struct unbind_in, client_secret), 1, 255, 0, 0,
      enr_client_secret_ok },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

struct unbind {
    const char *medium, *address, *mxid;
};

static enum db_status
unbind_txn(struct db_conn *c, const void *in, void *out)
{
    const struct unbind *u = in;
    enum db_status st = dir_assoc_unbind(c, u->medium, u->address, u->mxid);

    return st < 0 ? st : 1;
}

/* Proof of ownership by a validated session for this very 3PID.
 * @return RS_OK, else the refusal's status (queued) */
static enum reply_status
check_session(struct http_req *r,
              const struct unbind_in *in,
              const char *medium,
              const char *address)
{
    struct enr_session s = { 0 };
    enum db_status st = enr_session_find(r->db, in->sid, in->client_secret, &s);
    enum reply_status rs = RS_OK;

    if (st < 0) {
        rs = http_reply_status(http_reply_ec(r, E_DB_UNAVAILABLE, NULL));
    } else if (st == 0 || s.validated_at_ms == 0 || s.expired || strcmp(s.medium, medium) != 0 ||
               strcmp(s.address, address) != 0) {
        rs = http_reply_status(http_reply_ec(r, E_UNBIND_FORBIDDEN, NULL));
    }
    enr_session_clear(&s);
    return rs;
}

int
enr_unbind_post(struct http_req *r, const json_t *body)
{
    struct unbind_in in = { 0 };
    enum reply_status rs = http_unpack(r, body, &spec, &in);
    const char *medium;
    const char *address;
    char *norm = NULL;
    struct unbind u;
    int ret;

    if (rs == RS_OK) {
        rs = enr_limit_unbind(r);
    }
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    medium = json_string_value(json_object_get(in.threepid, "medium"));
    address = json_string_value(json_object_get(in.threepid, "address"));
    if (medium == NULL || address == NULL) {
        return http_reply_ec(r, E_MISSING_PARAMS, "'threepid' needs medium and address");
    }
    if (addr_normalise(medium, address, &norm) != 0) {
        return http_reply_ec(r, E_INVALID_PARAM, "'threepid' is not a valid 3PID");
    }
    if (in.sid != NULL && in.client_secret != NULL) {
        rs = check_session(r, &in, medium, norm);
    } else if (http_header(r, MHD_HTTP_HEADER_AUTHORIZATION) != NULL) {
        rs = enr_xmatrix_check(r, body, in.mxid);
    } else {
        rs = http_reply_status(http_reply_ec(r, E_UNBIND_FORBIDDEN, NULL));
    }
    if (rs != RS_OK) {
        free(norm);
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    u.medium = medium;
    u.address = norm;
    u.mxid = in.mxid;
    if (db_txn_run(r->db, "unbind", unbind_txn, &u, NULL) < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else {
        ret = http_reply_json(r, MHD_HTTP_OK, json_object());
    }
    free(norm);
    return ret;
}
