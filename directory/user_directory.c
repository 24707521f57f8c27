/*
 * Shared by the two user_directory/search handlers (the client-compatible path and the
 * signed v1 path): their body {search_term, limit}, and the annuaire's hits that have a
 * Matrix ID as the client-server API's results [{user_id, display_name}].
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "directory/internal.h"
#include "directory/search.h"
#include "routing/routing.h"

/* Pages of the annuaire read at most for one answer: hits without a Matrix ID are left
 * out, so a page may give fewer than asked for. */
#define USERDIR_MAX_PAGES 4

static const struct jx_field userdir_fields[] = {
    { "search_term", JX_STRING, JX_REQUIRED, offsetof(struct dir_userdir_in, search_term), 0,
      DIR_SEARCH_MAX_TERM, 0, 0, NULL },
    { "limit", JX_INT, 0, offsetof(struct dir_userdir_in, limit), 0, 0, 1, INT32_MAX, NULL },
};
/* Clients and homeservers may send more than the spec's two keys: they are ignored. */
static const struct jx_spec userdir_spec = { userdir_fields, ANN_ARRAY_LEN(userdir_fields), true };

enum reply_status
dir_userdir_parse(struct http_req *r, const json_t *body, int max_limit, struct dir_userdir_in *in)
{
    enum reply_status rs;

    in->search_term = NULL;
    in->limit = DIR_USERDIR_DEFAULT_LIMIT;
    rs = http_unpack(r, body, &userdir_spec, in);
    if (rs == RS_OK && in->limit > max_limit) {
        in->limit = max_limit;
    }
    return rs;
}

enum dir_search_status
dir_userdir_search(struct db_conn *c,
                   const char *term,
                   int want,
                   json_t *results,
                   json_t *seen,
                   bool *more)
{
    struct routing_map *routes = routing_acquire();
    struct dir_search_query q = { .term = term,
                                  .limit = want + 1 > 100 ? 100 : want + 1,
                                  .min_term = dir_search_config(cfg_get()).min_term };
    bool externals = dir_search_config(cfg_get()).include_externals;
    enum dir_search_status st = DIR_SEARCH_OK;
    char *after = NULL;
    int added = 0;

    *more = false;
    for (int page = 0; page < USERDIR_MAX_PAGES && !*more; page++) {
        struct dir_search_result res = { 0 };

        q.after = after;
        st = dir_search(c, routes, externals, &q, &res);
        if (st != DIR_SEARCH_OK) {
            break;
        }
        for (size_t i = 0; i < res.n && !*more; i++) {
            const struct dir_search_hit *h = &res.hits[i];

            if (h->mxid == NULL || json_object_get(seen, h->mxid) != NULL) {
                continue;
            }
            if (added == want) {
                *more = true; /* one more than asked for: limited */
                break;
            }
            json_object_set_new(seen, h->mxid, json_true());
            json_array_append_new(results, json_pack("{s:s, s:s?}", "user_id", h->mxid,
                                                     "display_name", h->display_name));
            added++;
        }
        free(after);
        after = res.next != NULL ? xstrdup(res.next) : NULL;
        dir_search_result_clear(&res);
        if (after == NULL) {
            break;
        }
        if (page == USERDIR_MAX_PAGES - 1) {
            *more = true; /* not read further: there may be more */
        }
    }
    free(after);
    routing_release(routes);
    return st;
}

int
dir_userdir_reply_status(struct http_req *r, enum dir_search_status st)
{
    switch (st) {
    case DIR_SEARCH_SHORT:
        return http_reply_ec(r, E_INVALID_PARAM, "search_term is shorter than search.min_term");
    case DIR_SEARCH_BAD_PARAM:
    case DIR_SEARCH_BAD_CURSOR:
        return http_reply_ec(r, E_INVALID_PARAM, "search_term");
    case DIR_SEARCH_DB:
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    case DIR_SEARCH_OK:
        break;
    }
    log_bug("dir_userdir_reply_status: not an error");
    return http_reply_ec(r, E_INTERNAL, NULL);
}
