/*
 * POST /_matrix/identity/v2/account/register: exchanges an OpenID token for an access token,
 * once the homeserver's federation openid/userinfo says whose it is; only homeservers of
 * account.allowed_homeservers (when set), within a call slot.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/cfg.h"
#include "core/crypto.h"
#include "core/federation.h"
#include "core/fetch.h"
#include "core/http.h"
#include "core/json.h"
#include "core/log.h"
#include "enroll/internal.h"

/* The OpenID token object a client got from its homeserver. */
struct register_in {
    const char *access_token;
    const char *token_type;
    const char *matrix_server_name;
    long long expires_in;
};

static const struct jx_field fields[] = {
    { "access_token", JX_STRING, JX_REQUIRED, offsetof(struct register_in, access_token), 1, 4096,
      0, 0, NULL },
    /* Optional: older clients send only access_token and matrix_server_name; the only
     * token type OpenID gives is Bearer, and any other stays refused. */
    { "token_type", JX_STRING, 0, offsetof(struct register_in, token_type), 1, 64, 0, 0, NULL },
    { "matrix_server_name", JX_STRING, JX_REQUIRED,
      offsetof(struct register_in, matrix_server_name), 1, 255, 0, 0, NULL },
    { "expires_in", JX_INT, 0, offsetof(struct register_in, expires_in), 0, 0, 0, INT32_MAX, NULL },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

struct new_account {
    const char *token_hash;
    const char *user_id;
};

static enum db_status
register_txn(struct db_conn *c, const void *in, void *out)
{
    const struct new_account *a = in;

    return enr_store_account_insert(c, a->token_hash, a->user_id);
}

static bool
server_allowed(const char *server_name)
{
    const json_t *allowed = cfg_get()->account.allowed_homeservers;
    size_t i;
    json_t *name;

    if (json_array_size(allowed) == 0) {
        return true;
    }
    json_array_foreach (allowed, i, name) {
        if (strcmp(json_string_value(name), server_name) == 0) {
            return true;
        }
    }
    return false;
}

/* "@localpart:server" where server is exactly the homeserver asked. */
static bool
user_on_server(const char *sub, const char *server_name)
{
    const char *colon = sub ? strchr(sub, ':') : NULL;

    return colon != NULL && sub[0] == '@' && colon > sub + 1 && strlen(sub) <= 255 &&
           strcmp(colon + 1, server_name) == 0;
}

/* Asks the homeserver who the OpenID token belongs to.
 * @param[out] user_id  the Matrix user it vouches for, owned by the caller
 * @return RS_OK with *user_id, else the refusal's status (queued) */
static enum reply_status
userinfo(struct http_req *r, const struct register_in *in, char **user_id)
{
    const struct cfg_account *acc = &cfg_get()->account;
    struct fetch_opts opts;
    struct fetch_result res = { 0 };
    enum err_code ec = E_HS_UNREACHABLE;
    char *base = NULL;
    char *tok = NULL;
    char *url = NULL;
    json_t *j = NULL;
    enum fetch_status fs;

    *user_id = NULL;
    if (fed_prepare_call(in->matrix_server_name, acc, &opts, &base) != FETCH_OK) {
        goto cleanup;
    }
    tok = fetch_escape(in->access_token);
    url = xasprintf("%s/_matrix/federation/v1/openid/userinfo?access_token=%s", base, tok);
    fs = fetch_request(url, NULL, NULL, &opts, &res);
    if (fs == FETCH_REFUSED) {
        ec = E_HS_FORBIDDEN;
        goto cleanup;
    }
    if (fs != FETCH_OK) {
        log_warn("account/register: %s unreachable: %s", in->matrix_server_name, res.error);
        goto cleanup;
    }
    if (res.status != 200) {
        ec = E_OPENID_INVALID;
        goto cleanup;
    }
    j = json_loadb(res.body, res.len, 0, NULL);
    if (!user_on_server(json_string_value(json_object_get(j, "sub")), in->matrix_server_name)) {
        ec = E_OPENID_INVALID;
        goto cleanup;
    }
    *user_id = xstrdup(json_string_value(json_object_get(j, "sub")));
cleanup:
    json_decref(j);
    fetch_result_clear(&res);
    if (url != NULL) {
        OPENSSL_cleanse(url, strlen(url));
    }
    if (tok != NULL) {
        OPENSSL_cleanse(tok, strlen(tok));
    }
    free(url);
    free(tok);
    free(base);
    return *user_id != NULL ? RS_OK : http_reply_status(http_reply_ec(r, ec, NULL));
}

int
enr_account_register_post(struct http_req *r, const json_t *body)
{
    struct register_in in = { 0 };
    enum reply_status rs = http_unpack(r, body, &spec, &in);
    struct fed_server server;
    struct new_account acct;
    char hash[ENR_TOKEN_HASH_LEN + 1];
    char *user_id = NULL;
    char *token = NULL;
    int ret;

    if (rs == RS_OK) {
        rs = enr_limit_register(r);
    }
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (in.token_type != NULL && strcmp(in.token_type, "Bearer") != 0) {
        return http_reply_ec(r, E_INVALID_PARAM, "'token_type' must be Bearer");
    }
    if (fed_parse_server_name(in.matrix_server_name, &server) != 0) {
        return http_reply_ec(r, E_INVALID_PARAM, "'matrix_server_name' is not a server name");
    }
    if (!server_allowed(in.matrix_server_name)) {
        return http_reply_ec(r, E_HS_FORBIDDEN, NULL);
    }
    /* The call may wait request_timeout on a homeserver: only as many at once as
     * account.max_concurrent_calls, and a few per homeserver, so other requests (and
     * the users of other homeservers) keep their threads. */
    if (!fetch_slot_take(in.matrix_server_name)) {
        return enr_reply_hs_busy(r);
    }
    rs = userinfo(r, &in, &user_id);
    fetch_slot_release(in.matrix_server_name);
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    token = cx_random_token(32);
    enr_token_hash(token, hash);
    acct.token_hash = hash;
    acct.user_id = user_id;
    if (db_txn_run(r->db, "account_register", register_txn, &acct, NULL) <= 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else {
        /* Both names: clients read "token" (spec) or "access_token" (older ones). */
        ret = http_reply_json(r, MHD_HTTP_OK,
                              json_pack("{s:s, s:s}", "token", token, "access_token", token));
    }
    OPENSSL_cleanse(token, strlen(token));
    free(token);
    free(user_id);
    return ret;
}
