/*
 * GET /_annuaire/admin/v1/invitations: the invitations, room and VIP ones, newest first,
 * filtered by ?state=, ?kind= and ?address= (any form of it: its canonical one is
 * looked up), by pages of ?limit= (50, at most 500) with the cursor ?from= of the answer's
 * "next".
 */
#include "admin/internal.h"

int
adm_invitations_get(struct http_req *r, const json_t *body)
{
    const struct adm_invite_query q = {
        .state = http_query(r, "state"),
        .kind = http_query(r, "kind"),
        .address = http_query(r, "address"),
        .from = http_query(r, "from"),
        .limit = http_query(r, "limit"),
    };
    json_t *out = NULL;
    const char *why = NULL;
    enum adm_inv_status st;

    (void)body;
    st = adm_invitation_list(r->db, &q, &out, &why);
    return adm_invitation_reply(r, st, out, why, MHD_HTTP_OK);
}
