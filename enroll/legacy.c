/*
 * The v1 calls that act for someone without an access token (store-invite, 3pid/bind),
 * as homeservers made them before v2: only for the homeservers legacy.homeservers lists,
 * from the client networks listed for them, and only for their own users.
 */
#include <string.h>

#include "core/cfg.h"
#include "core/federation.h"
#include "core/log.h"
#include "core/net.h"
#include "enroll/internal.h"

bool
enr_legacy_enabled(void)
{
    return json_object_size(cfg_get()->legacy.homeservers) > 0;
}

enum reply_status
enr_legacy_check(struct http_req *r, const char *mxid)
{
    const json_t *homeservers = cfg_get()->legacy.homeservers;
    const char *server = fed_mxid_server(mxid);
    const char *name;
    json_t *networks;
    char ip[64];

    if (json_object_size(homeservers) == 0) {
        return http_reply_status(http_reply_ec(r, E_LEGACY_DISABLED, NULL));
    }
    http_client_ip(r, ip, sizeof(ip));
    if (server != NULL) {
        /* The Matrix ID's own homeserver, called from one of its networks: a network
         * listed for two homeservers acts for the users of each, never for a third. */
        json_object_foreach ((json_t *)homeservers, name, networks) {
            if (strcmp(name, server) == 0 && net_in_list(ip, networks)) {
                return RS_OK;
            }
        }
    }
    log_debug("req=%llu v1 call from %s refused for a Matrix ID of another homeserver",
              (unsigned long long)r->id, ip);
    return http_reply_status(http_reply_ec(r, E_LEGACY_FORBIDDEN, NULL));
}
