/*
 * GET /_matrix/identity/v2/account: the user ID the access token belongs to.
 */
#include "core/http.h"
#include "enroll/internal.h"

int
enr_account_get(struct http_req *r, const json_t *body)
{
    return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "user_id", r->user_id));
}
