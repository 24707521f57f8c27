/*
 * Signing JSON the Matrix way: Ed25519 over the canonical JSON of an object without its
 * "signatures" and "unsigned" members, stored under signatures.<entity>.<key id>, and the
 * check of such a signature against a public key.
 */
#include "core/sign.h"

#include <stdlib.h>

#include "core/json.h"

/* Canonical JSON of obj without "signatures" and "unsigned". */
static char *
signable_bytes(const json_t *obj, size_t *len)
{
    json_t *copy;
    char *out;

    if (!json_is_object(obj)) {
        return NULL;
    }
    copy = json_copy((json_t *)obj); /* shallow: the members are shared, not changed */
    if (copy == NULL) {
        return NULL;
    }
    json_object_del(copy, "signatures");
    json_object_del(copy, "unsigned");
    out = jx_canonical(copy, len);
    json_decref(copy);
    return out;
}

int
sign_json(json_t *obj, const char *entity, const char *key_id, const struct cx_ed25519 *key)
{
    unsigned char sig[CX_ED25519_SIG_LEN];
    json_t *sigs;
    json_t *by_entity;
    size_t len = 0;
    char *msg = signable_bytes(obj, &len);
    char *b64;
    int ret = -1;

    if (msg == NULL || cx_ed25519_sign(key, msg, len, sig) != 0) {
        goto cleanup;
    }
    sigs = json_object_get(obj, "signatures");
    if (!json_is_object(sigs)) {
        sigs = json_object();
        json_object_set_new(obj, "signatures", sigs);
    }
    by_entity = json_object_get(sigs, entity);
    if (!json_is_object(by_entity)) {
        by_entity = json_object();
        json_object_set_new(sigs, entity, by_entity);
    }
    b64 = cx_b64_encode(sig, sizeof(sig), CX_B64_STD);
    json_object_set_new(by_entity, key_id, json_string(b64));
    free(b64);
    ret = 0;
cleanup:
    free(msg);
    return ret;
}

int
sign_verify_json(const json_t *obj,
                 const char *entity,
                 const char *key_id,
                 const unsigned char pub[CX_ED25519_PUB_LEN])
{
    const json_t *b64 =
        json_object_get(json_object_get(json_object_get(obj, "signatures"), entity), key_id);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    size_t len = 0;
    char *msg = NULL;
    int ret = -1;

    if (!json_is_string(b64) ||
        cx_b64_decode(json_string_value(b64), json_string_length(b64), CX_B64_STD, &sig, &siglen) !=
            0 ||
        siglen != CX_ED25519_SIG_LEN) {
        goto cleanup;
    }
    msg = signable_bytes(obj, &len);
    if (msg != NULL && cx_ed25519_verify(pub, msg, len, sig)) {
        ret = 0;
    }
cleanup:
    free(msg);
    free(sig);
    return ret;
}
