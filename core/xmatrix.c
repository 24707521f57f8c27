/*
 * The X-Matrix signature of a homeserver on a request to this identity server (the
 * unbind of POST /_matrix/identity/v2/3pid/unbind, the signed user-directory search): the
 * Authorization header, the homeserver's verify keys (fetched, cached for their validity)
 * and the check of the signed request.
 */
#include "core/xmatrix.h"

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

/* Authorization: X-Matrix origin=hs.example,key="ed25519:a",sig="...",destination="is.example" */
static int
parse_header(const char *h, struct xmatrix_auth *x)
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
 * Homeservers' verify keys, per origin: the whole set of its last successful fetch,
 * kept for its valid_until_ts (at most KEY_CACHE_MAX_MS, so a replaced key is picked up
 * within that time): a signed request does not cost a fetch each time. A key id absent from
 * the set, or an origin whose fetch failed, is answered without a fetch for
 * KEY_RETRY_MS: random key ids cannot turn signed requests into fetches toward a homeserver.
 * Bounded: a full table gives the origin that expires first to the newcomer.
 */
#define KEY_CACHE_SIZE   256
#define KEY_CACHE_MAX_MS (3600LL * 1000)
#define KEY_RETRY_MS     (60LL * 1000)
#define KEYS_PER_ORIGIN  8

struct cached_key {
    char key_id[128];
    unsigned char pub[CX_ED25519_PUB_LEN];
};

struct origin_keys {
    char origin[256]; /* "" = free */
    size_t n_keys;
    struct cached_key keys[KEYS_PER_ORIGIN];
    long long until_ms;    /* the keys are valid until then */
    long long no_fetch_ms; /* no fetch for a key id not in keys before then */
};

enum key_lookup {
    KEY_FOUND,  /* pub filled */
    KEY_ABSENT, /* not among the origin's keys, fetched (or failed) recently: no fetch */
    KEY_FETCH,  /* nothing recent known: fetch the origin's keys */
};

static struct origin_keys key_cache[KEY_CACHE_SIZE];
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
max_ll(long long a, long long b)
{
    return a > b ? a : b;
}

/* The entry of origin, or NULL. Under key_cache_lock. */
static struct origin_keys *
origin_find(const char *origin)
{
    for (size_t i = 0; i < KEY_CACHE_SIZE; i++) {
        if (key_cache[i].origin[0] != '\0' && strcmp(key_cache[i].origin, origin) == 0) {
            return &key_cache[i];
        }
    }
    return NULL;
}

static enum key_lookup
key_cache_get(const char *origin, const char *key_id, unsigned char pub[CX_ED25519_PUB_LEN])
{
    long long now = now_ms();
    enum key_lookup ret = KEY_FETCH;
    struct origin_keys *o;

    pthread_mutex_lock(&key_cache_lock);
    o = origin_find(origin);
    if (o != NULL && o->until_ms > now) {
        for (size_t i = 0; i < o->n_keys; i++) {
            if (strcmp(o->keys[i].key_id, key_id) == 0) {
                memcpy(pub, o->keys[i].pub, CX_ED25519_PUB_LEN);
                ret = KEY_FOUND;
                break;
            }
        }
    }
    if (ret != KEY_FOUND && o != NULL && o->no_fetch_ms > now) {
        ret = KEY_ABSENT;
    }
    pthread_mutex_unlock(&key_cache_lock);
    return ret;
}

/* Records a fetch of origin's keys: keys (n of them, valid until valid_until_ms) replace
 * those known when fetched, else (a failed fetch) those known stay; either way no fetch
 * for an unknown key id before KEY_RETRY_MS. */
static void
key_cache_put(const char *origin,
              bool fetched,
              const struct cached_key *keys,
              size_t n,
              long long valid_until_ms)
{
    long long now = now_ms();
    struct origin_keys *o;

    if (strlen(origin) >= sizeof(o->origin)) {
        return;
    }
    pthread_mutex_lock(&key_cache_lock);
    o = origin_find(origin);
    if (o == NULL) {
        for (size_t i = 0; i < KEY_CACHE_SIZE; i++) {
            struct origin_keys *k = &key_cache[i];

            if (o == NULL || k->origin[0] == '\0' ||
                (o->origin[0] != '\0' &&
                 max_ll(k->until_ms, k->no_fetch_ms) < max_ll(o->until_ms, o->no_fetch_ms))) {
                o = k;
            }
        }
        memset(o, 0, sizeof(*o));
        snprintf(o->origin, sizeof(o->origin), "%s", origin);
    }
    if (fetched) {
        o->n_keys = n;
        memcpy(o->keys, keys, n * sizeof(*keys));
        o->until_ms =
            valid_until_ms < now + KEY_CACHE_MAX_MS ? valid_until_ms : now + KEY_CACHE_MAX_MS;
    }
    o->no_fetch_ms = now + KEY_RETRY_MS;
    pthread_mutex_unlock(&key_cache_lock);
}

/* The origin's current public keys, from its /_matrix/key/v2/server: those of its
 * verify_keys by which the reply is signed (at most KEYS_PER_ORIGIN).
 * @param[out] keys            filled with the keys
 * @param[out] n               how many
 * @param[out] valid_until_ms  until when the server says they are valid
 * @return 0, or -1 when the keys cannot be fetched or none signs the reply */
static int
fetch_keys(const char *origin,
           struct cached_key keys[KEYS_PER_ORIGIN],
           size_t *n,
           long long *valid_until_ms)
{
    const struct cfg_account *acc = &cfg_get()->account;
    struct fetch_opts opts;
    struct fetch_result res = { 0 };
    char *base = NULL;
    char *url = NULL;
    json_t *j = NULL;
    json_t *vk;
    const char *id;
    const char *name;

    *n = 0;
    if (fed_prepare_call(origin, acc, &opts, &base) != FETCH_OK) {
        return -1;
    }
    url = xasprintf("%s/_matrix/key/v2/server", base);
    if (fetch_request(url, NULL, NULL, &opts, &res) != FETCH_OK || res.status != 200) {
        log_warn("X-Matrix: cannot fetch the keys of %s: %s", origin, res.error);
        goto cleanup;
    }
    j = json_loadb(res.body, res.len, 0, NULL);
    name = json_string_value(json_object_get(j, "server_name"));
    *valid_until_ms = json_integer_value(json_object_get(j, "valid_until_ts"));
    if (name == NULL || strcmp(name, origin) != 0 || *valid_until_ms < now_ms()) {
        goto cleanup;
    }
    json_object_foreach (json_object_get(j, "verify_keys"), id, vk) {
        const char *b64 = json_string_value(json_object_get(vk, "key"));
        unsigned char *raw = NULL;
        size_t len = 0;

        if (*n == KEYS_PER_ORIGIN) {
            break;
        }
        if (b64 == NULL || strlen(id) >= sizeof(keys[0].key_id) ||
            cx_b64_decode(b64, strlen(b64), CX_B64_STD, &raw, &len) != 0) {
            continue;
        }
        /* The reply must be signed by each key it publishes that we keep. */
        if (len == CX_ED25519_PUB_LEN && sign_verify_json(j, origin, id, raw) == 0) {
            snprintf(keys[*n].key_id, sizeof(keys[*n].key_id), "%s", id);
            memcpy(keys[*n].pub, raw, CX_ED25519_PUB_LEN);
            (*n)++;
        }
        free(raw);
    }
cleanup:
    json_decref(j);
    fetch_result_clear(&res);
    free(url);
    free(base);
    return *n > 0 ? 0 : -1;
}

/* The origin's key key_id: from the cache, else from a fetch of its keys (recorded, the
 * failure too). @return XMATRIX_VALID with pub filled, XMATRIX_INVALID, or XMATRIX_BUSY
 * when no slot for the fetch is free */
static enum xmatrix_status
origin_key(const char *origin, const char *key_id, unsigned char pub[CX_ED25519_PUB_LEN])
{
    struct cached_key keys[KEYS_PER_ORIGIN];
    long long valid_until_ms = 0;
    size_t n = 0;
    int fetched;

    if (strlen(origin) >= FETCH_DEST_MAX) {
        return XMATRIX_INVALID; /* no server name */
    }
    switch (key_cache_get(origin, key_id, pub)) {
    case KEY_FOUND:
        return XMATRIX_VALID;
    case KEY_ABSENT:
        return XMATRIX_INVALID;
    case KEY_FETCH:
        break;
    }
    /* A homeserver that never answers holds this thread request_timeout: bounded. */
    if (!fetch_slot_take(origin)) {
        return XMATRIX_BUSY;
    }
    fetched = fetch_keys(origin, keys, &n, &valid_until_ms);
    fetch_slot_release(origin);
    key_cache_put(origin, fetched == 0, keys, n, valid_until_ms);
    return key_cache_get(origin, key_id, pub) == KEY_FOUND ? XMATRIX_VALID : XMATRIX_INVALID;
}

int
xmatrix_parse(const struct http_req *r, struct xmatrix_auth *out)
{
    return parse_header(http_header(r, MHD_HTTP_HEADER_AUTHORIZATION), out);
}

enum xmatrix_status
xmatrix_verify(const struct http_req *r, const json_t *body, const struct xmatrix_auth *x)
{
    const char *me = cfg_get()->server.name;
    unsigned char pub[CX_ED25519_PUB_LEN];
    /* Homeservers sign "destination_is" for identity servers; the federation form says
     * "destination": either is accepted. */
    static const char *const dest_keys[] = { "destination_is", "destination" };
    enum xmatrix_status st = origin_key(x->origin, x->key, pub);
    bool valid = false;

    if (st != XMATRIX_VALID) {
        return st;
    }
    for (size_t i = 0; i < 2 && !valid; i++) {
        json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:O, s:{s:{s:s}}}", "method", r->method,
                                "uri", r->url, "origin", x->origin, dest_keys[i], me, "content",
                                body, "signatures", x->origin, x->key, x->sig);

        valid = req != NULL && sign_verify_json(req, x->origin, x->key, pub) == 0;
        json_decref(req);
    }
    return valid ? XMATRIX_VALID : XMATRIX_INVALID;
}
