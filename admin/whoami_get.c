/*
 * GET /_annuaire/admin/v1/whoami: the admin token's name and scopes, for an operator
 * checking which token a script holds.
 */
#include <stdlib.h>

#include "admin/internal.h"

int
adm_whoami_get(struct http_req *r, const json_t *body)
{
    char *scopes = NULL;
    enum db_status st = adm_store_token_scopes(r->db, r->admin, &scopes);
    json_t *list;

    (void)body;
    if (st < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    if (st == 0) { /* revoked since the check */
        return http_reply_ec(r, E_ADMIN_UNAUTHORIZED, NULL);
    }
    list = json_loads(scopes, 0, NULL);
    free(scopes);
    return http_reply_json(
        r, MHD_HTTP_OK,
        json_pack("{s:s, s:o}", "name", r->admin, "scopes", list != NULL ? list : json_array()));
}
