/*
 * POST /_annuaire/admin/v1/invitations: a VIP invitation to an e-mail address, for the
 * homeserver routing gives it, mailed to that address (admin/invitations.c); and how
 * every invitation endpoint answers what an action came to (adm_invitation_reply).
 */
#include <stdlib.h>

#include "admin/internal.h"
#include "core/audit.h"
#include "core/json.h"
#include "routing/routing.h"

struct create_in {
    const char *address;
    const char *note;
    const char *inviter;
    const char *lang;
    long long expires_in;
};

/* Bounds in bytes here; in characters (500 for note, 100 for inviter) in invitations.c. */
static const struct jx_field fields[] = {
    { "address", JX_STRING, JX_REQUIRED, offsetof(struct create_in, address), 1, 254, 0, 0, NULL },
    { "note", JX_STRING, 0, offsetof(struct create_in, note), 0, 2000, 0, 0, NULL },
    { "inviter", JX_STRING, 0, offsetof(struct create_in, inviter), 1, 400, 0, 0, NULL },
    { "lang", JX_STRING, 0, offsetof(struct create_in, lang), 2, 2, 0, 0, NULL },
    { "expires_in", JX_INT, 0, offsetof(struct create_in, expires_in), 0, 0, 1, 31536000, NULL },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), false };

int
adm_invitation_reply(struct http_req *r,
                     enum adm_inv_status st,
                     json_t *out,
                     const char *why,
                     unsigned ok_status)
{
    switch (st) {
    case ADM_INV_OK:
        return http_reply_json(r, ok_status, out);
    case ADM_INV_BAD_EMAIL:
        return http_reply_ec(r, E_INVALID_EMAIL, why);
    case ADM_INV_BAD_PARAM:
        return http_reply_ec(r, E_INVALID_PARAM, why);
    case ADM_INV_NO_ROUTE:
        return http_reply_ec(r, E_ADMIN_NO_ROUTE, why);
    case ADM_INV_BOUND:
        return http_reply_ec(r, E_THREEPID_IN_USE, NULL);
    case ADM_INV_PENDING:
        return http_reply_ec_extra(r, E_ADMIN_INVITATION_PENDING, NULL, out);
    case ADM_INV_NOT_FOUND:
        json_decref(out);
        return http_reply_ec(r, E_ADMIN_INVITATION_NOT_FOUND, NULL);
    case ADM_INV_NOT_PENDING: {
        json_t *state = json_incref(json_object_get(out, "state"));
        int ret;

        json_decref(out);
        ret = http_reply_ec_extra(r, E_ADMIN_INVITATION_NOT_PENDING,
                                  json_is_string(state) ? json_string_value(state) : NULL,
                                  json_pack("{s:o}", "state", state != NULL ? state : json_null()));
        return ret;
    }
    case ADM_INV_ROOM:
        json_decref(out);
        return http_reply_ec(r, E_ADMIN_INVITATION_ROOM, NULL);
    default:
        json_decref(out);
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
}

int
adm_invitations_post(struct http_req *r, const json_t *body)
{
    struct create_in in = { 0 };
    enum reply_status rs = http_unpack(r, body, &spec, &in);
    const struct adm_actor who = { AUDIT_ADMIN, r->admin };
    struct adm_invite_in q = { 0 };
    struct routing_map *routing;
    json_t *out = NULL;
    const char *why = NULL;
    enum adm_inv_status st;

    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    q = (struct adm_invite_in){ in.address, in.note, in.inviter, in.lang, in.expires_in };
    routing = routing_acquire();
    st = adm_invitation_create(r->db, routing, &who, &q, &out, &why);
    routing_release(routing);
    return adm_invitation_reply(r, st, out, why, MHD_HTTP_OK);
}
