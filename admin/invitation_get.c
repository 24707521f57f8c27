/*
 * GET /_annuaire/admin/v1/invitations/{id}: one invitation, room or VIP; 404 M_NOT_FOUND
 * when there is none, also for an id that is not a positive integer.
 */
#include "admin/internal.h"

int
adm_invitation_get(struct http_req *r, const json_t *body)
{
    json_t *out = NULL;
    enum adm_inv_status st = adm_invitation_find(r->db, r->match.params[0], &out);

    (void)body;
    return adm_invitation_reply(r, st, out, NULL, MHD_HTTP_OK);
}
