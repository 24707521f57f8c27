/* GET /health: whether this instance reaches its database. */
#include "core/db.h"
#include "core/ops.h"

int
ops_health_get(struct http_req *r, const json_t *body)
{
    if (db_ping(r->db) < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}
