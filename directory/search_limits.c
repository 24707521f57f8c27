/*
 * The search quotas (search.per_*_per_hour), shared by every way into directory search:
 * token buckets of core/ratelimit.h holding an hour's number of searches and getting
 * one back every 3,600,000 / n ms; per client IP first, then per caller (an access
 * token's user). A homeserver on the signed path is counted per homeserver alone: it
 * sends every search of its users from its own addresses, which the per-IP number
 * would stop long before its own. 0 in the configuration: no limit. Shared: kept in
 * PostgreSQL, one budget for every instance on the database; when the database cannot
 * be reached, each instance's own bucket decides (a search forwarded to a homeserver, or
 * asked by one on the signed path, may need no database).
 */
#include <string.h>

#include "core/log.h"
#include "core/ratelimit.h"
#include "directory/search.h"

#define MS_PER_HOUR 3600000L

static struct rl_limit
hourly(const char *name, long per_hour)
{
    struct rl_limit l = { name, per_hour, 1 };

    if (per_hour > 0 && MS_PER_HOUR / per_hour > 1) {
        l.interval_ms = MS_PER_HOUR / per_hour;
    }
    return l;
}

enum reply_status
dir_limit_search(struct http_req *r, const char *kind, const char *key)
{
    const struct dir_search_config conf = dir_search_config(cfg_get());
    const struct rl_limit by_ip = hourly("search_ip", conf.per_ip_per_hour);
    const struct rl_limit by_user = hourly("search_token", conf.per_token_per_hour);
    const struct rl_limit by_server = hourly("search_server", conf.per_server_per_hour);
    char ip[64];
    enum reply_status rs = RS_OK;

    if (strcmp(kind, "server") == 0) {
        return http_rate_limit_shared(r, &by_server, key, RL_OUTAGE_LOCAL);
    }
    if (strcmp(kind, "user") == 0) {
        return http_rate_limit_shared(r, &by_user, key, RL_OUTAGE_LOCAL);
    }
    if (strcmp(kind, "token") != 0 && strcmp(kind, "ip") != 0) {
        log_bug("dir_limit_search: unknown kind");
        return http_reply_status(http_reply_ec(r, E_INTERNAL, NULL));
    }
    rs = http_rate_limit_shared(r, &by_ip, http_client_ip(r, ip, sizeof(ip)), RL_OUTAGE_LOCAL);
    return rs == RS_OK && strcmp(kind, "token") == 0
               ? http_rate_limit_shared(r, &by_user, key, RL_OUTAGE_LOCAL)
               : rs;
}
