/*
 * The v1 lookups older clients and homeservers still call: GET
 * /_matrix/identity/api/v1/lookup (one signed association) and POST
 * /_matrix/identity/api/v1/bulk_lookup (pairs in the clear).
 */
#include <stdlib.h>
#include <string.h>

#include "core/address.h"
#include "core/cfg.h"
#include "core/http.h"
#include "core/json.h"
#include "directory/internal.h"

/* GET /_matrix/identity/api/v1/lookup: one signed association, or {}. */
int
dir_lookup_v1_get(struct http_req *r, const json_t *body)
{
    const char *medium = http_query(r, "medium");
    const char *address = http_query(r, "address");
    struct dir_assoc a = { 0 };
    char *norm = NULL;
    json_t *signed_assoc;
    enum db_status st;
    int ret;

    enum reply_status rs = dir_limit_lookup(r);

    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (medium == NULL || address == NULL) {
        return http_reply_ec(r, E_MISSING_PARAMS, "medium and address are required");
    }
    if (addr_normalise(medium, address, &norm) != 0) {
        return http_reply_json(r, MHD_HTTP_OK, json_object()); /* cannot be bound */
    }
    st = dir_store_assoc_get(db_thread_read_conn(), medium, norm, &a);
    free(norm);
    if (st < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    if (st == 0) {
        return http_reply_json(r, MHD_HTTP_OK, json_object());
    }
    signed_assoc = dir_assoc_signed(&a, NULL);
    dir_assoc_clear(&a);
    if (signed_assoc == NULL) {
        return http_reply_ec(r, E_INTERNAL, NULL);
    }
    ret = http_reply_json(r, MHD_HTTP_OK, signed_assoc);
    return ret;
}

/* The pairs found, in the order the database gives them. */
struct bulk_found {
    const json_t *threepids; /* as sent */
    json_t *found;           /* [[medium, address, mxid], ...] */
};

/* key: the index of the pair in threepids, as text. */
static void
add_found(void *arg, const char *key, const char *mxid)
{
    struct bulk_found *b = arg;
    const json_t *pair = json_array_get(b->threepids, (size_t)atoll(key));

    json_array_append_new(
        b->found, json_pack("[O, O, s]", json_array_get(pair, 0), json_array_get(pair, 1), mxid));
}

struct bulk_in {
    const json_t *threepids;
};

static const struct jx_field fields[] = {
    { "threepids", JX_ARRAY, JX_REQUIRED, offsetof(struct bulk_in, threepids), 0, 0, 0, 0, NULL },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

/* POST /_matrix/identity/api/v1/bulk_lookup: [[medium, address], ...] -> [[medium, address, mxid]].
 */
int
dir_bulk_lookup_v1_post(struct http_req *r, const json_t *body)
{
    struct bulk_in in = { 0 };
    enum reply_status rs = dir_limit_lookup(r);
    struct bulk_found found;
    json_t *pairs;
    enum db_status st;
    size_t i;
    json_t *v;

    if (rs == RS_OK) {
        rs = http_unpack(r, body, &spec, &in);
    }
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (json_array_size(in.threepids) > (size_t)cfg_get()->lookup.max_addresses) {
        return http_reply_ec(r, E_LOOKUP_TOO_MANY, NULL);
    }
    pairs = json_array();
    json_array_foreach (in.threepids, i, v) {
        const char *medium = json_string_value(json_array_get(v, 0));
        const char *address = json_string_value(json_array_get(v, 1));
        char *norm = NULL;

        if (json_array_size(v) != 2 || medium == NULL || address == NULL) {
            json_decref(pairs);
            return http_reply_ec(r, E_INVALID_PARAM,
                                 "'threepids' must hold [medium, address] pairs");
        }
        if (addr_normalise(medium, address, &norm) == 0) {
            /* The key carries the pair as sent, to answer with it. */
            json_array_append_new(pairs, json_pack("[s, s, I]", medium, norm, (json_int_t)i));
        }
        free(norm);
    }
    found.threepids = in.threepids;
    found.found = json_array();
    st = dir_store_lookup_pairs(db_thread_read_conn(), pairs, add_found, &found);
    json_decref(pairs);
    if (st < 0) {
        json_decref(found.found);
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "threepids", found.found));
}
