/*
 * The admin API's routes, served on the admin listener only (ROUTE_ADMIN), each with
 * the scope its token needs (ROUTE_SCOPE_*: invitations, directory, sync, audit; a
 * token with "all" holds every scope).
 */
#include "admin/internal.h"
#include "core/util.h"

const struct route adm_routes[] = {
    { "GET", ADM_V1 "/whoami", adm_whoami_get, ROUTE_ADMIN },
    /* Invitations (scope invitations). */
    { "POST", ADM_V1 "/invitations", adm_invitations_post,
      ROUTE_ADMIN | ROUTE_SCOPE_INVITATIONS | ROUTE_JSON_BODY },
    { "GET", ADM_V1 "/invitations", adm_invitations_get, ROUTE_ADMIN | ROUTE_SCOPE_INVITATIONS },
    { "GET", ADM_V1 "/invitations/{id}", adm_invitation_get,
      ROUTE_ADMIN | ROUTE_SCOPE_INVITATIONS },
    { "DELETE", ADM_V1 "/invitations/{id}", adm_invitation_delete,
      ROUTE_ADMIN | ROUTE_SCOPE_INVITATIONS },
    { "POST", ADM_V1 "/invitations/{id}/resend", adm_invitation_resend_post,
      ROUTE_ADMIN | ROUTE_SCOPE_INVITATIONS | ROUTE_BODY_OPTIONAL | ROUTE_JSON_BODY },

    /* The sync, the annuaire, the pepper, the audit log. */
    { "GET", ADM_V1 "/sync/sources", adm_sync_sources_get, ROUTE_ADMIN | ROUTE_SCOPE_SYNC },
    { "GET", ADM_V1 "/sync/runs", adm_sync_runs_get, ROUTE_ADMIN | ROUTE_SCOPE_SYNC },
    { "GET", ADM_V1 "/entries", adm_entries_get, ROUTE_ADMIN | ROUTE_SCOPE_DIRECTORY },
    { "POST", ADM_V1 "/pepper/rotate", adm_pepper_rotate_post,
      ROUTE_ADMIN | ROUTE_SCOPE_DIRECTORY | ROUTE_JSON_BODY | ROUTE_BODY_OPTIONAL },
    { "GET", ADM_V1 "/audit", adm_audit_get, ROUTE_ADMIN | ROUTE_SCOPE_AUDIT },

};
const size_t adm_n_routes = ANN_ARRAY_LEN(adm_routes);
