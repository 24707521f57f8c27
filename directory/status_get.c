/*
 * GET /_matrix/identity/v2 and GET /_matrix/identity/api/v1: the spec's status check, an
 * empty object.
 */
#include "core/http.h"
#include "directory/internal.h"

int
dir_status_get(struct http_req *r, const json_t *body)
{
    return http_reply_json(r, MHD_HTTP_OK, json_object());
}
