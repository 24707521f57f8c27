/*
 * GET /_annuaire/internal/v1/leavers?since=CURSOR&limit=N (internal listener only): the
 * Matrix IDs bound to addresses whose annuaire owner a sync removed or disabled, oldest
 * first, with when and why, and the cursor of the next page; for a homeserver's job that
 * deactivates them. The events are recorded by the database (sql/017_leavers.sql) when
 * the sync applies them; annuaire deletes nothing. The page itself is shared with
 * `annuaire leavers`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "directory/directory.h"
#include "directory/internal.h"

#define CURSOR_MAX_DIGITS 18

int
dir_leavers_cursor(const char *text, long long *out)
{
    size_t len = strspn(text, "0123456789");

    if (len == 0 || len > CURSOR_MAX_DIGITS || text[len] != '\0') {
        return -1;
    }
    *out = strtoll(text, NULL, 10);
    return 0;
}

struct page {
    json_t *leavers;
    long long last; /* the id of the last leaver listed */
};

static void
page_add(void *arg,
         long long id,
         const char *at,
         const char *reason,
         const char *address,
         const char *mxid)
{
    struct page *p = arg;

    json_array_append_new(p->leavers, json_pack("{sI ss ss ss ss ss}", "id", (json_int_t)id, "mxid",
                                                mxid, "address", address, "medium", "email",
                                                "reason", reason, "at", at));
    p->last = id;
}

enum db_status
dir_leavers_read(struct db_conn *c, long long since, int limit, json_t **out)
{
    struct page p = { .leavers = json_array(), .last = since };
    long long last_id = 0;
    enum db_status st = dir_store_leavers(c, since, limit, &last_id, page_add, &p);
    char next[24];

    *out = NULL;
    if (st < 0) {
        json_decref(p.leavers);
        return st;
    }
    /* A short page read every leaver of its snapshot: the next one starts after the last
     * recorded, bound or not. (Ids commit in order: see sql/017_leavers.sql.) */
    if ((int)st < limit && last_id > p.last) {
        p.last = last_id;
    }
    snprintf(next, sizeof(next), "%lld", p.last);
    *out = json_pack("{so ss}", "leavers", p.leavers, "next", next);
    return st;
}

int
dir_leavers_get(struct http_req *r, const json_t *body)
{
    const char *since_s = http_query(r, "since");
    const char *limit_s = http_query(r, "limit");
    long long since = 0, limit = DIR_LEAVERS_LIMIT_DEFAULT;
    json_t *out = NULL;

    (void)body;
    if (since_s != NULL && dir_leavers_cursor(since_s, &since) != 0) {
        return http_reply_ec(r, E_INVALID_PARAM, "since must be the next of a previous page");
    }
    if (limit_s != NULL &&
        (dir_leavers_cursor(limit_s, &limit) != 0 || limit < 1 || limit > DIR_LEAVERS_LIMIT_MAX)) {
        return http_reply_ec(r, E_INVALID_PARAM, "limit must be 1 to 1000");
    }
    if (dir_leavers_read(r->db, since, (int)limit, &out) < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_json(r, MHD_HTTP_OK, out);
}
