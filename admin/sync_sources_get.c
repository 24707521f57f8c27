/*
 * GET /_annuaire/admin/v1/sync/sources (scope sync): each configured source, and each
 * the database knows that is no longer configured (flagged "configured": false), with
 * its entries (live, disabled, hidden, missing, deleted), its conflicts now and its last
 * run as sync_runs records it.
 */
#include "admin/internal.h"
#include "ldap-sync/ldap_sync.h"

int
adm_sync_sources_get(struct http_req *r, const json_t *body)
{
    json_t *sources = NULL;

    (void)body;
    if (lsync_admin_sources(cfg_get(), r->db, &sources) < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "sources", sources));
}
