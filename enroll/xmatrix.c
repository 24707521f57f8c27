#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cfg.h"
#include "core/crypto.h"
#include "core/federation.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/sign.h"
#include "enroll/internal.h"

struct xmatrix {
    char origin[300];
    char key[300];
    char sig[300];
};

/* Authorization: X-Matrix origin=hs.example,key="ed25519:a",sig="...",destination="is.example" */
static int
parse_header(const char *h, struct xmatrix *x)
{
    const char *p;

    memset(x, 0, sizeof(*x));
    if (h == NULL || strncmp(h, "X-Matrix ", 9) != 0 || strlen(h) > 2048) {
        return -1;
    }
    p = h + 9;
    while (*p != '\0') {
        const char *eq = strchr(p, '=');
        char value[300];
        size_t n = 0;
        size_t klen;

        while (*p == ' ' || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        if (eq == NULL) {
            return -1;
        }
        klen = (size_t)(eq - p);
        p = eq + 1;
        if (*p == '"') {
            for (p++; *p != '\0' && *p != '"' && n < sizeof(value) - 1; p++) {
                if (*p == '\\' && p[1] != '\0') {
                    p++;
                }
                value[n++] = *p;
            }
            if (*p != '"') {
                return -1;
            }
            p++;
        } else {
            while (*p != '\0' && *p != ',' && n < sizeof(value) - 1) {
                value[n++] = *p++;
            }
        }
        value[n] = '\0';
        if (klen == 6 && strncmp(eq - 6, "origin", 6) == 0) {
            snprintf(x->origin, sizeof(x->origin), "%s", value);
        } else if (klen == 3 && strncmp(eq - 3, "key", 3) == 0) {
            snprintf(x->key, sizeof(x->key), "%s", value);
        } else if (klen == 3 && strncmp(eq - 3, "sig", 3) == 0) {
            snprintf(x->sig, sizeof(x->sig), "%s", value);
        }
    }
    return x->origin[0] && x->key[0] && x->sig[0] ? 0 : -1;
}

/* The origin's current public key key_id, from its /_matrix/key/v2/server (self-signed). */
static int
fetch_key(const char *origin, const char *key_id, unsigned char pub[CX_ED25519_PUB_LEN])
{
    const struct cfg_account *acc = &cfg_get()->account;
    struct fetch_opts opts;
    struct fetch_result res = { 0 };
    char *base = NULL;
    char *url = NULL;
    json_t *j = NULL;
    const char *b64;
    const char *name;
    unsigned char *raw = NULL;
    size_t len = 0;
    int ret = -1;

    if (fed_prepare_call(origin, acc, &opts, &base) != FETCH_OK) {
        return -1;
    }
    url = xasprintf("%s/_matrix/key/v2/server", base);
    if (fetch_request(url, NULL, NULL, &opts, &res) != FETCH_OK || res.status != 200) {
        log_warn("unbind: cannot fetch the keys of %s: %s", origin, res.error);
        goto cleanup;
    }
    j = json_loadb(res.body, res.len, 0, NULL);
    b64 = json_string_value(
        json_object_get(json_object_get(json_object_get(j, "verify_keys"), key_id), "key"));
    name = json_string_value(json_object_get(j, "server_name"));
    if (b64 == NULL || name == NULL || strcmp(name, origin) != 0 ||
        json_integer_value(json_object_get(j, "valid_until_ts")) < (json_int_t)time(NULL) * 1000 ||
        cx_b64_decode(b64, strlen(b64), CX_B64_STD, &raw, &len) != 0 || len != CX_ED25519_PUB_LEN) {
        goto cleanup;
    }
    memcpy(pub, raw, CX_ED25519_PUB_LEN);
    /* The reply must be signed by the very key it publishes. */
    ret = sign_verify_json(j, origin, key_id, pub);
cleanup:
    free(raw);
    json_decref(j);
    fetch_result_clear(&res);
    free(url);
    free(base);
    return ret;
}

enum err_code
enr_xmatrix_check(struct http_req *r, const json_t *body, const char *mxid)
{
    const char *me = cfg_get()->server.name;
    const char *server = fed_mxid_server(mxid);
    unsigned char pub[CX_ED25519_PUB_LEN];
    struct xmatrix x;
    /* Homeservers sign "destination_is" for identity servers; the federation form says
     * "destination": either is accepted. */
    static const char *const dest_keys[] = { "destination_is", "destination" };
    enum err_code ec = E_UNBIND_FORBIDDEN;

    if (parse_header(http_header(r, MHD_HTTP_HEADER_AUTHORIZATION), &x) != 0 || server == NULL ||
        strcmp(server, x.origin) != 0 || fetch_key(x.origin, x.key, pub) != 0) {
        return E_UNBIND_FORBIDDEN;
    }
    for (size_t i = 0; i < 2 && ec != E__COUNT; i++) {
        json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:O, s:{s:{s:s}}}", "method", r->method,
                                "uri", r->url, "origin", x.origin, dest_keys[i], me, "content",
                                body, "signatures", x.origin, x.key, x.sig);

        if (req != NULL && sign_verify_json(req, x.origin, x.key, pub) == 0) {
            ec = E__COUNT;
        }
        json_decref(req);
    }
    return ec;
}
