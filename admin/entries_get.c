/*
 * GET /_annuaire/admin/v1/entries?address= (scope directory): the annuaire's view of one
 * person. Every directory entry holding the address (in its canonical form): its
 * source, key, ministry, entity, name and flags (disabled, hidden, deleted, pending
 * removal); which entry owns the address (annuaire.directory_owner's rule), or that
 * several live ones claim it; and the Matrix ID it is bound to, if any.
 */
#include <stdlib.h>
#include <string.h>

#include "admin/internal.h"
#include "core/address.h"
#include "directory/directory.h"
#include "ldap-sync/ldap_sync.h"

int
adm_entries_get(struct http_req *r, const json_t *body)
{
    const char *address = http_query(r, "address");
    const char *why = NULL;
    char *canonical = NULL;
    json_t *entries = NULL, *owner = NULL;
    struct dir_assoc bound = { 0 };
    bool conflict = false;
    enum db_status st;
    int ret;

    (void)body;
    if (address == NULL) {
        return http_reply_ec(r, E_MISSING_PARAMS, "address");
    }
    if (strlen(address) > 512 || addr_email_check(address, &canonical, &why) != 0) {
        return http_reply_ec(r, E_INVALID_EMAIL, why);
    }
    st = lsync_admin_entries(r->db, canonical, &entries, &owner, &conflict);
    if (st >= 0) {
        enum db_status b = dir_assoc_get(r->db, "email", canonical, &bound);

        st = b < 0 ? b : st;
    }
    if (st < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else if (json_array_size(entries) == 0) {
        ret = http_reply_ec(r, E_ADMIN_ENTRY_NOT_FOUND, NULL);
    } else {
        ret = http_reply_json(
            r, MHD_HTTP_OK,
            json_pack("{s:s, s:O, s:o, s:b, s:o}", "address", canonical, "entries", entries,
                      "owner", owner != NULL ? json_incref(owner) : json_null(), "conflict",
                      conflict, "mxid",
                      bound.mxid != NULL ? json_string(bound.mxid) : json_null()));
    }
    json_decref(entries);
    json_decref(owner);
    dir_assoc_clear(&bound);
    free(canonical);
    return ret;
}
