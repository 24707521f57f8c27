/* Signing JSON objects the Matrix way (canonical JSON + Ed25519). */
#ifndef ANN_CORE_SIGN_H
#define ANN_CORE_SIGN_H

#include <jansson.h>

#include "core/crypto.h"
#include "core/util.h"

/**
 * Signs obj in place: "signatures" and "unsigned" are set aside, the rest is
 * put in canonical JSON and signed, then signatures[entity][key_id] is added
 * next to any signatures already present and "unsigned" is put back.
 *
 * @return 0, or -1 when obj is not an object or cannot be put in canonical form
 */
int sign_json(json_t *obj, const char *entity, const char *key_id, const struct cx_ed25519 *key)
    ANN_MUST_CHECK;

/**
 * Checks signatures[entity][key_id] of obj against a raw public key.
 * @return 0 when present and valid, -1 otherwise
 */
int sign_verify_json(const json_t *obj,
                     const char *entity,
                     const char *key_id,
                     const unsigned char pub[CX_ED25519_PUB_LEN]) ANN_MUST_CHECK;

#endif
