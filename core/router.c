/*
 * The route table: the modules' routes split into segments and matched on method and path;
 * the most specific pattern (most literal segments) owns a path, and a path served under
 * other methods only yields their Allow list.
 */
#include "core/router.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct compiled {
    const struct route *route;
    size_t n_segs;
    const char *segs[ROUTER_MAX_SEGMENTS]; /* point into the pattern */
    size_t lens[ROUTER_MAX_SEGMENTS];
};

struct router {
    size_t n;
    struct compiled *routes;
};

/* Splits "/a/b/c" into segments; "" segments are kept so "/a/" != "/a". */
static size_t
split(const char *path, const char **segs, size_t *lens, size_t max)
{
    size_t n = 0;

    if (*path != '/') {
        return SIZE_MAX;
    }
    while (*path == '/') {
        const char *s = path + 1;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);

        if (n == max) {
            return SIZE_MAX;
        }
        segs[n] = s;
        lens[n] = len;
        n++;
        path = s + len;
    }
    return n;
}

static bool
is_param(const char *seg, size_t len)
{
    return len >= 3 && seg[0] == '{' && seg[len - 1] == '}';
}

struct router *
router_new(const struct route *const *tables, const size_t *sizes, size_t n_tables)
{
    struct router *rt = xcalloc(1, sizeof(*rt));
    size_t total = 0;

    for (size_t t = 0; t < n_tables; t++) {
        total += sizes[t];
    }
    rt->routes = xcalloc(total, sizeof(*rt->routes));
    for (size_t t = 0; t < n_tables; t++) {
        for (size_t i = 0; i < sizes[t]; i++) {
            struct compiled *c = &rt->routes[rt->n++];

            c->route = &tables[t][i];
            c->n_segs = split(c->route->pattern, c->segs, c->lens, ROUTER_MAX_SEGMENTS);
            if (c->n_segs == SIZE_MAX) {
                abort(); /* a bad pattern in our own route table */
            }
        }
    }
    return rt;
}

void
router_free(struct router *rt)
{
    if (rt == NULL) {
        return;
    }
    free(rt->routes);
    free(rt);
}

size_t
router_count(const struct router *rt)
{
    return rt->n;
}

const struct route *
router_at(const struct router *rt, size_t i)
{
    return rt->routes[i].route;
}

static bool
path_matches(const struct compiled *c, const char **segs, const size_t *lens, size_t n)
{
    if (c->n_segs != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_param(c->segs[i], c->lens[i])) {
            if (lens[i] == 0 || lens[i] >= 256) {
                return false;
            }
        } else if (c->lens[i] != lens[i] || memcmp(c->segs[i], segs[i], lens[i]) != 0) {
            return false;
        }
    }
    return true;
}

static void
add_allow(struct router_match *m, const char *method)
{
    size_t used = strlen(m->allow);

    if (strstr(m->allow, method) != NULL) {
        return;
    }
    if (used + strlen(method) + 3 < sizeof(m->allow)) {
        strcat(m->allow, used ? ", " : "");
        strcat(m->allow, method);
    }
}

static size_t
literal_count(const struct compiled *c)
{
    size_t n = 0;

    for (size_t i = 0; i < c->n_segs; i++) {
        n += !is_param(c->segs[i], c->lens[i]);
    }
    return n;
}

enum router_result
router_match(const struct router *rt, const char *method, const char *path, struct router_match *m)
{
    return router_match_where(rt, method, path, NULL, NULL, m);
}

enum router_result
router_match_where(const struct router *rt,
                   const char *method,
                   const char *path,
                   router_keep_fn keep,
                   const void *cls,
                   struct router_match *m)
{
    const char *segs[ROUTER_MAX_SEGMENTS];
    size_t lens[ROUTER_MAX_SEGMENTS];
    size_t n = split(path, segs, lens, ROUTER_MAX_SEGMENTS);
    const struct compiled *found = NULL;
    size_t most = 0;
    bool any = false;

    m->n_params = 0;
    m->allow[0] = '\0';
    if (n == SIZE_MAX) {
        return ROUTER_NOT_FOUND;
    }
    /* The most specific pattern owns a path: ".../pubkey/isvalid" beats ".../pubkey/{keyId}". */
    for (size_t r = 0; r < rt->n; r++) {
        if (keep != NULL && !keep(rt->routes[r].route, cls)) {
            continue;
        }
        if (path_matches(&rt->routes[r], segs, lens, n)) {
            size_t lit = literal_count(&rt->routes[r]);

            most = !any || lit > most ? lit : most;
            any = true;
        }
    }
    if (!any) {
        return ROUTER_NOT_FOUND;
    }
    for (size_t r = 0; r < rt->n; r++) {
        const struct compiled *c = &rt->routes[r];

        if ((keep != NULL && !keep(c->route, cls)) || !path_matches(c, segs, lens, n) ||
            literal_count(c) != most) {
            continue;
        }
        if (strcmp(c->route->method, method) == 0) {
            found = c;
            break;
        }
        add_allow(m, c->route->method);
    }
    if (found == NULL) {
        add_allow(m, "OPTIONS");
        return ROUTER_METHOD_NOT_ALLOWED;
    }
    m->index = (size_t)(found - rt->routes);
    for (size_t i = 0; i < n && m->n_params < ROUTER_MAX_PARAMS; i++) {
        if (is_param(found->segs[i], found->lens[i])) {
            memcpy(m->params[m->n_params], segs[i], lens[i]);
            m->params[m->n_params][lens[i]] = '\0';
            m->n_params++;
        }
    }
    return ROUTER_FOUND;
}
