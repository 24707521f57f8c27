/*
 * Rate limits. Per instance: in-memory token buckets, a fixed table of 4-way sets keyed by
 * a hash of the limit's name and the key, locked in stripes; a full set gives its least
 * recently used slot to a newcomer. Shared: one row of annuaire.rate_buckets per bucket,
 * taken by one statement of core/store.c.
 */
#include "core/ratelimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/store.h"
#include "core/util.h"

/* 4-way sets; a full set gives its least recently used slot to the newcomer. */
#define N_SETS    16384
#define WAYS      4
#define N_STRIPES 64

/* How often an instance deletes the shared buckets that are full again. */
#define SWEEP_EVERY_NS (60LL * 1000000000LL)

struct slot {
    uint64_t key; /* 0 = empty */
    double tokens;
    long long last_ns;
};

static struct slot *slots;
static pthread_mutex_t stripes[N_STRIPES];
static unsigned char salt[16];
static atomic_bool enabled = true;
static _Atomic long long last_sweep_ns;

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

bool
rl_take(const struct rl_limit *limit, const char *key, long *retry_after_ms)
{
    uint64_t h;
    size_t set;
    struct slot *s = NULL;
    struct slot *lru = NULL;
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
    for (int w = 0; w < WAYS; w++) {
        struct slot *c = &slots[set * WAYS + (size_t)w];

        if (c->key == h) {
            s = c;
            break;
        }
        if (lru == NULL || c->key == 0 || (lru->key != 0 && c->last_ns < lru->last_ns)) {
            lru = c;
        }
    }
    if (s == NULL) {
        s = lru;
        s->key = h;
        s->tokens = (double)limit->burst;
        s->last_ns = now;
    }
    s->tokens += (double)(now - s->last_ns) / 1e6 / (double)limit->interval_ms;
    if (s->tokens > (double)limit->burst) {
        s->tokens = (double)limit->burst;
    }
    s->last_ns = now;
    ok = s->tokens >= 1.0;
    if (ok) {
        s->tokens -= 1.0;
    } else {
        *retry_after_ms = (long)((1.0 - s->tokens) * (double)limit->interval_ms) + 1;
    }
    pthread_mutex_unlock(&stripes[set % N_STRIPES]);
    return ok;
}

/* Deletes the full shared buckets, when no thread of this instance did for a minute. */
static void
sweep_shared(struct db_conn *c)
{
    long long now = util_now_ns();
    long long last = atomic_load(&last_sweep_ns);
    enum db_status st;

    if (now - last < SWEEP_EVERY_NS ||
        !atomic_compare_exchange_strong(&last_sweep_ns, &last, now)) {
        return;
    }
    st = store_rate_sweep(c);
    if (st < 0) {
        log_warn("ratelimit: cannot delete the full buckets");
    } else if (st > 0) {
        log_debug("ratelimit: %d full buckets deleted", (int)st);
    }
}

enum rl_result
rl_take_shared(struct db_conn *c,
               const struct rl_limit *limit,
               const char *key,
               long *retry_after_ms)
{
    char hash[CX_TOKEN_HASH_LEN + 1];
    char *named;
    bool granted = false;
    enum db_status st;

    *retry_after_ms = 0;
    if (!atomic_load(&enabled) || key == NULL || limit->burst <= 0) {
        return RL_ALLOWED;
    }
    named = xasprintf("%s\n%s", limit->name, key);
    cx_token_hash(named, hash);
    free(named);
    st = store_rate_take(c, limit->name, hash, limit->burst,
                         limit->interval_ms > 0 ? limit->interval_ms : 1, &granted, retry_after_ms);
    if (st < 0) {
        log_warn("ratelimit: %s: the database did not answer: refused", limit->name);
        return RL_UNAVAILABLE;
    }
    sweep_shared(c);
    return granted ? RL_ALLOWED : RL_REFUSED;
}
