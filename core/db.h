/*
 * PostgreSQL access: one libpq connection per worker thread, connected on
 * first use and again after the server went away, named prepared statements
 * prepared on every (re)connect, a transaction runner that retries
 * serialization failures and deadlocks, and reads from a streaming replica.
 */
#ifndef ANN_CORE_DB_H
#define ANN_CORE_DB_H

#include <stdbool.h>
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

/**
 * This thread's connection for reads that may lag by up to database.replica_max_lag
 * seconds (lookups, hash_details, /info, directory search): with database.replica
 * set, a slot whose single statements (db_exec) run on the replica while it is
 * reachable, the primary's database, a standby and fresh, else on the primary; a
 * statement the replica fails (or does not answer within 2 s) runs again on the
 * primary, so the caller never sees the replica's failures. The side is chosen by the
 * request's first call and kept for all its reads (db_read_begin starts a request); a
 * failure on the replica moves the rest of the request to the primary. A transaction
 * (db_txn_run, db_begin) or db_conn_pg on it uses the primary, and so does db_exec while
 * this thread's primary connection is in a transaction: nothing read inside a write, and
 * no write, ever goes to the replica. Without a replica, the same as db_thread_conn.
 * Measures the replica at most once a second (one caller at a time; the others do not
 * wait). Never NULL.
 */
struct db_conn *db_thread_read_conn(void);

/** Starts a request on this thread: its first db_thread_read_conn chooses the side again. */
void db_read_begin(void);

/**
 * Moves the rest of this thread's request to the primary (the replica answered, but
 * without what the primary has: no pepper yet) and returns the read slot. Never NULL.
 */
struct db_conn *db_read_from_primary(void);

/** Closes this thread's connections (primary and replica), if any. */
void db_thread_close(void);

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

/**
 * As db_txn_run, at READ COMMITTED: for a transaction whose contended writes are each
 * one atomic statement (a counter taken by INSERT ... ON CONFLICT DO UPDATE ... WHERE
 * used < limit), which SERIALIZABLE would fail under concurrency instead of queueing.
 * Deadlocks are still retried.
 */
enum db_status db_txn_run_committed(struct db_conn *c,
                                    const char *name,
                                    db_txn_fn fn,
                                    const void *in,
                                    void *out) ANN_MUST_CHECK;

/** SELECT 1 on this connection. @return 1 when the database answers, < 0 otherwise */
enum db_status db_ping(struct db_conn *c) ANN_MUST_CHECK;

/* ---- Standalone connections, commands and helpers of the store files ---- */

/**
 * Opens a connection of its own for a command (migrate, sync, pepper, the schema
 * check of serve) or a listening thread: statement_timeout off, and each
 * registered statement prepared on it the first time db_exec runs it, so a
 * command can use its module's named statements before the other modules'
 * tables exist. Reconnects like a thread's connection, outside a transaction.
 * @param[out] err  a message on failure
 * @return the connection (db_conn_close), or NULL
 */
struct db_conn *db_conn_open(const struct cfg_database *conf, char *err, size_t err_size);

/** Closes a connection of db_conn_open. NULL is a no-op. */
void db_conn_close(struct db_conn *c);

/** The primary message of the connection's last failure ("" when none). */
const char *db_conn_error(const struct db_conn *c);

/**
 * A plain (READ COMMITTED) transaction for a command's long run, without
 * retries: db_begin, statements, db_commit, or db_rollback after a failure.
 * @return DB_NO_ROWS, or DB_HARD / DB_SOFT (db_conn_error says why)
 */
enum db_status db_begin(struct db_conn *c) ANN_MUST_CHECK;
enum db_status db_commit(struct db_conn *c) ANN_MUST_CHECK;
void db_rollback(struct db_conn *c);

/**
 * The libpq connection, connected, for what named statements cannot do (COPY
 * FROM STDIN). Store files only. @return NULL when the database is unreachable
 */
PGconn *db_conn_pg(struct db_conn *c);

/**
 * The socket to poll for notifications (after LISTEN): the current connection's,
 * never a new one (it would not be listening). @return -1 when there is none
 */
int db_conn_fd(struct db_conn *c);

/**
 * Reads what arrived on the socket and discards the notifications.
 * @return how many there were, or -1 when the connection is lost (it is dropped:
 *         the next db_exec reconnects and the caller LISTENs again)
 */
int db_conn_drain_notifies(struct db_conn *c);

/**
 * Column numbers of a result by name, looked up once per result so that a column
 * added to a SELECT cannot shift the others. @return 0, or -1 (logged) when res
 * lacks one: the caller answers DB_HARD
 */
int db_columns(const PGresult *res, const char *stmt, const char *const *names, int *cols, size_t n)
    ANN_MUST_CHECK;

/**
 * db_exec, then db_columns on its result (cols: n, in the order of names).
 * @return db_exec's status; DB_HARD, *res cleared to NULL, when a column is missing
 */
enum db_status db_exec_columns(struct db_conn *c,
                               const char *stmt,
                               int n_params,
                               const char *const *params,
                               const char *const *names,
                               int *cols,
                               size_t n,
                               PGresult **res) ANN_MUST_CHECK;

/**
 * The text[] literal of n items for a $n::text[] parameter: each item quoted,
 * '"' and '\\' escaped, NULL items as NULL. Linear in the total length.
 * @return a string the caller frees
 */
char *db_text_array(const char *const *items, size_t n);

/* ---- Scripts of several statements (the migration files) ---- */

/**
 * Runs a script of several statements, fixed text compiled into the binary (a
 * migration file), in one round trip without parameters: never text from outside.
 * Inside db_begin/db_commit, each script is all or nothing.
 * @return DB_NO_ROWS, or DB_HARD (db_conn_error says why)
 */
enum db_status db_exec_script(struct db_conn *c, const char *sql) ANN_MUST_CHECK;

/* ---- Reading results, in the store files ---- */

/** A copy of the text value at row, col of res, owned by the caller; NULL when it is SQL
 *  NULL. */
char *db_value_dup(const PGresult *res, int row, int col);

/** The text at row, col of res, borrowed from it; NULL when it is SQL NULL. */
const char *db_value(const PGresult *res, int row, int col);

/** The integer at row, col of res; 0 when it is SQL NULL. */
long long db_value_count(const PGresult *res, int row, int col);

/** Whether the boolean at row, col of res is true. */
bool db_value_bool(const PGresult *res, int row, int col);

#endif
