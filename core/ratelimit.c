/*
 * Rate limits. Per instance: in-memory token buckets, a fixed table of 4-way sets keyed by
 * a hash of the limit's name and the key, locked in stripes; a full set gives its least
 * recently used slot to a newcomer. Shared: one row of annuaire.rate_buckets per bucket,
 * taken by one statement of core/store.c after this instance's bucket of the same limit
 * allowed it.
 */
#include "core/ratelimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/store.h"
#include "core/util.h"

/* 4-way sets; a full set gives its least recently used slot to the newcomer. */
#define N_SETS    16384
#define WAYS      4
#define N_STRIPES 64

/* The shared buckets deleted by one statement of the sweep. */
#define SWEEP_BATCH 1000

/* The derivation label of the shared buckets' HMAC key. */
#define KEY_LABEL "annuaire rate-limit keys"

struct slot {
    uint64_t key; /* 0 = empty */
    double tokens;
    long long last_ns;
};

static struct slot *slots;
static pthread_mutex_t stripes[N_STRIPES];
static unsigned char salt[16];
static atomic_bool enabled = true;
static unsigned char hmac_key[CX_SHA256_LEN];
static atomic_bool have_key;
/* Whether the last shared take, or sweep, failed on the database: an outage is logged
 * once when it starts and once when it ends. */
static atomic_bool take_failing;
static atomic_bool sweep_failing;

void
rl_init(void)
{
    store_init();
    slots = xcalloc((size_t)N_SETS * WAYS, sizeof(*slots));
    for (int i = 0; i < N_STRIPES; i++) {
        pthread_mutex_init(&stripes[i], NULL);
    }
    /* A secret salt: nobody can craft keys that collide in the table on purpose. */
    if (cx_random_bytes(salt, sizeof(salt)) != 0) {
        abort();
    }
}

void
rl_shutdown(void)
{
    free(slots);
    slots = NULL;
    OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
    atomic_store(&have_key, false);
}

int
rl_set_signing_key(const struct cx_ed25519 *key)
{
    if (key == NULL || cx_ed25519_derive(key, KEY_LABEL, hmac_key) != 0) {
        log_err("ratelimit: no key for the shared buckets (the signing key is not loaded)");
        return -1;
    }
    atomic_store(&have_key, true);
    return 0;
}

void
rl_set_enabled(bool on)
{
    atomic_store(&enabled, on);
}

static uint64_t
key_hash(const char *limit, const char *key)
{
    unsigned char d[CX_SHA256_LEN];
    size_t ll = strlen(limit), kl = strlen(key);
    char *buf = xmalloc(sizeof(salt) + ll + 1 + kl);
    uint64_t h;

    memcpy(buf, salt, sizeof(salt));
    memcpy(buf + sizeof(salt), limit, ll);
    buf[sizeof(salt) + ll] = '\n';
    memcpy(buf + sizeof(salt) + ll + 1, key, kl);
    cx_sha256(buf, sizeof(salt) + ll + 1 + kl, d);
    free(buf);
    memcpy(&h, d, sizeof(h));
    return h ? h : 1;
}

/* The slot of h in its set (the caller holds its stripe), or NULL; when create, an
 * empty or the least recently used slot is given to h, full. */
static struct slot *
find_slot(uint64_t h, size_t set, const struct rl_limit *limit, long long now, bool create)
{
    struct slot *lru = NULL;

    for (int w = 0; w < WAYS; w++) {
        struct slot *c = &slots[set * WAYS + (size_t)w];

        if (c->key == h) {
            return c;
        }
        if (lru == NULL || c->key == 0 || (lru->key != 0 && c->last_ns < lru->last_ns)) {
            lru = c;
        }
    }
    if (!create) {
        return NULL;
    }
    lru->key = h;
    lru->tokens = (double)limit->burst;
    lru->last_ns = now;
    return lru;
}

/* The refill of s for the time since its last use. */
static void
refill(struct slot *s, const struct rl_limit *limit, long long now)
{
    s->tokens += (double)(now - s->last_ns) / 1e6 / (double)limit->interval_ms;
    if (s->tokens > (double)limit->burst) {
        s->tokens = (double)limit->burst;
    }
    s->last_ns = now;
}

bool
rl_take(const struct rl_limit *limit, const char *key, long *retry_after_ms)
{
    uint64_t h;
    size_t set;
    struct slot *s;
    long long now;
    bool ok;

    *retry_after_ms = 0;
    if (!atomic_load(&enabled) || slots == NULL || key == NULL || limit->burst <= 0) {
        return true;
    }
    h = key_hash(limit->name, key);
    set = (size_t)(h % N_SETS);
    now = util_now_ns();
    pthread_mutex_lock(&stripes[set % N_STRIPES]);
    s = find_slot(h, set, limit, now, true);
    refill(s, limit, now);
    ok = s->tokens >= 1.0;
    if (ok) {
        s->tokens -= 1.0;
    } else {
        *retry_after_ms = (long)((1.0 - s->tokens) * (double)limit->interval_ms) + 1;
    }
    pthread_mutex_unlock(&stripes[set % N_STRIPES]);
    return ok;
}

void
rl_refund(const struct rl_limit *limit, const char *key)
{
    uint64_t h;
    size_t set;
    struct slot *s;
    long long now;

    if (!atomic_load(&enabled) || slots == NULL || key == NULL || limit->burst <= 0) {
        return;
    }
    h = key_hash(limit->name, key);
    set = (size_t)(h % N_SETS);
    now = util_now_ns();
    pthread_mutex_lock(&stripes[set % N_STRIPES]);
    s = find_slot(h, set, limit, now, false);
    if (s != NULL) {
        refill(s, limit, now);
        s->tokens += 1.0;
        if (s->tokens > (double)limit->burst) {
            s->tokens = (double)limit->burst;
        }
    }
    pthread_mutex_unlock(&stripes[set % N_STRIPES]);
}

/* The hex HMAC of the limit's name and the key: what the table holds of a bucket. */
static void
shared_key(const char *limit, const char *key, char out[CX_TOKEN_HASH_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[CX_SHA256_LEN];
    char *named = xasprintf("%s\n%s", limit, key);

    cx_hmac_sha256(hmac_key, sizeof(hmac_key), named, strlen(named), d);
    OPENSSL_cleanse(named, strlen(named));
    free(named);
    for (size_t i = 0; i < sizeof(d); i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0xf];
    }
    out[CX_TOKEN_HASH_LEN] = '\0';
}

/* The start and the end of a shared take's outage, logged once each. */
static void
take_failed(const struct rl_limit *limit)
{
    if (!atomic_exchange(&take_failing, true)) {
        log_warn("ratelimit: the shared limits cannot be taken (database unavailable): mail and "
                 "account/register refused with 503, the search quotas kept by each instance "
                 "until it is back");
    } else {
        log_debug("ratelimit: %s: still unavailable", limit->name);
    }
}

static void
take_succeeded(void)
{
    if (atomic_load(&take_failing) && atomic_exchange(&take_failing, false)) {
        log_warn("ratelimit: the shared limits are taken in the database again");
    }
}

enum rl_result
rl_take_shared(struct db_conn *c,
               const struct rl_limit *limit,
               const char *key,
               enum rl_outage outage,
               long *retry_after_ms)
{
    char hash[CX_TOKEN_HASH_LEN + 1];
    bool granted = false;
    enum db_status st;
    long interval_ms = limit->interval_ms > 0 ? limit->interval_ms : 1;

    *retry_after_ms = 0;
    if (!atomic_load(&enabled) || key == NULL || limit->burst <= 0) {
        return RL_ALLOWED;
    }
    /* This instance's grants are a part of every instance's: refused here, refused there,
     * without a write. */
    if (!rl_take(limit, key, retry_after_ms)) {
        return RL_REFUSED;
    }
    if (!atomic_load(&have_key)) {
        log_bug("rl_take_shared: no key (rl_set_signing_key)");
        st = DB_HARD;
    } else {
        shared_key(limit->name, key, hash);
        st = store_rate_take(c, limit->name, hash, limit->burst, interval_ms, &granted,
                             retry_after_ms);
        if (st == DB_SOFT) {
            st = store_rate_take(c, limit->name, hash, limit->burst, interval_ms, &granted,
                                 retry_after_ms);
        }
    }
    if (st < 0) {
        take_failed(limit);
        if (outage == RL_OUTAGE_LOCAL) {
            return RL_ALLOWED; /* this instance's bucket, taken above, decided */
        }
        rl_refund(limit, key);
        return RL_UNAVAILABLE;
    }
    take_succeeded();
    if (!granted) {
        rl_refund(limit, key); /* only what the database granted is debited here */
        return RL_REFUSED;
    }
    return RL_ALLOWED;
}

int
rl_sweep_shared(struct db_conn *c, long *out_deleted)
{
    enum db_status st;

    *out_deleted = 0;
    do {
        st = store_rate_sweep(c, SWEEP_BATCH);
        if (st > 0) {
            *out_deleted += (long)st;
        }
    } while (st == SWEEP_BATCH);
    if (st < 0) {
        if (!atomic_exchange(&sweep_failing, true)) {
            log_warn("ratelimit: the full shared buckets cannot be deleted (retried every "
                     "minute)");
        }
        return -1;
    }
    if (atomic_exchange(&sweep_failing, false)) {
        log_info("ratelimit: the full shared buckets are deleted again");
    }
    return 0;
}
