#include "core/util.h"
#include "directory/directory.h"
#include "directory/internal.h"

const struct route dir_routes[] = {
    { "GET", "/_matrix/identity/versions", dir_versions_get, 0 },
    { "GET", "/_matrix/identity/v2", dir_status_get, 0 },
    { "GET", "/_matrix/identity/v2/pubkey/{keyId}", dir_pubkey_get, 0 },
    { "GET", "/_matrix/identity/v2/pubkey/isvalid", dir_pubkey_isvalid_get, 0 },
    /* v1, still called by homeservers and older clients */
    { "GET", "/_matrix/identity/api/v1", dir_status_get, 0 },
    { "GET", "/_matrix/identity/api/v1/pubkey/{keyId}", dir_pubkey_get, 0 },
    { "GET", "/_matrix/identity/api/v1/pubkey/isvalid", dir_pubkey_isvalid_get, 0 },
};
const size_t dir_n_routes = ANN_ARRAY_LEN(dir_routes);
