/*
 * POST /_matrix/identity/api/v1/user_directory/search: the identity server's user
 * directory that Tchap's homeservers defer to (user_directory.defer_to_id_server). The
 * request is X-Matrix signed by a homeserver of search.delegating_homeservers (an empty
 * list refuses every one); the answer is the client-server API's: the annuaire's hits
 * that have a Matrix ID, {results: [{user_id, display_name}], limited}; none for a
 * homeserver of an externals' platform (an external does not browse the agents).
 */
#include <stdbool.h>

#include "core/cfg.h"
#include "core/federation.h"
#include "core/log.h"
#include "core/xmatrix.h"
#include "directory/internal.h"
#include "directory/search.h"
#include "routing/routing.h"

#define SIGNED_MAX_LIMIT 100

/* Whether origin is one of search.delegating_homeservers. */
static bool
origin_allowed(const char *origin)
{
    const json_t *list = dir_search_config(cfg_get()).delegating_hs;
    size_t i;
    json_t *v;

    json_array_foreach (list, i, v) {
        if (fed_server_name_eq(json_string_value(v), origin)) {
            return true;
        }
    }
    return false;
}

/* Whether the signing homeserver is an externals' platform (routing_server_external). */
static bool
origin_external(const char *origin)
{
    struct routing_map *routes = routing_acquire();
    bool external = routing_server_external(routes, origin);

    routing_release(routes);
    return external;
}

/* The homeserver that signed the request, checked. @return RS_OK, or the refusal queued
 * (403 E_USERDIR_FORBIDDEN, 503 E_HS_BUSY) */
static enum reply_status
check_signer(struct http_req *r, const json_t *body, struct xmatrix_auth *x)
{
    char esc[LOG_ESC_SIZE];

    if (xmatrix_parse(r, x) != 0) {
        log_debug("user_directory/search: no X-Matrix signature");
    } else if (!origin_allowed(x->origin)) {
        log_debug("user_directory/search: %s is not in search.delegating_homeservers",
                  log_esc(x->origin, esc));
    } else {
        switch (xmatrix_verify(r, body, x)) {
        case XMATRIX_VALID:
            return RS_OK;
        case XMATRIX_BUSY:
            return http_reply_status(http_reply_ec_extra(
                r, E_HS_BUSY, NULL, json_pack("{s:i}", "retry_after_ms", 1000)));
        case XMATRIX_INVALID:
            log_debug("user_directory/search: bad signature of %s", log_esc(x->origin, esc));
            break;
        }
    }
    return http_reply_status(http_reply_ec(r, E_USERDIR_FORBIDDEN, NULL));
}

int
dir_user_directory_signed_post(struct http_req *r, const json_t *body)
{
    struct dir_userdir_in in;
    struct xmatrix_auth x;
    json_t *results = NULL;
    json_t *seen = NULL;
    enum dir_search_status st;
    enum reply_status rs;
    bool more = false;
    int ret;

    rs = check_signer(r, body, &x);
    if (rs == RS_OK) {
        rs = dir_limit_search(r, "server", x.origin);
    }
    if (rs == RS_OK) {
        rs = dir_userdir_parse(r, body, SIGNED_MAX_LIMIT, &in);
    }
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    results = json_array();
    seen = json_object();
    st = origin_external(x.origin) ? DIR_SEARCH_OK
                                   : dir_userdir_search(db_thread_read_conn(), in.search_term,
                                                        (int)in.limit, results, seen, &more);
    if (st != DIR_SEARCH_OK) {
        ret = dir_userdir_reply_status(r, st);
    } else {
        ret = http_reply_json(r, MHD_HTTP_OK,
                              json_pack("{s:O, s:b}", "results", results, "limited", more));
    }
    json_decref(seen);
    json_decref(results);
    return ret;
}
