/*
 * The directory module's routes: the v2 and v1 identity API (status, versions, public keys,
 * hash details, lookups) and Tchap's homeserver routing (info, and internal-info on the
 * internal listener only), the leavers (internal listener only), directory search and
 * identification.
 */
#include "core/util.h"
#include "directory/directory.h"
#include "directory/internal.h"

const struct route dir_routes[] = {
    { "GET", "/_matrix/identity/versions", dir_versions_get, 0 },
    { "GET", "/_matrix/identity/v2", dir_status_get, 0 },
    { "GET", "/_matrix/identity/v2/pubkey/{keyId}", dir_pubkey_get, 0 },
    { "GET", "/_matrix/identity/v2/pubkey/isvalid", dir_pubkey_isvalid_get, 0 },
    { "GET", "/_matrix/identity/v2/hash_details", dir_hash_details_get, ROUTE_AUTH },
    { "POST", "/_matrix/identity/v2/lookup", dir_lookup_post, ROUTE_AUTH | ROUTE_JSON_BODY },
    /* v1, still called by homeservers and older clients */
    { "GET", "/_matrix/identity/api/v1", dir_status_get, 0 },
    { "GET", "/_matrix/identity/api/v1/pubkey/{keyId}", dir_pubkey_get, 0 },
    { "GET", "/_matrix/identity/api/v1/pubkey/isvalid", dir_pubkey_isvalid_get, 0 },
    { "GET", "/_matrix/identity/api/v1/lookup", dir_lookup_v1_get, 0 },
    { "POST", "/_matrix/identity/api/v1/bulk_lookup", dir_bulk_lookup_v1_post, ROUTE_JSON_BODY },
    /* Homeserver routing, as Tchap's clients and homeserver modules call it */
    { "GET", "/_matrix/identity/api/v1/info", dir_info_get, 0 },
    { "GET", "/_matrix/identity/api/v1/internal-info", dir_internal_info_get, ROUTE_INTERNAL },
    /* Directory search: a homeserver's client API through a reverse proxy, and the
     * identity server's user directory that Tchap's homeservers defer to */
    { "POST", "/_matrix/client/v3/user_directory/search", dir_user_directory_client_post,
      ROUTE_JSON_BODY },
    { "POST", "/_matrix/client/r0/user_directory/search", dir_user_directory_client_post,
      ROUTE_JSON_BODY },
    { "POST", "/_matrix/identity/api/v1/user_directory/search", dir_user_directory_signed_post,
      ROUTE_JSON_BODY },
    /* For homeservers' jobs that deactivate the accounts of who left the annuaire */
    { "GET", "/_annuaire/internal/v1/leavers", dir_leavers_get, ROUTE_INTERNAL },
    /* Directory search and identification, for holders of an identity access token */
    { "POST", "/_annuaire/v1/directory/search", dir_search_post, ROUTE_AUTH | ROUTE_JSON_BODY },
    { "GET", "/_annuaire/v1/directory/entry", dir_entry_get, ROUTE_AUTH },
};
const size_t dir_n_routes = ANN_ARRAY_LEN(dir_routes);
