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

struct db_conn;

struct rl_limit {
    const char *name; /* distinguishes limits that share keys */
    long burst;
    long interval_ms;
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

/** Turns every limit off (tests, benchmarks) or on. */
void rl_set_enabled(bool enabled);

/**
 * Takes one token for key under limit.
 * @param[out] retry_after_ms  when refused, how long until a token is back
 * @return true when allowed
 */
bool rl_take(const struct rl_limit *limit, const char *key, long *retry_after_ms);

/**
 * Takes one token for key under a shared limit, on connection c (one statement,
 * autocommit; outside any transaction of the caller's). What is stored is a SHA-256
 * of the limit's name and the key, never the key. About once a minute per instance,
 * the same call deletes the buckets that are full again.
 * @param[out] retry_after_ms  when refused, how long until a token is back
 * @return RL_ALLOWED (also when limits are off, key is NULL or burst is 0),
 *         RL_REFUSED, or RL_UNAVAILABLE when the database failed
 */
enum rl_result rl_take_shared(struct db_conn *c,
                              const struct rl_limit *limit,
                              const char *key,
                              long *retry_after_ms) ANN_MUST_CHECK;

#endif
