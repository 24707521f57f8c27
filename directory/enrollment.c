/*
 * What routing decides for enrollment and binding: whether an address could register
 * anywhere (the enrollment gate on requestToken, and what internal-info tells a
 * homeserver: one decision for both), whether it may be bound to a given Matrix ID
 * (the bind restriction), and whether a server is one of the mapping's homeservers.
 */
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/federation.h"
#include "directory/internal.h"

enum dir_enroll
dir_enroll_decide(const struct routing_result *route, const struct dir_internal_facts *facts)
{
    if (route == NULL) {
        return DIR_ENROLL_NO_ROUTE;
    }
    if (route->requires_invite && !facts->invited) {
        return DIR_ENROLL_NOT_INVITED;
    }
    /* An exact entry is a named exception: the annuaire rule is for patterns. */
    if (route->annuaire_required && !route->exact && facts->ministry == NULL) {
        return DIR_ENROLL_NOT_AGENT;
    }
    return DIR_ENROLL_OK;
}

enum dir_enroll
dir_enroll_check(struct db_conn *c, const char *medium, const char *address)
{
    struct routing_map *routing = routing_acquire();
    struct dir_internal_facts facts = { 0 };
    struct routing_result route;
    enum dir_enroll verdict;
    char *routed = NULL;

    if (routing == NULL) {
        return DIR_ENROLL_OK; /* no routing: nothing to decide on */
    }
    if (routing_normalise(address, &routed) != 0 || !routing_match(routing, routed, &route)) {
        verdict = DIR_ENROLL_NO_ROUTE;
    } else if ((route.requires_invite || (route.annuaire_required && !route.exact)) &&
               dir_store_internal_info(c, medium, address, cfg_get()->invites.validity, &facts) <
                   0) {
        verdict = DIR_ENROLL_ERROR;
    } else {
        verdict = dir_enroll_decide(&route, &facts);
    }
    dir_internal_facts_clear(&facts);
    free(routed);
    routing_release(routing);
    return verdict;
}

bool
dir_server_known(const char *server)
{
    struct routing_map *routing = routing_acquire();
    bool known;

    if (routing == NULL) {
        return true;
    }
    known = server != NULL && routing_has_server(routing, server);
    routing_release(routing);
    return known;
}

bool
dir_bind_permitted(const char *address, const char *mxid)
{
    struct routing_map *routing = routing_acquire();
    const char *server = fed_mxid_server(mxid);
    struct routing_result route;
    char *routed = NULL;
    bool ok;

    if (routing == NULL) {
        return true;
    }
    /* An address no entry takes belongs to no homeserver: it cannot be bound. */
    ok = server != NULL && routing_normalise(address, &routed) == 0 &&
         routing_match(routing, routed, &route) &&
         (fed_server_name_eq(server, route.hs) || fed_server_name_eq(server, route.shadow_hs));
    free(routed);
    routing_release(routing);
    return ok;
}
