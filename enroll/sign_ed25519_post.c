/*
 * POST /_matrix/identity/v2/sign-ed25519 and GET .../pubkey/ephemeral/isvalid (and their
 * api/v1 twins): signs {mxid, sender, token} of a room invitation with its ephemeral
 * private key, and says whether a key is the ephemeral key of one, while the invitation is
 * pending, or used by a binding whose onbind callback is not delivered yet.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/cfg.h"
#include "core/crypto.h"
#include "core/http.h"
#include "core/json.h"
#include "core/sign.h"
#include "enroll/internal.h"

struct sign_in {
    const char *mxid;
    const char *token;
    const char *private_key;
};

static const struct jx_field fields[] = {
    { "mxid", JX_STRING, JX_REQUIRED, offsetof(struct sign_in, mxid), 3, 255, 0, 0, enr_mxid_ok },
    { "token", JX_STRING, JX_REQUIRED, offsetof(struct sign_in, token), 1, 255, 0, 0, NULL },
    { "private_key", JX_STRING, JX_REQUIRED, offsetof(struct sign_in, private_key), 1, 128, 0, 0,
      NULL },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

/* The ephemeral key handed out with an invite: a 32-byte seed (or seed + public key),
 * base64 in either alphabet. */
static struct cx_ed25519 *
key_from_text(const char *text)
{
    unsigned char *raw = NULL;
    size_t len = 0;
    struct cx_ed25519 *key = NULL;

    if (cx_b64_decode(text, strlen(text), CX_B64_STD, &raw, &len) != 0 &&
        cx_b64_decode(text, strlen(text), CX_B64_URL, &raw, &len) != 0) {
        return NULL;
    }
    if (len == 32 || len == 64) {
        key = cx_ed25519_from_seed(raw);
    }
    OPENSSL_cleanse(raw, len);
    free(raw);
    return key;
}

int
enr_sign_ed25519_post(struct http_req *r, const json_t *body)
{
    struct sign_in in = { 0 };
    enum reply_status rs = http_unpack(r, body, &spec, &in);
    struct cx_ed25519 *key;
    char *sender = NULL;
    json_t *obj;
    enum db_status st;
    int ret;

    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    key = key_from_text(in.private_key);
    if (key == NULL) {
        return http_reply_ec(r, E_INVALID_PARAM, "'private_key' is not an Ed25519 key");
    }
    st = enr_store_invite_sender(r->db, in.token, &sender);
    if (st < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else if (st == 0) {
        ret = http_reply_ec(r, E_INVITE_UNKNOWN, NULL);
    } else {
        obj = json_pack("{s:s, s:s, s:s}", "mxid", in.mxid, "sender", sender, "token", in.token);
        if (sign_json(obj, cfg_get()->server.name, "ed25519:0", key) != 0) {
            json_decref(obj);
            ret = http_reply_ec(r, E_INTERNAL, NULL);
        } else {
            ret = http_reply_json(r, MHD_HTTP_OK, obj);
        }
    }
    free(sender);
    cx_ed25519_free(key);
    return ret;
}

int
enr_ephemeral_isvalid_get(struct http_req *r, const json_t *body)
{
    const char *key = http_query(r, "public_key");
    enum db_status st;

    if (key == NULL) {
        return http_reply_ec(r, E_MISSING_PARAMS, "public_key");
    }
    st = enr_store_ephemeral_pending(r->db, key);
    if (st < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:b}", "valid", st > 0));
}
