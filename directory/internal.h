/* Private to directory/: one handler per file. */
#ifndef ANN_DIRECTORY_INTERNAL_H
#define ANN_DIRECTORY_INTERNAL_H

#include <jansson.h>

struct http_req;

/** GET /_matrix/identity/v2 and /_matrix/identity/api/v1: the spec's status check. */
int dir_status_get(struct http_req *r, const json_t *body);

/** GET /_matrix/identity/versions */
int dir_versions_get(struct http_req *r, const json_t *body);

/** GET .../pubkey/{keyId}: the long-term public key. */
int dir_pubkey_get(struct http_req *r, const json_t *body);

/** GET .../pubkey/isvalid?public_key=: whether it is our long-term key. */
int dir_pubkey_isvalid_get(struct http_req *r, const json_t *body);

#endif
