/*
 * POST /_annuaire/admin/v1/pepper/rotate (scope directory; an empty body or {}): the
 * rotation of `annuaire pepper rotate`, a new lookup pepper and every association's hash
 * recomputed in one transaction, with its pepper.rotated audit entry. The answer says
 * how many associations were rehashed; the pepper is never in it (clients read it from
 * /hash_details).
 */
#include "admin/internal.h"
#include "core/audit.h"
#include "core/log.h"
#include "directory/directory.h"

int
adm_pepper_rotate_post(struct http_req *r, const json_t *body)
{
    char err[512];
    long long n = 0;

    if (json_object_size(body) > 0) {
        return http_reply_ec(r, E_INVALID_PARAM, "this endpoint takes no parameters");
    }
    if (dir_pepper_rotate(r->db, AUDIT_ADMIN, r->admin, &n, err, sizeof(err)) != 0) {
        log_warn("req=%llu admin: pepper rotation failed: %s", (unsigned long long)r->id, err);
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    log_info("req=%llu admin: pepper rotated by token %s, %lld associations rehashed",
             (unsigned long long)r->id, r->admin, n);
    return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:I}", "rehashed", (json_int_t)n));
}
