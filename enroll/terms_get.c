/*
 * GET /_matrix/identity/v2/terms: the configured terms policies (terms.policies).
 */
#include "core/cfg.h"
#include "core/http.h"
#include "enroll/internal.h"

int
enr_terms_get(struct http_req *r, const json_t *body)
{
    return http_reply_json(r, MHD_HTTP_OK,
                           json_pack("{s:O}", "policies", cfg_get()->terms.policies));
}
