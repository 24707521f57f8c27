/*
 * GET /_matrix/identity/api/v1/info and /internal-info: which homeserver owns an
 * address, for clients (where to register or log in) and for homeservers (may it
 * register here), as Tchap's identity server answers them.
 */
#include <stdlib.h>
#include <string.h>

#include "core/address.h"
#include "core/cfg.h"
#include "core/crypto.h"
#include "core/federation.h"
#include "core/http.h"
#include "core/net.h"
#include "directory/internal.h"

#define MAX_ADDRESS_BYTES 512

/* The request's address, matched against the mapping in force. */
struct query {
    const char *medium;
    char *stored; /* as bindings and invitations store it (NULL: cannot be stored) */
    char *routed; /* as routing matches it */
    struct routing_map *routing;
    struct routing_result route;
    bool matched;
};

static void
query_clear(struct query *q)
{
    free(q->stored);
    free(q->routed);
    routing_release(q->routing);
}

/* Checks the parameters and matches. @return RS_OK, or the error reply's status */
static enum reply_status
query_read(struct http_req *r, struct query *q)
{
    const char *medium = http_query(r, "medium");
    const char *address = http_query(r, "address");
    enum err_code ec = E_INVALID_PARAM;
    const char *problem = NULL;
    bool is_email;

    memset(q, 0, sizeof(*q));
    if (medium == NULL || address == NULL) {
        ec = E_MISSING_PARAMS;
        problem = medium == NULL && address == NULL ? "Missing parameters: medium, address"
                  : medium == NULL                  ? "Missing parameters: medium"
                                                    : "Missing parameters: address";
    } else if (strcmp(medium, "email") != 0 && strcmp(medium, "msisdn") != 0) {
        problem = "medium must be email or msisdn";
    } else {
        size_t len = strnlen(address, MAX_ADDRESS_BYTES + 1);
        json_t *utf8 = len > 0 && len <= MAX_ADDRESS_BYTES ? json_stringn(address, len) : NULL;

        if (utf8 == NULL) {
            problem = "address must be non-empty UTF-8 of at most 512 bytes";
        }
        json_decref(utf8);
    }
    if (problem != NULL) {
        return http_reply_status(http_reply_ec(r, ec, problem));
    }
    q->medium = medium;
    if (addr_normalise(medium, address, &q->stored) != 0) {
        q->stored = NULL;
    }
    /* Like the reference, the mapping is consulted whatever the medium; but an e-mail
     * address without a canonical form matches nothing (requestToken refuses it, and a
     * homeserver must not register it: PCRE's caseless matching would let U+017F match
     * an s). */
    q->routed = routing_key(address, &is_email);
    q->routing = routing_acquire();
    q->matched = (is_email || strcmp(medium, "email") != 0) &&
                 routing_match(q->routing, q->routed, &q->route);
    return RS_OK;
}

/* The server of the Matrix ID the address is bound to, if any, read as a lookup is (it
 * may lag, database.replica). @return 1, 0, or < 0 */
static int
bound_server(struct http_req *r, const struct query *q, char **server)
{
    struct dir_assoc a = { 0 };
    enum db_status st;
    const char *name;

    *server = NULL;
    if (q->stored == NULL) {
        return 0;
    }
    st = dir_store_assoc_get(db_thread_read_conn(), q->medium, q->stored, &a);
    if (st <= 0) {
        return st < 0 ? -1 : 0;
    }
    name = fed_mxid_server(a.mxid);
    if (name != NULL) {
        *server = xstrdup(name);
    }
    dir_assoc_clear(&a);
    return *server != NULL;
}

/* An account already exists on another server: that server is where to go (hs), and
 * the mapped one where to move (new_hs). The mapped server's twin is not "another". */
static void
apply_binding(json_t *out, const struct query *q, const char *server)
{
    const char *hs = json_string_value(json_object_get(out, "hs"));

    if (q->matched && (fed_server_name_eq(server, q->route.hs) ||
                       fed_server_name_eq(server, q->route.shadow_hs))) {
        return;
    }
    if (hs != NULL) {
        json_object_set_new(out, "new_hs", json_string(hs));
    }
    json_object_set_new(out, "hs", json_string(server));
}

int
dir_info_get(struct http_req *r, const json_t *body)
{
    const struct cfg_routing *conf = &cfg_get()->routing;
    struct query q;
    enum reply_status rs = query_read(r, &q);
    json_t *out;
    char *server = NULL;
    int bound;

    (void)body;
    if (rs != RS_OK) {
        query_clear(&q);
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    out = q.matched ? json_deep_copy(q.route.entry) : json_object();
    if (q.matched) {
        char ip[64];

        /* Outside the protected networks a protected server is reached through its
         * twin; a server without a twin is not protected and stays. */
        if (json_array_size(conf->nonshadow) > 0 &&
            !net_in_list(http_client_ip(r, ip, sizeof(ip)), conf->nonshadow)) {
            if (q.route.shadow_hs != NULL) {
                json_object_set_new(out, "hs", json_string(q.route.shadow_hs));
            }
            json_object_del(out, "shadow_hs");
        }
        if (!conf->reveal_requires_invite) {
            json_object_del(out, "requires_invite");
        }
    }
    bound = bound_server(r, &q, &server);
    if (bound < 0) {
        json_decref(out);
        query_clear(&q);
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    if (bound > 0) {
        apply_binding(out, &q, server);
    }
    free(server);
    query_clear(&q);
    return http_reply_json(r, MHD_HTTP_OK, out);
}

/* internal_secret, when set, as "Authorization: Bearer <secret>" (constant time). */
static bool
internal_authorized(struct http_req *r)
{
    const char *secret = cfg_get()->routing.internal_secret;
    const char *token;

    if (secret == NULL) {
        return true;
    }
    token = http_bearer_token(r);
    return token != NULL && cx_streq(token, secret);
}

int
dir_internal_info_get(struct http_req *r, const json_t *body)
{
    struct dir_internal_facts facts = { 0 };
    enum dir_enroll verdict;
    struct query q;
    enum reply_status rs;
    json_t *out;

    (void)body;
    if (!internal_authorized(r)) {
        return http_reply_ec(r, E_UNAUTHORIZED, "internal-info needs the internal secret");
    }
    rs = query_read(r, &q);
    if (rs != RS_OK) {
        query_clear(&q);
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    /* On the primary, not the replica: the registration gate must see an invitation
     * or a binding as soon as it is made. */
    if (q.stored != NULL && dir_store_internal_info(r->db, q.medium, q.stored, &facts) < 0) {
        query_clear(&q);
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    /* The gate's decision: on an annuaire platform a non-agent needs what it cannot get
     * (requires_invite, never invited), so a homeserver that refuses "requires_invite and
     * not invited" refuses it; an invitation counts only where the gate takes it. */
    verdict = q.routing == NULL ? DIR_ENROLL_OK /* no routing: the gate lets all in */
                                : dir_enroll_decide(q.matched ? &q.route : NULL, &facts);
    out = q.matched ? json_deep_copy(q.route.entry) : json_object();
    if (q.matched) {
        json_object_set_new(
            out, "requires_invite",
            json_boolean(q.route.requires_invite || verdict == DIR_ENROLL_NOT_AGENT));
        json_object_set_new(out, "external", json_boolean(q.route.external));
    }
    json_object_set_new(out, "invited", json_boolean(facts.invited && verdict == DIR_ENROLL_OK));
    if (facts.ministry != NULL) {
        /* A known agent: the entity of membership to suggest at registration. */
        json_object_set_new(
            out, "agent",
            json_pack("{s:s, s:s?}", "ministry", facts.ministry, "entity", facts.entity));
    }
    /* An account already exists elsewhere: registering here would make a second one. */
    if (facts.mxid != NULL && fed_mxid_server(facts.mxid) != NULL) {
        apply_binding(out, &q, fed_mxid_server(facts.mxid));
    }
    dir_internal_facts_clear(&facts);
    query_clear(&q);
    return http_reply_json(r, MHD_HTTP_OK, out);
}
