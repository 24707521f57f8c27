/*
 * POST /_matrix/identity/v2/lookup: the hashed contact lookup (sha256, and none when
 * lookup.allow_plain), and the limits every lookup endpoint shares.
 */
#include <stdlib.h>
#include <string.h>

#include "core/address.h"
#include "core/cfg.h"
#include "core/http.h"
#include "core/json.h"
#include "core/ratelimit.h"
#include "directory/internal.h"

struct lookup_in {
    const char *algorithm;
    const char *pepper;
    const json_t *addresses;
};

static const struct jx_field fields[] = {
    { "algorithm", JX_STRING, JX_REQUIRED, offsetof(struct lookup_in, algorithm), 1, 32, 0, 0,
      NULL },
    { "pepper", JX_STRING, JX_REQUIRED, offsetof(struct lookup_in, pepper), 0, 256, 0, 0, NULL },
    { "addresses", JX_ARRAY, JX_REQUIRED, offsetof(struct lookup_in, addresses), 0, 0, 0, 0, NULL },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

#define SHA256_B64_LEN 43

static bool
hash_shaped(const char *s, size_t len)
{
    return len == SHA256_B64_LEN &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

static int
reply_bad_pepper(struct http_req *r, const char *algorithm, const char *current)
{
    json_t *extra =
        json_pack("{s:s, s:s}", "algorithm", algorithm, "lookup_pepper", current ? current : "");

    return http_reply_ec_extra(r, E_INVALID_PEPPER, NULL, extra);
}

/* A match goes into the mappings object: key -> mxid. */
static void
add_mapping(void *arg, const char *key, const char *mxid)
{
    json_object_set_new(arg, key, json_string(mxid));
}

/* sha256: one indexed query for all hashes; the pepper is checked in the same round trip,
 * on the same server (the replica while it is fresh, db_thread_read_conn). */
static int
lookup_hashes(struct http_req *r, const struct lookup_in *in)
{
    size_t n = json_array_size(in->addresses);
    const char **hashes = xmalloc((n > 0 ? n : 1) * sizeof(*hashes));
    json_t *mappings = json_object();
    char *pepper = NULL;
    size_t n_hashes = 0;
    enum db_status st;
    size_t i;
    json_t *v;
    int ret;

    json_array_foreach (in->addresses, i, v) {
        /* Anything not shaped like a hash cannot match: left out of the query. */
        if (json_is_string(v) && hash_shaped(json_string_value(v), json_string_length(v))) {
            hashes[n_hashes++] = json_string_value(v);
        }
    }
    st = dir_store_lookup_hashes(db_thread_read_conn(), hashes, n_hashes, &pepper, add_mapping,
                                 mappings);
    if (st == DB_NO_ROWS) { /* no pepper row, so no mapping either: a replica without it yet */
        st = dir_store_lookup_hashes(db_read_from_primary(), hashes, n_hashes, &pepper, add_mapping,
                                     mappings);
    }
    free(hashes);
    if (st < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else if (st == 0 || strcmp(pepper, in->pepper) != 0) {
        ret = reply_bad_pepper(r, in->algorithm, pepper);
    } else {
        ret = http_reply_json(r, MHD_HTTP_OK, json_pack("{s:O}", "mappings", mappings));
    }
    json_decref(mappings);
    free(pepper);
    return ret;
}

/* none: "<address> <medium>" in the clear. */
static int
lookup_plain(struct http_req *r, const struct lookup_in *in)
{
    json_t *pairs = json_array();
    char *pepper = NULL;
    json_t *mappings;
    enum db_status st;
    size_t i;
    json_t *v;
    int ret;

    st = dir_store_pepper_get(db_thread_read_conn(), &pepper);
    if (st == DB_NO_ROWS) { /* a replica without the first pepper yet */
        st = dir_store_pepper_get(db_read_from_primary(), &pepper);
    }
    if (st <= 0) {
        json_decref(pairs);
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    if (strcmp(pepper, in->pepper) != 0) {
        ret = reply_bad_pepper(r, in->algorithm, pepper);
        free(pepper);
        json_decref(pairs);
        return ret;
    }
    free(pepper);
    json_array_foreach (in->addresses, i, v) {
        const char *s = json_string_value(v);
        const char *space = s ? strrchr(s, ' ') : NULL;
        char *medium;
        char *norm = NULL;
        char *addr;

        if (space == NULL) {
            continue;
        }
        addr = xstrndup(s, (size_t)(space - s));
        medium = xstrdup(space + 1);
        if (addr_normalise(medium, addr, &norm) == 0) {
            json_array_append_new(pairs, json_pack("[s, s, s]", medium, norm, s));
        }
        free(norm);
        free(addr);
        free(medium);
    }
    mappings = json_object();
    st = dir_store_lookup_pairs(db_thread_read_conn(), pairs, add_mapping, mappings);
    json_decref(pairs);
    if (st < 0) {
        json_decref(mappings);
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "mappings", mappings));
}

enum reply_status
dir_limit_lookup(struct http_req *r)
{
    const struct cfg_ratelimit *rl = &cfg_get()->ratelimit;
    const struct rl_limit by_ip = { "lookup_ip", rl->lookup_ip_burst, rl->lookup_ip_interval_ms };
    const struct rl_limit by_user = { "lookup_user", rl->lookup_user_burst,
                                      rl->lookup_user_interval_ms };
    char ip[64];
    enum reply_status rs = http_rate_limit(r, &by_ip, http_client_ip(r, ip, sizeof(ip)));

    return rs == RS_OK ? http_rate_limit(r, &by_user, r->user_id) : rs;
}

int
dir_lookup_post(struct http_req *r, const json_t *body)
{
    struct lookup_in in = { 0 };
    enum reply_status rs = dir_limit_lookup(r);

    if (rs == RS_OK) {
        rs = http_unpack(r, body, &spec, &in);
    }
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (json_array_size(in.addresses) > (size_t)cfg_get()->lookup.max_addresses) {
        return http_reply_ec(r, E_LOOKUP_TOO_MANY, NULL);
    }
    if (strcmp(in.algorithm, "sha256") == 0) {
        return lookup_hashes(r, &in);
    }
    if (strcmp(in.algorithm, "none") == 0 && cfg_get()->lookup.allow_plain) {
        return lookup_plain(r, &in);
    }
    return http_reply_ec(r, E_INVALID_PARAM, "unsupported algorithm");
}
