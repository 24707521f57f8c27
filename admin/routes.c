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

    /* The sync, the annuaire, the pepper, the audit log. */

};
const size_t adm_n_routes = ANN_ARRAY_LEN(adm_routes);
