/*
 * Inside core/db.c and core/db_replica.c only: the connection slot, and what each file
 * gives the other (dbi_: the connections, in db.c; dbr_: the read replica, in
 * db_replica.c). Nothing else includes it.
 */
#ifndef ANN_CORE_DB_INTERNAL_H
#define ANN_CORE_DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "core/db.h"

struct settings {
    char *conninfo;
    char *password;
    char connect_timeout[16];
    char options[64];
};

struct db_conn {
    PGconn *pg;
    bool in_txn;
    /* A thread's connection to the replica (db_thread_read_conn): its statements are
     * prepared on first use (only reads ever run there), a failed one runs again on
     * the thread's primary connection, and a transaction never starts there. */
    bool replica;
    bool not_standby; /* the replica connection reached a server not in recovery */
    bool timed_out;   /* the replica did not answer in time: dropped */
    /* A replica slot whose connection failed: the primary answers this thread's reads
     * until then (the checker alone sets the state every thread follows). */
    long long retry_at_ns;
    /* Standalone connections (db_conn_open) own their settings and prepare a
     * statement the first time it runs; the server's per-thread connections use
     * the global settings and prepare every statement at connect. */
    struct settings *own;
    unsigned char *prepared; /* by registry index, standalone and replica only */
    size_t n_prepared;
    char error[1024]; /* the last failure's message */
};

/* ---- core/db.c ---- */

/** Frees what s holds (the password cleansed); s stays usable. */
void dbi_settings_clear(struct settings *s);

/** This thread's replica slot, made on first use. Never NULL. */
struct db_conn *dbi_thread_replica(void);

/** Closes c's connection (NULL-safe), forgetting what was prepared on it. */
void dbi_drop(struct db_conn *c);

/** The message of res, else of the connection, into c->error; kept when both are gone. */
void dbi_note_error(struct db_conn *c, PGresult *res);

/** db_exec on c itself, whichever server it is connected to. */
enum db_status dbi_exec_here(struct db_conn *c,
                             const char *stmt,
                             int n_params,
                             const char *const *params,
                             PGresult **out) ANN_MUST_CHECK;

/* ---- core/db_replica.c ---- */

/** Takes the replica's settings from conf (primary: the primary's, made just before). */
void dbr_configure(const struct cfg_database *conf, const struct settings *primary);

/** The replica's connection settings. */
const struct settings *dbr_settings(void);

/**
 * The result of what was just sent on replica connection c (sent: whether sending
 * worked), waited for until the replica's deadline; past it, c is dropped and
 * c->timed_out set. @return the last result (caller PQclear), or NULL (c->error)
 */
PGresult *dbr_result(struct db_conn *c, bool sent);

/**
 * A replica connection just made: kept only when it reached the primary's database.
 * @return 0, or -1 (c dropped, c->error; c->not_standby when it is another database)
 */
int dbr_check_identity(struct db_conn *c);

/** db_exec through a replica slot. */
enum db_status dbr_exec(struct db_conn *c,
                        const char *stmt,
                        int n_params,
                        const char *const *params,
                        PGresult **out) ANN_MUST_CHECK;

#endif
