/*
 * GET /_matrix/identity/v2/3pid/getValidated3pid (and api/v1): the medium, address and
 * validation time of a validated session that has not expired.
 */
#include <string.h>

#include "core/http.h"
#include "enroll/internal.h"

int
enr_validated3pid_get(struct http_req *r, const json_t *body)
{
    const char *sid = http_query(r, "sid");
    const char *secret = http_query(r, "client_secret");
    struct enr_session s = { 0 };
    enum db_status st;
    int ret;

    if (sid == NULL || secret == NULL) {
        return http_reply_ec(r, E_MISSING_PARAMS, "sid and client_secret are required");
    }
    if (!enr_client_secret_ok(sid) || !enr_client_secret_ok(secret)) {
        return http_reply_ec(r, E_NO_VALID_SESSION, NULL);
    }
    st = enr_session_find(r->db, sid, secret, &s);
    if (st < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else if (st == 0) {
        ret = http_reply_ec(r, E_NO_VALID_SESSION, NULL);
    } else if (s.expired) {
        ret = http_reply_ec(r, E_SESSION_EXPIRED, NULL);
    } else if (s.validated_at_ms == 0) {
        ret = http_reply_ec(r, E_SESSION_NOT_VALIDATED, NULL);
    } else {
        ret = http_reply_json(r, MHD_HTTP_OK,
                              json_pack("{s:s, s:s, s:I}", "medium", s.medium, "address", s.address,
                                        "validated_at", (json_int_t)s.validated_at_ms));
    }
    enr_session_clear(&s);
    return ret;
}
