/*
 * Rate limits: token buckets keyed by what is limited (an address, a user, a client
 * IP). A bucket holds `burst` tokens and gets one back every `interval_ms`. A limit is
 * kept either in each instance's memory (a budget per instance: N instances give a
 * client N times it) or, when shared, in PostgreSQL (annuaire.rate_buckets, one budget
 * for every instance on the database).
 */
#ifndef ANN_CORE_RATELIMIT_H
#define ANN_CORE_RATELIMIT_H

#include <stdbool.h>

#include "core/util.h"

struct cx_ed25519;
struct db_conn;

struct rl_limit {
    const char *name; /* distinguishes limits that share keys */
    long burst;
    long interval_ms;
};

/* What a shared limit does when the database cannot be reached. */
enum rl_outage {
    RL_OUTAGE_REFUSE, /* RL_UNAVAILABLE: mail and account/register, which need it anyway */
    RL_OUTAGE_LOCAL,  /* this instance's bucket alone decides: the search quotas, whose
                       * requests may need no database */
};

enum rl_result {
    RL_ALLOWED,
    RL_REFUSED,
    RL_UNAVAILABLE, /* a shared limit whose database did not answer: refused too */
};

/** Allocates the tables and registers the shared limits' statements; call once before
 *  serving (before the first database connection). */
void rl_init(void);
void rl_shutdown(void);

/**
 * Sets the key of the shared buckets' HMAC, derived from the signing key that every
 * instance on the database holds (SHA-256 of "annuaire rate-limit keys" and its seed).
 * Call once after rl_init, before serving. @return 0, or -1 (logged)
 */
int rl_set_signing_key(const struct cx_ed25519 *key) ANN_MUST_CHECK;

/** Turns every limit off (tests, benchmarks) or on. */
void rl_set_enabled(bool enabled);

/**
 * Takes one token for key under limit, in this instance's memory.
 * @param[out] retry_after_ms  when refused, how long until a token is back
 * @return true when allowed
 */
bool rl_take(const struct rl_limit *limit, const char *key, long *retry_after_ms);

/** Gives back a token rl_take took (its bucket may have been reused meanwhile: then
 *  nothing). */
void rl_refund(const struct rl_limit *limit, const char *key);

/**
 * Takes one token for key under a shared limit: first from this instance's bucket of
 * the same limit (this instance's grants are a part of all of them: when it is empty,
 * refused without asking the database), then on connection c (one statement,
 * autocommit, retried once after a serialization failure; outside any transaction of
 * the caller's), the local token given back unless the database granted it. What is
 * stored is an HMAC of the limit's name and the key (rl_set_signing_key), never the
 * key. The full buckets are deleted by rl_sweep_shared, not here.
 * @param outage  what the database's failure gives
 * @param[out] retry_after_ms  when refused, how long until a token is back
 * @return RL_ALLOWED (also when limits are off, key is NULL or burst is 0, and when the
 *         database failed under RL_OUTAGE_LOCAL after this instance's bucket allowed it),
 *         RL_REFUSED, or RL_UNAVAILABLE when the database failed (RL_OUTAGE_REFUSE)
 */
enum rl_result rl_take_shared(struct db_conn *c,
                              const struct rl_limit *limit,
                              const char *key,
                              enum rl_outage outage,
                              long *retry_after_ms) ANN_MUST_CHECK;

/**
 * Deletes the shared buckets that are full again, a batch at a time until a batch is
 * short, on connection c (serve's housekeeping thread, never a request).
 * @param[out] out_deleted  how many
 * @return 0, or -1 when the database failed (logged once until a sweep succeeds)
 */
int rl_sweep_shared(struct db_conn *c, long *out_deleted) ANN_MUST_CHECK;

#endif
