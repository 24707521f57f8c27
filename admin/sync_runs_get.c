/*
 * GET /_annuaire/admin/v1/sync/runs (scope sync; ?source=, ?limit=, ?from=): the sync
 * runs as sync_runs records them (mode, status, times, counts, error), newest first, a
 * page at a time.
 */
#include <string.h>

#include "admin/internal.h"
#include "ldap-sync/ldap_sync.h"

#define SOURCE_MAX 128

int
adm_sync_runs_get(struct http_req *r, const json_t *body)
{
    const char *source = http_query(r, "source");
    struct adm_page page;
    enum reply_status rs = adm_page_parse(r, &page);
    json_t *runs = NULL;

    (void)body;
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (source != NULL && (source[0] == '\0' || strlen(source) > SOURCE_MAX)) {
        return http_reply_ec(r, E_INVALID_PARAM, "source");
    }
    /* One run more than the page: whether there is a next one. */
    if (lsync_admin_runs(r->db, source, page.from, page.limit + 1, &runs) < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_json(r, MHD_HTTP_OK, adm_page_answer("runs", runs, page.limit));
}
