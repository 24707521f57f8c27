/*
 * The service's counters, shown by GET /metrics (core/ops.h): requests by route
 * and status with a latency histogram, database errors, mail deliveries, and
 * the samples other modules' collectors add.
 */
#ifndef ANN_CORE_METRICS_H
#define ANN_CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/router.h"

enum metrics_db {
    METRICS_DB_CONNECT, /* could not connect, or the connection was lost */
    METRICS_DB_QUERY,   /* a statement failed */
    METRICS_DB_RETRY,   /* a transaction was retried after a conflict */
    METRICS_DB__COUNT
};

/* The read replica (database.replica) as last checked, for the state gauge. */
enum metrics_replica {
    METRICS_REPLICA_NONE,        /* not configured */
    METRICS_REPLICA_UNKNOWN,     /* configured, not checked yet */
    METRICS_REPLICA_FRESH,       /* read from */
    METRICS_REPLICA_STALE,       /* lag at or past replica_max_lag, or unknown */
    METRICS_REPLICA_DOWN,        /* unreachable, or failing */
    METRICS_REPLICA_NOT_STANDBY, /* its server is not in recovery: never read from */
    METRICS_REPLICA__COUNT
};

/** Sizes the per-route counters; call once before serving. rt is borrowed. */
void metrics_init(const struct router *rt);
void metrics_shutdown(void);

/** Counts one finished request (route_index SIZE_MAX = no route). Thread-safe. */
void metrics_observe_request(size_t route_index, unsigned status, long long duration_ns);

/** Counts one database error. Thread-safe. */
void metrics_db_error(enum metrics_db kind);

/** Counts one read that may lag (db_thread_read_conn), by the server that answered. */
void metrics_db_read(bool from_replica);

/** Counts one statement the replica failed, answered by the primary instead. */
void metrics_replica_fallback(void);

/** The replica's state and lag in ms (-1: unknown), as last checked. Thread-safe. */
void metrics_replica_state(int state, long long lag_ms);

/** Counts one mail delivery attempt. Thread-safe. */
void metrics_mail(bool delivered);

struct util_buf;
struct db_conn;

/** Adds more samples to /metrics, from the database (on the scraping worker's connection). */
typedef void (*metrics_collector_fn)(struct util_buf *out, struct db_conn *db);

/** Registers a collector; call before serving (at most 8). */
void metrics_add_collector(metrics_collector_fn fn);

/**
 * Appends every counter in the Prometheus text format, then what each collector
 * adds, to out.
 * @param db  handed to the collectors (the scraping worker's connection)
 */
void metrics_write(struct util_buf *out, struct db_conn *db);

#endif
