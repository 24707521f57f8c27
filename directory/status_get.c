#include "core/http.h"
#include "directory/internal.h"

int
dir_status_get(struct http_req *r, const json_t *body)
{
    return http_reply_json(r, MHD_HTTP_OK, json_object());
}
