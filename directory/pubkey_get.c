/*
 * GET /_matrix/identity/v2/pubkey/{keyId} and .../pubkey/isvalid (and their api/v1 twins):
 * the long-term public key, and whether a given key is it.
 */
#include <string.h>

#include "core/http.h"
#include "directory/directory.h"
#include "directory/internal.h"

int
dir_pubkey_get(struct http_req *r, const json_t *body)
{
    const char *key_id = r->match.params[0];

    if (strcmp(key_id, DIR_SIGNING_KEY_ID) != 0 || dir_public_key_b64() == NULL) {
        return http_reply_ec(r, E_KEY_NOT_FOUND, NULL);
    }
    return http_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "public_key", dir_public_key_b64()));
}

int
dir_pubkey_isvalid_get(struct http_req *r, const json_t *body)
{
    const char *key = http_query(r, "public_key");

    if (key == NULL) {
        return http_reply_ec(r, E_MISSING_PARAMS, "public_key");
    }
    /* Public keys are public: no constant-time compare needed. */
    return http_reply_json(
        r, MHD_HTTP_OK,
        json_pack("{s:b}", "valid",
                  dir_public_key_b64() != NULL && strcmp(key, dir_public_key_b64()) == 0));
}
