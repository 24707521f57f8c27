/*
 * What routing decides for enrollment and binding: whether an address could register
 * anywhere (the enrollment gate on requestToken, and what internal-info tells a
 * homeserver: one decision for both), whether it may be bound to a given Matrix ID
 * (the bind restriction), whether a server is one of the mapping's homeservers, and
 * who may invite whom (the store-invite policy).
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
               dir_store_internal_info(c, medium, address, &facts) < 0) {
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

enum dir_invite_rule
dir_invite_policy(const char *address, const char *sender_server)
{
    const struct cfg_invites *conf = &cfg_get()->invites;
    struct routing_map *routing = routing_acquire();
    struct routing_result route;
    enum dir_invite_rule rule = DIR_INVITE_OK;
    char *routed = NULL;

    if (routing == NULL) {
        return DIR_INVITE_OK; /* no routing: no platforms to tell apart */
    }
    if (routing_normalise(address, &routed) != 0 || !routing_match(routing, routed, &route)) {
        rule = DIR_INVITE_NO_ROUTE;
    } else if (route.external && routing_server_external(routing, sender_server)) {
        rule =
            conf->externals_may_invite_externals ? DIR_INVITE_OK : DIR_INVITE_EXTERNALS_EXTERNALS;
    } else if (route.external) {
        rule = conf->agents_may_invite_externals ? DIR_INVITE_OK : DIR_INVITE_AGENTS_EXTERNALS;
    }
    free(routed);
    routing_release(routing);
    return rule;
}

const char *
dir_invite_rule_name(enum dir_invite_rule rule)
{
    switch (rule) {
    case DIR_INVITE_NO_ROUTE:
        return "routing";
    case DIR_INVITE_AGENTS_EXTERNALS:
        return "invites.agents_may_invite_externals";
    case DIR_INVITE_EXTERNALS_EXTERNALS:
        return "invites.externals_may_invite_externals";
    case DIR_INVITE_OK:
        break;
    }
    return "ok";
}
