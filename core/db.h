/*
 * PostgreSQL access: one libpq connection per worker thread, connected on
 * first use and again after the server went away, named prepared statements
 * prepared on every (re)connect, and a transaction runner that retries
 * serialization failures and deadlocks.
 */
#ifndef ANN_CORE_DB_H
#define ANN_CORE_DB_H

#include <stddef.h>

#include <libpq-fe.h>

#include "core/cfg.h"
#include "core/util.h"

/* Results: < 0 is a failure, >= 0 a row count. */
enum db_status {
    DB_HARD = -2,   /* connection lost or a real error: give up */
    DB_SOFT = -1,   /* serialization failure or deadlock: retry the transaction */
    DB_NO_ROWS = 0, /* also a unique violation (23505): the caller decides */
};

struct db_stmt {
    const char *name; /* the module function that owns it */
    const char *sql;
};

struct db_conn;

/**
 * Copies the connection settings. Call once before any connection is made.
 */
void db_configure(const struct cfg_database *conf);

/**
 * Adds statements prepared on every connection. Call at start-up, before the
 * first connection; stmts is borrowed and must stay valid.
 */
void db_register(const struct db_stmt *stmts, size_t n);

/** This thread's connection slot (never NULL; connects lazily). */
struct db_conn *db_thread_conn(void);

/** Closes this thread's connection, if any. */
void db_thread_close(void);

/**
 * Opens a standalone connection (for migrate and start-up checks).
 * @param[out] err  a message on failure
 * @return a connection owned by the caller (PQfinish), or NULL
 */
PGconn *db_connect_plain(const struct cfg_database *conf, char *err, size_t err_size);

/**
 * Runs one parameterised statement on a standalone connection (commands, not the
 * serving path): fixed SQL, values only as parameters.
 *
 * @param[out] out  the result when wanted (caller PQclear), else NULL
 * @param[out] err  on failure, the server's message
 * @return 0, or -1
 */
int db_plain_exec(PGconn *pg,
                  const char *sql,
                  int n_params,
                  const char *const *params,
                  PGresult **out,
                  char *err,
                  size_t err_size) ANN_MUST_CHECK;

/**
 * Executes a registered statement. Outside db_txn_run, a statement that finds
 * the connection lost is sent once more on a new connection: use it alone for
 * reads only, and db_txn_run for writes.
 *
 * @param stmt      statement name
 * @param params    n_params text parameters (NULL = SQL NULL)
 * @param[out] out  the result when >= 0 (caller PQclear), NULL otherwise; may be NULL
 * @return rows returned or affected, DB_NO_ROWS on a unique violation, DB_SOFT, DB_HARD
 */
enum db_status db_exec(struct db_conn *c,
                       const char *stmt,
                       int n_params,
                       const char *const *params,
                       PGresult **out) ANN_MUST_CHECK;

typedef enum db_status (*db_txn_fn)(struct db_conn *c, const void *in, void *out);

/**
 * Runs fn inside a SERIALIZABLE transaction, retrying it up to 5 times on a
 * serialization failure or deadlock, and once when the connection turns out
 * to be dead before anything was sent. fn never sees HTTP.
 *
 * @param name  for logs
 * @return fn's status after COMMIT, or DB_HARD / DB_SOFT when retries ran out
 */
enum db_status db_txn_run(struct db_conn *c,
                          const char *name,
                          db_txn_fn fn,
                          const void *in,
                          void *out) ANN_MUST_CHECK;

/** SELECT 1 on this connection. @return 1 when the database answers, < 0 otherwise */
enum db_status db_ping(struct db_conn *c) ANN_MUST_CHECK;

#endif
