/*
 * A background worker draining a durable queue table: its own PostgreSQL
 * connection, LISTEN on a channel (so other instances can wake it), an
 * in-process wake-up, and a sleep until the next row is due. The queue's
 * own step function claims and handles rows.
 */
#ifndef ANN_CORE_WORKER_H
#define ANN_CORE_WORKER_H

#include <libpq-fe.h>

#include "core/cfg.h"

struct worker_spec {
    const char *name;       /* for logs */
    const char *listen_sql; /* "LISTEN <channel>": the NOTIFY channel that wakes it */
    const char
        *next_due_sql; /* one row, one column: milliseconds until the next due row, or NULL */
    /* Instead of next_due_sql: milliseconds until the next due row, within [0, 30000]. */
    int (*next_due_ms)(void *arg);
    /* Claims and handles due rows. @return rows claimed (batch = claim again at once), -1 on a
     * database failure */
    int (*step)(PGconn *pg, void *arg);
    int batch;
    void *arg;
};

struct worker;

/** Starts the thread; spec and db are borrowed for its life. @return the worker or NULL (logged) */
struct worker *worker_start(const struct worker_spec *spec, const struct cfg_database *db);

/** Wakes it now (after a commit that queued work). Thread-safe; takes NULL. */
void worker_wake(struct worker *w);

/** Stops and frees it; rows still queued wait for the next start. Takes NULL. */
void worker_stop(struct worker *w);

#endif
