/*
 * GET /_matrix/identity/versions: the identity API versions this server answers.
 */
#include "core/http.h"
#include "directory/internal.h"

/* The identity API versions this server answers, oldest first. */
static const char *const versions[] = { "r0.3.0", "v1.1", "v1.2", "v1.3",  "v1.4",  "v1.5", "v1.6",
                                        "v1.7",   "v1.8", "v1.9", "v1.10", "v1.11", "v1.12" };

int
dir_versions_get(struct http_req *r, const json_t *body)
{
    json_t *list = json_array();

    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        json_array_append_new(list, json_string(versions[i]));
    }
    return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "versions", list));
}
