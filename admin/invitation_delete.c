/*
 * DELETE /_annuaire/admin/v1/invitations/{id}: revokes a pending invitation, room or VIP:
 * from then on it opens neither the enrollment gate nor internal-info (409 when it is not
 * pending).
 */
#include "admin/internal.h"
#include "core/audit.h"

int
adm_invitation_delete(struct http_req *r, const json_t *body)
{
    const struct adm_actor who = { AUDIT_ADMIN, r->admin };
    json_t *out = NULL;
    enum adm_inv_status st = adm_invitation_revoke(r->db, &who, r->match.params[0], &out);

    (void)body;
    return adm_invitation_reply(r, st, out, NULL, MHD_HTTP_OK);
}
