/*
 * GET /_annuaire/v1/directory/entry?address=... or ?mxid=...: identification, for holders
 * of an identity-service access token (the same callers and quotas as the search): who a
 * visible entry of the annuaire is. Every miss (unknown, hidden, disabled, removed, or a
 * malformed address or Matrix ID) answers the same 404 body after the same lookup: a
 * malformed value is looked up as one that cannot match.
 */
#include <stdlib.h>
#include <string.h>

#include "core/address.h"
#include "core/federation.h"
#include "core/http.h"
#include "directory/internal.h"
#include "directory/search.h"

#define ENTRY_VALUE_MAX 255

/* Upper case is never in a canonical address, nor a blank in a Matrix ID that passed
 * mxid_ok: what a malformed value is looked up as. */
#define NO_ADDRESS "UNMATCHABLE@INVALID.INVALID"
#define NO_MXID    "@ :invalid.invalid"

/* @localpart:server, printable ASCII without blanks in the localpart. */
static bool
mxid_ok(const char *s)
{
    const char *server = fed_mxid_server(s);
    struct fed_server srv;

    if (s[0] != '@' || server == NULL || server - s < 3 || strlen(s) > ENTRY_VALUE_MAX) {
        return false;
    }
    for (const char *p = s + 1; p < server - 1; p++) {
        if (*p <= ' ' || *p > '~') {
            return false;
        }
    }
    return fed_parse_server_name(server, &srv) == 0;
}

int
dir_entry_get(struct http_req *r, const json_t *body)
{
    const char *address = http_query(r, "address");
    const char *mxid = http_query(r, "mxid");
    struct dir_search_hit hit = { 0 };
    struct routing_map *routes;
    enum reply_status rs;
    char *norm = NULL;
    int found;
    int ret;

    (void)body;
    rs = dir_search_admit(r);
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (address == NULL && mxid == NULL) {
        return http_reply_ec(r, E_MISSING_PARAMS, "address or mxid");
    }
    if (address != NULL && mxid != NULL) {
        return http_reply_ec(r, E_INVALID_PARAM, "address or mxid, not both");
    }
    if (address != NULL &&
        (strlen(address) > ENTRY_VALUE_MAX || addr_normalise("email", address, &norm) != 0)) {
        free(norm);
        norm = xstrdup(NO_ADDRESS);
    }
    if (mxid != NULL && !mxid_ok(mxid)) {
        mxid = NO_MXID;
    }
    routes = routing_acquire();
    found = dir_identify(db_thread_read_conn(), routes, norm, address != NULL ? NULL : mxid, &hit);
    routing_release(routes);
    if (found < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else if (found == 0) {
        ret = http_reply_ec(r, E_SEARCH_NOT_FOUND, NULL);
    } else {
        ret = http_reply_json(r, MHD_HTTP_OK,
                              dir_search_hit_json(&hit, dir_search_config(cfg_get()).return_email));
    }
    dir_search_hit_clear(&hit);
    free(norm);
    return ret;
}
