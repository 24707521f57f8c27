#include "core/http.h"
#include "enroll/internal.h"

enum err_code
enr_xmatrix_check(struct http_req *r, const json_t *body, const char *mxid)
{
    /* Homeserver-signed unbinds (X-Matrix) are not verified yet: refused. */
    return E_UNBIND_FORBIDDEN;
}
