/*
 * POST /_matrix/identity/v2/terms: records the URLs of current policies the token's user
 * accepts; other URLs are left out.
 */
#include <stdlib.h>

#include "core/http.h"
#include "core/json.h"
#include "enroll/internal.h"

struct terms_in {
    const json_t *user_accepts;
};

static const struct jx_field fields[] = {
    { "user_accepts", JX_ARRAY, JX_REQUIRED, offsetof(struct terms_in, user_accepts), 0, 100, 0, 0,
      NULL },
};
static const struct jx_spec spec = { fields, 1, true };

struct accept {
    const char *user_id;
    const char *urls_json;
};

static enum db_status
accept_txn(struct db_conn *c, const void *in, void *out)
{
    const struct accept *a = in;

    return enr_store_terms_accept(c, a->user_id, a->urls_json);
}

int
enr_terms_post(struct http_req *r, const json_t *body)
{
    struct terms_in in = { 0 };
    enum reply_status rs = http_unpack(r, body, &spec, &in);
    json_t *known = NULL;
    json_t *url;
    size_t i;
    struct accept a;
    int ret;

    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    known = json_array();
    json_array_foreach (in.user_accepts, i, url) {
        if (!json_is_string(url)) {
            json_decref(known);
            return http_reply_ec(r, E_INVALID_PARAM, "'user_accepts' must list URLs");
        }
        /* Only URLs of current policies are recorded; others mean nothing here. */
        if (enr_terms_is_policy_url(json_string_value(url))) {
            json_array_append(known, url);
        }
    }
    a.user_id = r->user_id;
    a.urls_json = json_dumps(known, JSON_COMPACT);
    if (json_array_size(known) > 0 && db_txn_run(r->db, "terms", accept_txn, &a, NULL) < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else {
        ret = http_reply_json(r, MHD_HTTP_OK, json_object());
    }
    free((char *)a.urls_json);
    json_decref(known);
    return ret;
}
