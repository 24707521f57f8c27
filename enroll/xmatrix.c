/*
 * The X-Matrix check of POST /_matrix/identity/v2/3pid/unbind: a homeserver may unbind
 * its own users only (the signature itself is checked by core/xmatrix.c).
 */
#include "core/xmatrix.h"

#include <string.h>

#include "core/federation.h"
#include "enroll/internal.h"

enum reply_status
enr_xmatrix_check(struct http_req *r, const json_t *body, const char *mxid)
{
    const char *server = fed_mxid_server(mxid);
    struct xmatrix_auth x;

    if (xmatrix_parse(r, &x) != 0 || server == NULL || strcmp(server, x.origin) != 0) {
        return http_reply_status(http_reply_ec(r, E_UNBIND_FORBIDDEN, NULL));
    }
    switch (xmatrix_verify(r, body, &x)) {
    case XMATRIX_VALID:
        return RS_OK;
    case XMATRIX_BUSY:
        return http_reply_status(enr_reply_hs_busy(r));
    case XMATRIX_INVALID:
        break;
    }
    return http_reply_status(http_reply_ec(r, E_UNBIND_FORBIDDEN, NULL));
}
