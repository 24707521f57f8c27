/*
 * POST /_annuaire/v1/directory/search: the annuaire's own way into directory search, for
 * holders of an identity-service access token; a page of entries and the opaque cursor
 * of the next one. Also what it shares with GET /_annuaire/v1/directory/entry: who may
 * ask (users of an agents' homeserver, dir_search_agent_caller), the quotas, an entry as
 * JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/json.h"
#include "directory/internal.h"
#include "directory/search.h"

#define SEARCH_LIMIT_DEFAULT 10
#define SEARCH_LIMIT_MAX     50
#define SEARCH_LABEL_MAX     1024 /* ministry, entity: bytes, as long as the sync keeps */
#define SEARCH_DOMAIN_MAX    255

struct search_in {
    const char *term;
    long long limit;
    const char *ministry;
    const char *domain;
    const char *entity;
    const char *next;
};

static const struct jx_field fields[] = {
    { "term", JX_STRING, JX_REQUIRED, offsetof(struct search_in, term), 0, DIR_SEARCH_MAX_TERM, 0,
      0, NULL },
    { "limit", JX_INT, 0, offsetof(struct search_in, limit), 0, 0, 1, SEARCH_LIMIT_MAX, NULL },
    { "ministry", JX_STRING, 0, offsetof(struct search_in, ministry), 1, SEARCH_LABEL_MAX, 0, 0,
      NULL },
    { "domain", JX_STRING, 0, offsetof(struct search_in, domain), 1, SEARCH_DOMAIN_MAX, 0, 0,
      NULL },
    { "entity", JX_STRING, 0, offsetof(struct search_in, entity), 1, SEARCH_LABEL_MAX, 0, 0, NULL },
    { "next", JX_STRING, 0, offsetof(struct search_in, next), 1, DIR_SEARCH_MAX_CURSOR, 0, 0,
      NULL },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

enum reply_status
dir_search_admit(struct http_req *r)
{
    struct routing_map *routes = routing_acquire();
    bool agent = dir_search_agent_caller(routes, r->user_id);

    routing_release(routes);
    if (!agent) {
        return http_reply_status(http_reply_ec(r, E_SEARCH_FORBIDDEN, NULL));
    }
    return dir_limit_search(r, "token", r->user_id);
}

json_t *
dir_search_hit_json(const struct dir_search_hit *h, bool return_email)
{
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s, s:b}", "display_name", h->display_name, "entity",
                          h->entity, "ministry", h->ministry, "kind",
                          h->external ? "external" : "agent", "on_tchap", h->mxid != NULL);

    if (h->mxid != NULL) {
        json_object_set_new(o, "mxid", json_string(h->mxid));
    }
    if (return_email && h->address != NULL) {
        json_object_set_new(o, "email", json_string(h->address));
    }
    return o;
}

static json_t *
result_json(const struct dir_search_result *res, bool return_email)
{
    json_t *results = json_array();
    json_t *out;

    for (size_t i = 0; i < res->n; i++) {
        json_array_append_new(results, dir_search_hit_json(&res->hits[i], return_email));
    }
    out = json_pack("{s:o, s:b}", "results", results, "limited", res->next != NULL);
    if (res->next != NULL) {
        json_object_set_new(out, "next", json_string(res->next));
    }
    return out;
}

int
dir_search_post(struct http_req *r, const json_t *body)
{
    const struct dir_search_config conf = dir_search_config(cfg_get());
    struct search_in in = { .limit = SEARCH_LIMIT_DEFAULT };
    struct dir_search_result res = { 0 };
    struct dir_search_query q;
    struct routing_map *routes;
    enum dir_search_status st;
    enum reply_status rs = dir_search_admit(r);
    char detail[96];
    int ret;

    if (rs == RS_OK) {
        rs = http_unpack(r, body, &spec, &in);
    }
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    q = (struct dir_search_query){ .term = in.term,
                                   .limit = (int)in.limit,
                                   .ministry = in.ministry,
                                   .domain = in.domain,
                                   .entity = in.entity,
                                   .after = in.next,
                                   .min_term = conf.min_term };
    routes = routing_acquire();
    st = dir_search(db_thread_read_conn(), routes, conf.include_externals, &q, &res);
    routing_release(routes);
    switch (st) {
    case DIR_SEARCH_OK:
        ret = http_reply_json(r, MHD_HTTP_OK, result_json(&res, conf.return_email));
        break;
    case DIR_SEARCH_SHORT:
        snprintf(detail, sizeof(detail),
                 "term needs at least %ld letters or digits (search.min_term)", conf.min_term);
        ret = http_reply_ec(r, E_INVALID_PARAM, detail);
        break;
    case DIR_SEARCH_BAD_CURSOR:
        ret = http_reply_ec(r, E_INVALID_PARAM, "next is not a cursor of this search");
        break;
    case DIR_SEARCH_BAD_PARAM:
        ret = http_reply_ec(r, E_INVALID_PARAM, "term too long");
        break;
    case DIR_SEARCH_DB:
    default:
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
        break;
    }
    dir_search_result_clear(&res);
    return ret;
}
