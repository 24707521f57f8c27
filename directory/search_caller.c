/*
 * Who may browse the annuaire's agents, one rule for POST /_annuaire/v1/directory/search,
 * GET /_annuaire/v1/directory/entry and the merge of the client path
 * (POST /_matrix/client/{v3,r0}/user_directory/search): a user of an agents' homeserver
 * of the routing map.
 */
#include <stddef.h>

#include "core/federation.h"
#include "directory/internal.h"
#include "routing/routing.h"

bool
dir_search_agent_caller(const struct routing_map *routes, const char *mxid)
{
    const char *server = mxid != NULL ? fed_mxid_server(mxid) : NULL;
    struct fed_server parsed;

    /* The server name as the Matrix ID writes it, port included: the routing map names
     * servers that way, so "agents.example:8448" is not "agents.example". */
    return server != NULL && fed_parse_server_name(server, &parsed) == 0 &&
           routing_has_server(routes, server) && !routing_server_external(routes, server);
}
