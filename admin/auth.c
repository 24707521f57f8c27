/*
 * The admin token check (ROUTE_ADMIN routes): the token's SHA-256 is looked up, the
 * stored hash compared in constant time, then the route's scope checked. A token
 * without that scope is refused (403) and the refusal written to the audit log, its object
 * the route (method and pattern, text of ours: never the request's path, which the client
 * chose); an unknown token is refused (401) with nothing written: its text is never kept.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/internal.h"
#include "core/audit.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/util.h"

/* The scope a route's flags ask for; NULL: any token will do. */
static const char *
route_scope(unsigned flags)
{
    static const struct {
        unsigned flag;
        const char *scope;
    } scopes[] = {
        { ROUTE_SCOPE_INVITATIONS, ADM_SCOPE_INVITATIONS },
        { ROUTE_SCOPE_DIRECTORY, ADM_SCOPE_DIRECTORY },
        { ROUTE_SCOPE_SYNC, ADM_SCOPE_SYNC },
        { ROUTE_SCOPE_AUDIT, ADM_SCOPE_AUDIT },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(scopes); i++) {
        if (flags & scopes[i].flag) {
            return scopes[i].scope;
        }
    }
    return NULL;
}

enum reply_status
adm_authenticate(struct http_req *r, const char *token, const struct route *route)
{
    const char *scope = route_scope(route->flags);
    char hash[CX_TOKEN_HASH_LEN + 1];
    struct adm_token_row t = { 0 };
    enum db_status st;
    enum reply_status rs = RS_OK;

    cx_token_hash(token, hash);
    st = adm_store_token_auth(r->db, hash, scope, &t);
    if (st < 0) {
        return http_reply_status(http_reply_ec(r, E_DB_UNAVAILABLE, NULL));
    }
    if (st == 0 || strlen(t.token_hash) != CX_TOKEN_HASH_LEN ||
        CRYPTO_memcmp(t.token_hash, hash, CX_TOKEN_HASH_LEN) != 0) {
        adm_token_row_clear(&t);
        return http_reply_status(http_reply_ec(r, E_ADMIN_UNAUTHORIZED, NULL));
    }
    if (!t.allowed) {
        json_t *details = json_pack("{s:s, s:s}", "method", route->method, "scope", scope);
        const struct audit_entry e = { AUDIT_ADMIN,    t.name,        "admin.denied", "route",
                                       route->pattern, AUDIT_REFUSED, details };

        if (audit_record(r->db, &e) < 0) {
            log_warn("admin: the refusal of token %s could not be written to the audit log",
                     t.name);
        }
        json_decref(details);
        rs = http_reply_status(http_reply_ec(r, E_ADMIN_SCOPE, scope));
    } else {
        if (adm_store_token_used(r->db, t.name) < 0) {
            log_warn("admin: last use of token %s not recorded", t.name);
        }
        r->admin = t.name;
        t.name = NULL;
    }
    adm_token_row_clear(&t);
    return rs;
}
