/*
 * POST /_matrix/identity/v2/account/logout: deletes the access token's account;
 * M_UNAUTHORIZED when it was deleted meanwhile.
 */
#include "core/http.h"
#include "enroll/internal.h"

static enum db_status
logout_txn(struct db_conn *c, const void *in, void *out)
{
    return enr_store_account_delete(c, in);
}

int
enr_account_logout_post(struct http_req *r, const json_t *body)
{
    char hash[ENR_TOKEN_HASH_LEN + 1];
    enum db_status st;

    enr_token_hash(r->access_token, hash);
    st = db_txn_run(r->db, "logout", logout_txn, hash, NULL);
    if (st < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    if (st == 0) {
        return http_reply_ec(r, E_UNAUTHORIZED, NULL); /* logged out meanwhile */
    }
    return http_reply_json(r, MHD_HTTP_OK, json_object());
}
