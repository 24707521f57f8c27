/*
 * The rate limits of the enrollment endpoints: sending mail (per IP, user and address),
 * account/register and 3pid/unbind (per IP); and the 503 answered when no homeserver call
 * slot is free. Mail and account/register (a call to a homeserver) are limited across
 * every instance on the database (shared: in PostgreSQL); unbind, per instance.
 */
#include "core/cfg.h"
#include "core/ratelimit.h"
#include "enroll/internal.h"

/* Every endpoint that mails an address someone typed: per client IP, per user (v2) and
 * per address. Mail is not free and must not become a weapon. */
enum reply_status
enr_limit_mail(struct http_req *r, const char *address)
{
    const struct cfg_ratelimit *rl = &cfg_get()->ratelimit;
    const struct rl_limit by_ip = { "request_token_ip", rl->request_token_ip_burst,
                                    rl->request_token_ip_interval_ms };
    const struct rl_limit by_user = { "request_token_user", rl->request_token_user_burst,
                                      rl->request_token_user_interval_ms };
    const struct rl_limit by_address = { "request_token_address", rl->request_token_address_burst,
                                         rl->request_token_address_interval_ms };
    char ip[64];
    enum reply_status rs =
        http_rate_limit_shared(r, &by_ip, http_client_ip(r, ip, sizeof(ip)), RL_OUTAGE_REFUSE);

    if (rs == RS_OK) {
        rs = http_rate_limit_shared(r, &by_user, r->user_id, RL_OUTAGE_REFUSE);
    }
    if (rs == RS_OK) {
        rs = http_rate_limit_shared(r, &by_address, address, RL_OUTAGE_REFUSE);
    }
    return rs;
}

/* account/register: each one is a call to a homeserver. */
enum reply_status
enr_limit_register(struct http_req *r)
{
    const struct cfg_ratelimit *rl = &cfg_get()->ratelimit;
    const struct rl_limit by_ip = { "register_ip", rl->register_ip_burst,
                                    rl->register_ip_interval_ms };
    char ip[64];

    return http_rate_limit_shared(r, &by_ip, http_client_ip(r, ip, sizeof(ip)), RL_OUTAGE_REFUSE);
}

/* 3pid/unbind: an X-Matrix signature may need the homeserver's keys fetched. */
enum reply_status
enr_limit_unbind(struct http_req *r)
{
    const struct cfg_ratelimit *rl = &cfg_get()->ratelimit;
    const struct rl_limit by_ip = { "unbind_ip", rl->unbind_ip_burst, rl->unbind_ip_interval_ms };
    char ip[64];

    return http_rate_limit(r, &by_ip, http_client_ip(r, ip, sizeof(ip)));
}

int
enr_reply_hs_busy(struct http_req *r)
{
    return http_reply_ec_extra(r, E_HS_BUSY, NULL, json_pack("{s:i}", "retry_after_ms", 1000));
}
