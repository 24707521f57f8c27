/*
 * Route table matching on method + path. Patterns are literal segments and
 * "{name}" placeholders, each matching one non-empty segment.
 */
#ifndef ANN_CORE_ROUTER_H
#define ANN_CORE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

#define ROUTER_MAX_PARAMS   4
#define ROUTER_MAX_SEGMENTS 16

struct http_req;
struct json_t;

/** A handler: body is the parsed JSON object for routes with ROUTE_JSON_BODY, else NULL. */
typedef int (*route_handler_fn)(struct http_req *r, const struct json_t *body);

#define ROUTE_JSON_BODY         1u  /* the body must be a JSON object */
#define ROUTE_BODY_OPTIONAL     2u  /* with ROUTE_JSON_BODY: an empty body is read as {} */
#define ROUTE_AUTH              4u  /* needs an identity access token (401 M_UNAUTHORIZED) */
#define ROUTE_NO_TERMS          8u  /* with ROUTE_AUTH: allowed before the terms are accepted */
#define ROUTE_INTERNAL          16u /* on the internal listener, and only there (404 elsewhere) */
#define ROUTE_OPS               32u /* on the internal listener; on the public one with http.public_metrics */
#define ROUTE_ADMIN             64u /* on the admin listener, and only there; needs an admin token */
/* With ROUTE_ADMIN: the scope the admin token must hold (none of them: any token). */
#define ROUTE_SCOPE_INVITATIONS 128u
#define ROUTE_SCOPE_DIRECTORY   256u
#define ROUTE_SCOPE_SYNC        512u
#define ROUTE_SCOPE_AUDIT       1024u

struct route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/_matrix/identity/v2/pubkey/{keyId}" */
    route_handler_fn handler;
    unsigned flags;
};

struct router;

/** Builds a router over routes (borrowed, must outlive it). @return new router */
struct router *router_new(const struct route *const *tables, const size_t *sizes, size_t n_tables);
void router_free(struct router *rt);

/** Number of routes; each has an index in [0, count) used for metrics. */
size_t router_count(const struct router *rt);
const struct route *router_at(const struct router *rt, size_t i);

enum router_result {
    ROUTER_FOUND = 0,
    ROUTER_NOT_FOUND = 404,
    ROUTER_METHOD_NOT_ALLOWED = 405,
};

struct router_match {
    size_t index; /* route index when found */
    size_t n_params;
    char params[ROUTER_MAX_PARAMS][256]; /* placeholder values (MHD already decoded %XX) */
    char allow[64];                      /* methods allowed on the path (for 405) */
};

/**
 * Finds the route for method + path (path without the query string).
 * @param[out] m  the match; params filled for ROUTER_FOUND, allow for 405
 * @return ROUTER_FOUND, ROUTER_NOT_FOUND or ROUTER_METHOD_NOT_ALLOWED
 */
enum router_result
router_match(const struct router *rt, const char *method, const char *path, struct router_match *m);

/** Whether a route is one to match (on this listener, say). */
typedef bool (*router_keep_fn)(const struct route *route, const void *cls);

/**
 * As router_match, among the routes keep(route, cls) keeps (all when keep is NULL): a
 * path whose routes are all left out is ROUTER_NOT_FOUND whatever the method, and
 * allow names only the methods of routes kept.
 */
enum router_result router_match_where(const struct router *rt,
                                      const char *method,
                                      const char *path,
                                      router_keep_fn keep,
                                      const void *cls,
                                      struct router_match *m);

#endif
