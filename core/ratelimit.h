/*
 * Rate limits: token buckets kept in memory, per instance, keyed by what is
 * limited (an address, a user, a client IP). A bucket holds `burst` tokens and
 * gets one back every `interval_ms`.
 */
#ifndef ANN_CORE_RATELIMIT_H
#define ANN_CORE_RATELIMIT_H

#include <stdbool.h>

struct rl_limit {
    const char *name; /* distinguishes limits that share keys */
    long burst;
    long interval_ms;
};

/** Allocates the tables; call once before serving. */
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

#endif
