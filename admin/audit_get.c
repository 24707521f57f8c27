/*
 * GET /_annuaire/admin/v1/audit (scope audit): the audit log, newest first, filtered by
 * ?action=, ?actor=, ?object_kind=, ?object_id= (exact values) and ?since= (an ISO 8601
 * time or a duration such as 24h), a page at a time (?limit=, ?from=).
 */
#include <string.h>
#include <time.h>

#include "admin/internal.h"
#include "core/store.h"

#define FILTER_MAX 256

int
adm_audit_get(struct http_req *r, const json_t *body)
{
    static const char *const filters[] = { "action", "actor", "object_kind", "object_id" };
    const char *values[ANN_ARRAY_LEN(filters)];
    const char *since = http_query(r, "since");
    struct store_audit_filter f = { .since = -1 };
    struct adm_page page;
    enum reply_status rs = adm_page_parse(r, &page);
    json_t *rows = NULL;

    (void)body;
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    for (size_t i = 0; i < ANN_ARRAY_LEN(filters); i++) {
        values[i] = http_query(r, filters[i]);
        if (values[i] != NULL && (values[i][0] == '\0' || strlen(values[i]) > FILTER_MAX)) {
            return http_reply_ec(r, E_INVALID_PARAM, filters[i]);
        }
    }
    if (since != NULL && adm_audit_since(since, (long long)time(NULL), &f.since) != 0) {
        return http_reply_ec(r, E_INVALID_PARAM,
                             "since: an ISO 8601 time or a duration such as 24h or 7d");
    }
    f.action = values[0];
    f.actor = values[1];
    f.object_kind = values[2];
    f.object_id = values[3];
    f.before_id = page.from;
    f.limit = page.limit + 1; /* the row past the page says there is a next one */
    if (adm_audit_list(r->db, &f, &rows) < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_json(r, MHD_HTTP_OK, adm_page_answer("entries", rows, page.limit));
}
