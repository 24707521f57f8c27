/*
 * POST /_matrix/identity/v2/3pid/bind and POST /_matrix/identity/api/v1/3pid/bind: binds the
 * 3PID of a validated session to a Matrix ID (the token's own user; for v1, a user of a
 * homeserver legacy.homeservers lists); the address's pending invitations become used by it
 * (each in the audit log), the room ones signed inside and an onbind callback queued.
 */
#include <stdlib.h>
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

struct bind_out {
    json_t *signed_assoc; /* with its invites */
    bool callback_queued;
    bool sign_failed;
};

/* Records the binding; the invitations pending for the address are used by it (at most
 * once: a later owner of the address gets none of them), the room ones go into the signed
 * association and a callback to the user's homeserver is queued, all or nothing. */
static enum db_status
bind_txn(struct db_conn *c, const void *in, void *out)
{
    const struct dir_assoc *a = in;
    struct bind_out *o = out;
    struct enr_bind_invites pending = { 0 };
    enum db_status st;

    json_decref(o->signed_assoc);
    memset(o, 0, sizeof(*o));
    st = dir_assoc_bind(c, a);
    if (st < 0) {
        return st;
    }
    st = enr_invites_for_bind(c, a, &pending);
    if (st < 0) {
        return st;
    }
    o->signed_assoc = dir_assoc_signed(a, pending.invites);
    if (o->signed_assoc == NULL) {
        o->sign_failed = true;
        st = DB_HARD;
    } else if (json_array_size(pending.invites) > 0) {
        char *body = json_dumps(o->signed_assoc, JSON_COMPACT);

        st = enr_store_onbind_queue(c, fed_mxid_server(a->mxid), body,
                                    (const char *const *)pending.tokens, pending.n);
        o->callback_queued = st > 0;
        free(body);
    }
    enr_bind_invites_clear(&pending);
    return st < 0 ? st : 1;
}

static int
bind_3pid(struct http_req *r, const json_t *body, bool legacy)
{
    struct bind_in in = { 0 };
    enum reply_status rs;
    struct enr_session s = { 0 };
    struct dir_assoc a = { 0 };
    struct bind_out out = { 0 };
    enum db_status st;
    int ret;

    if (legacy && !enr_legacy_enabled()) {
        return http_reply_ec(r, E_LEGACY_DISABLED, NULL);
    }
    rs = http_unpack(r, body, &spec, &in);
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    /* v2: a user binds only its own Matrix ID; v1: a listed homeserver, from its network,
     * binds only Matrix IDs of its own. */
    if (legacy) {
        rs = enr_legacy_check(r, in.mxid);
        if (rs != RS_OK) {
            return rs == RS_REPLIED ? MHD_YES : MHD_NO;
        }
    } else if (r->user_id == NULL || strcmp(r->user_id, in.mxid) != 0) {
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
    /* The address's homeserver (or its twin) only, as routing maps it. */
    if (!dir_bind_permitted(s.address, in.mxid)) {
        enr_session_clear(&s);
        return http_reply_ec(r, E_BINDING_NOT_PERMITTED, NULL);
    }
    a.medium = s.medium;
    a.address = s.address;
    a.mxid = (char *)in.mxid;
    dir_assoc_now(&a);
    if (db_txn_run(r->db, "bind", bind_txn, &a, &out) < 0) {
        ret = http_reply_ec(r, out.sign_failed ? E_INTERNAL : E_DB_UNAVAILABLE, NULL);
        json_decref(out.signed_assoc);
    } else {
        if (out.callback_queued) {
            enr_onbind_wake();
        }
        ret = http_reply_json(r, MHD_HTTP_OK, out.signed_assoc);
    }
    enr_session_clear(&s);
    return ret;
}

int
enr_bind_post(struct http_req *r, const json_t *body)
{
    return bind_3pid(r, body, false);
}

int
enr_bind_v1_post(struct http_req *r, const json_t *body)
{
    return bind_3pid(r, body, true);
}
