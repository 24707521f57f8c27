/*
 * A background worker draining a durable queue table: a thread with its own
 * PostgreSQL connection for the queue's statements, a standalone one that
 * LISTENs on a channel (so other instances can wake it), an in-process
 * wake-up, and a sleep until the next row is due. The queue's own step
 * function claims and handles rows.
 */
#ifndef ANN_CORE_WORKER_H
#define ANN_CORE_WORKER_H

#include "core/cfg.h"

struct worker_spec {
    const char *name; /* for logs */
    /* Registered statements (db_register) the worker runs by name: */
    const char *listen_stmt;   /* "LISTEN <channel>": the NOTIFY channel that wakes it */
    const char *next_due_stmt; /* see store_queue_next_due: its column due_ms */
    /* Claims and handles due rows, on the thread's own connection (db_thread_conn).
     * @return rows claimed (batch = claim again at once), -1 on a database failure */
    int (*step)(void *arg);
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
