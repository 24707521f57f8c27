/*
 * POST /_annuaire/admin/v1/invitations/{id}/resend: the mail of a pending VIP invitation
 * again, rendered anew and sent to the address it was stored for; a room invitation's
 * mail cannot be (its one-time key is not kept), nor that of one no longer pending (409).
 */
#include "admin/internal.h"
#include "core/audit.h"

int
adm_invitation_resend_post(struct http_req *r, const json_t *body)
{
    const struct adm_actor who = { AUDIT_ADMIN, r->admin };
    json_t *out = NULL;
    enum adm_inv_status st = adm_invitation_resend(r->db, &who, r->match.params[0], &out);

    (void)body;
    return adm_invitation_reply(r, st, out, NULL, MHD_HTTP_OK);
}
