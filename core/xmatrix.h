/*
 * The X-Matrix signature a homeserver puts on a request to this identity server
 * (Authorization: X-Matrix origin=...,key="...",sig="..."): the header, and the check of
 * the signed request against the keys the origin publishes (fetched, cached for their
 * validity, one fetch at most per origin and KEY_RETRY_MS for unknown key ids).
 */
#ifndef ANN_CORE_XMATRIX_H
#define ANN_CORE_XMATRIX_H

#include <jansson.h>

#include "core/http.h"
#include "core/util.h"

/* What the header says (values unescaped, bounded). */
struct xmatrix_auth {
    char origin[300];
    char key[300];
    char sig[300];
};

enum xmatrix_status {
    XMATRIX_VALID = 0,
    XMATRIX_INVALID, /* no such key, keys not to be had, or a signature that does not match */
    XMATRIX_BUSY,    /* the keys must be fetched and no fetch_slot_take slot is free */
};

/**
 * Reads the request's Authorization: X-Matrix header.
 * @param[out] out  its origin, key id and signature
 * @return 0, or -1 when there is none or it lacks one of them
 */
int xmatrix_parse(const struct http_req *r, struct xmatrix_auth *out) ANN_MUST_CHECK;

/**
 * Checks that a (from xmatrix_parse) signs this request: its method, path, origin, this
 * server's name (server.name) as destination_is or destination, and body as content.
 * The caller decides first whether the origin may call at all (so that no fetch is made
 * for one it refuses).
 * @return XMATRIX_VALID, XMATRIX_INVALID or XMATRIX_BUSY
 */
enum xmatrix_status xmatrix_verify(const struct http_req *r,
                                   const json_t *body,
                                   const struct xmatrix_auth *a) ANN_MUST_CHECK;

#endif
