#include <pthread.h>
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

/*
 * Homeservers' verify keys, kept for their valid_until_ts (at most KEY_CACHE_MAX_MS,
 * so a replaced key is picked up within that time): an unbind does not cost a fetch
 * each time. Bounded: a full table gives the slot that expires first to the newcomer.
 */
#define KEY_CACHE_SIZE   256
#define KEY_CACHE_MAX_MS (3600LL * 1000)

struct cached_key {
    char origin[256]; /* "" = free */
    char key_id[128];
    unsigned char pub[CX_ED25519_PUB_LEN];
    long long until_ms;
};

static struct cached_key key_cache[KEY_CACHE_SIZE];
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* @return 0 with pub filled when a valid key is cached, -1 when not */
static int
key_cache_get(const char *origin, const char *key_id, unsigned char pub[CX_ED25519_PUB_LEN])
{
    long long now = now_ms();
    int ret = -1;

    pthread_mutex_lock(&key_cache_lock);
    for (size_t i = 0; i < KEY_CACHE_SIZE; i++) {
        struct cached_key *k = &key_cache[i];

        if (k->origin[0] != '\0' && k->until_ms > now && strcmp(k->origin, origin) == 0 &&
            strcmp(k->key_id, key_id) == 0) {
            memcpy(pub, k->pub, CX_ED25519_PUB_LEN);
            ret = 0;
            break;
        }
    }
    pthread_mutex_unlock(&key_cache_lock);
    return ret;
}

static void
key_cache_put(const char *origin,
              const char *key_id,
              const unsigned char pub[CX_ED25519_PUB_LEN],
              long long valid_until_ms)
{
    long long now = now_ms();
    long long until =
        valid_until_ms < now + KEY_CACHE_MAX_MS ? valid_until_ms : now + KEY_CACHE_MAX_MS;
    struct cached_key *slot = NULL;

    if (until <= now || strlen(origin) >= sizeof(slot->origin) ||
        strlen(key_id) >= sizeof(slot->key_id)) {
        return;
    }
    pthread_mutex_lock(&key_cache_lock);
    for (size_t i = 0; i < KEY_CACHE_SIZE; i++) {
        struct cached_key *k = &key_cache[i];

        if (k->origin[0] != '\0' && strcmp(k->origin, origin) == 0 &&
            strcmp(k->key_id, key_id) == 0) {
            slot = k; /* the same key again */
            break;
        }
        if (slot == NULL || k->origin[0] == '\0' ||
            (slot->origin[0] != '\0' && k->until_ms < slot->until_ms)) {
            slot = k;
        }
    }
    snprintf(slot->origin, sizeof(slot->origin), "%s", origin);
    snprintf(slot->key_id, sizeof(slot->key_id), "%s", key_id);
    memcpy(slot->pub, pub, CX_ED25519_PUB_LEN);
    slot->until_ms = until;
    pthread_mutex_unlock(&key_cache_lock);
}

/* The origin's current public key key_id, from its /_matrix/key/v2/server (self-signed).
 * @param[out] valid_until_ms  until when the server says the key is valid */
static int
fetch_key(const char *origin,
          const char *key_id,
          unsigned char pub[CX_ED25519_PUB_LEN],
          long long *valid_until_ms)
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
    *valid_until_ms = json_integer_value(json_object_get(j, "valid_until_ts"));
    if (b64 == NULL || name == NULL || strcmp(name, origin) != 0 || *valid_until_ms < now_ms() ||
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
    long long valid_until_ms = 0;
    int fetched;

    if (parse_header(http_header(r, MHD_HTTP_HEADER_AUTHORIZATION), &x) != 0 || server == NULL ||
        strcmp(server, x.origin) != 0) {
        return E_UNBIND_FORBIDDEN;
    }
    if (key_cache_get(x.origin, x.key, pub) != 0) {
        /* A homeserver that never answers holds this thread request_timeout: bounded. */
        if (!fetch_slot_take(x.origin)) {
            return E_HS_BUSY;
        }
        fetched = fetch_key(x.origin, x.key, pub, &valid_until_ms);
        fetch_slot_release(x.origin);
        if (fetched != 0) {
            return E_UNBIND_FORBIDDEN;
        }
        key_cache_put(x.origin, x.key, pub, valid_until_ms);
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
