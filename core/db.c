/*
 * PostgreSQL access for the whole service: the per-thread connections of the
 * server, standalone connections for commands (migrate, sync, pepper), the
 * registry of named statements and the transaction runner; the read replica is in
 * core/db_replica.c. The only files, with the store files, that see libpq.
 */
#include "core/db.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/db_internal.h"
#include "core/log.h"
#include "core/metrics.h"

#define MAX_STMT_TABLES 32
#define TXN_MAX_TRIES   5

static struct settings settings;
static const struct db_stmt *stmt_tables[MAX_STMT_TABLES];
static size_t stmt_sizes[MAX_STMT_TABLES];
static size_t n_stmt_tables;
static pthread_key_t conn_key;
static pthread_key_t replica_key;
static pthread_once_t conn_key_once = PTHREAD_ONCE_INIT;

/* When the database became unreachable (util_now_ns), 0 while it is reachable: an
 * outage is logged once when it starts and once when it ends, whatever the number of
 * threads and requests that meet it. */
static _Atomic long long outage_since_ns;
static atomic_long outage_refused;

static void
outage_begin(const char *why)
{
    long long zero = 0;
    long long now = util_now_ns();

    atomic_fetch_add(&outage_refused, 1);
    if (atomic_compare_exchange_strong(&outage_since_ns, &zero, now ? now : 1)) {
        log_warn("db: unavailable: %s (requests get 503 until it is back)", why);
    } else {
        log_debug("db: still unavailable: %s", why);
    }
}

static void
outage_end(void)
{
    long long since = atomic_exchange(&outage_since_ns, 0);

    if (since != 0) {
        log_warn("db: available again after %.1fs (%ld failed attempts meanwhile)",
                 (double)(util_now_ns() - since) / 1e9, atomic_exchange(&outage_refused, 0));
    }
}

static const struct db_stmt core_stmts[] = {
    { "db_ping", "SELECT 1" },
    /* The replica's freshness (replica_check): the primary's WAL position, then the
     * replica's replay position. */
    { "db_wal_position", "SELECT pg_current_wal_insert_lsn()::text AS lsn,"
                         " current_setting('wal_block_size') AS page" },
    { "db_replay_position", "SELECT pg_is_in_recovery() AS in_recovery,"
                            " pg_last_wal_replay_lsn()::text AS lsn" },
    /* Which database a connection reached: the cluster (its system identifier, kept by
     * every standby made from it) and the database's name. PUBLIC may run it. */
    { "db_identity", "SELECT system_identifier::text AS system_id,"
                     " current_database() AS db"
                     " FROM pg_control_system()" },
};

/* core_stmts come first in the registry, whoever registers or connects first. */
static void
register_core(void)
{
    if (n_stmt_tables == 0) {
        stmt_tables[0] = core_stmts;
        stmt_sizes[0] = ANN_ARRAY_LEN(core_stmts);
        n_stmt_tables = 1;
    }
}

static void
conn_destroy(void *p)
{
    struct db_conn *c = p;

    if (c != NULL) {
        PQfinish(c->pg);
        free(c->prepared);
        free(c);
    }
}

static void
make_key(void)
{
    if (pthread_key_create(&conn_key, conn_destroy) != 0 ||
        pthread_key_create(&replica_key, conn_destroy) != 0) {
        abort();
    }
}

void
dbi_settings_clear(struct settings *s)
{
    free(s->conninfo);
    s->conninfo = NULL;
    if (s->password != NULL) {
        OPENSSL_cleanse(s->password, strlen(s->password));
        free(s->password);
        s->password = NULL;
    }
}

void
db_configure(const struct cfg_database *conf)
{
    dbi_settings_clear(&settings);
    settings.conninfo = xstrdup(conf->conninfo);
    settings.password = conf->password ? xstrdup(conf->password) : NULL;
    snprintf(settings.connect_timeout, sizeof(settings.connect_timeout), "%ld",
             conf->connect_timeout);
    /* JIT off: every statement here is short, and compiling one cost up to half a
     * second whenever the planner's estimate crossed jit_above_cost (measured: the
     * directory search's output join on 2.5 M entries, 0.5 s of JIT for 0.03 s of work). */
    snprintf(settings.options, sizeof(settings.options), "-c statement_timeout=%ld -c jit=off",
             conf->statement_timeout_ms);
    dbr_configure(conf, &settings);
    register_core();
}

void
db_register(const struct db_stmt *stmts, size_t n)
{
    register_core();
    if (n_stmt_tables == MAX_STMT_TABLES) {
        abort(); /* raise MAX_STMT_TABLES */
    }
    stmt_tables[n_stmt_tables] = stmts;
    stmt_sizes[n_stmt_tables] = n;
    n_stmt_tables++;
}

/* tcp: for the replica, TCP keepalives and a bound on unacknowledged data, before the
 * connection string (which may set its own); without effect on a unix socket. */
static PGconn *
connect_with(const char *conninfo,
             const char *password,
             const char *timeout,
             const char *options,
             bool tcp)
{
    const char *kw[] = { "keepalives",
                         "keepalives_idle",
                         "keepalives_interval",
                         "keepalives_count",
                         "tcp_user_timeout",
                         "dbname",
                         "password",
                         "connect_timeout",
                         "options",
                         "application_name",
                         NULL };
    const char *val[] = { "1",      "5",     "2",     "3",        "10000", conninfo,
                          password, timeout, options, "annuaire", NULL };
    size_t first = tcp ? 0 : 5;

    if (password == NULL) { /* libpq stops at the first NULL keyword value: drop the pair */
        kw[6] = "application_name";
        val[6] = "annuaire";
        kw[9] = NULL;
        val[9] = NULL;
    }
    return PQconnectdbParams(kw + first, val + first, 1);
}

struct db_conn *
db_thread_conn(void)
{
    struct db_conn *c;

    pthread_once(&conn_key_once, make_key);
    c = pthread_getspecific(conn_key);
    if (c == NULL) {
        c = xcalloc(1, sizeof(*c));
        if (pthread_setspecific(conn_key, c) != 0) {
            abort();
        }
    }
    return c;
}

/* This thread's replica slot (replica_key), made on first use. */
struct db_conn *
dbi_thread_replica(void)
{
    struct db_conn *c;

    pthread_once(&conn_key_once, make_key);
    c = pthread_getspecific(replica_key);
    if (c == NULL) {
        c = xcalloc(1, sizeof(*c));
        c->replica = true;
        if (pthread_setspecific(replica_key, c) != 0) {
            abort();
        }
    }
    return c;
}

void
db_thread_close(void)
{
    pthread_once(&conn_key_once, make_key);
    for (int i = 0; i < 2; i++) {
        pthread_key_t key = i == 0 ? conn_key : replica_key;
        struct db_conn *c = pthread_getspecific(key);

        if (c != NULL) {
            pthread_setspecific(key, NULL);
            conn_destroy(c);
        }
    }
}

void
dbi_drop(struct db_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    if (c->prepared != NULL) {
        memset(c->prepared, 0, c->n_prepared);
    }
}

void
dbi_note_error(struct db_conn *c, PGresult *res)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (res == NULL && c->pg == NULL) {
        return; /* dropped (dbr_result): its message stays */
    }

    snprintf(c->error, sizeof(c->error), "%s", msg ? msg : c->pg ? PQerrorMessage(c->pg) : "");
    c->error[strcspn(c->error, "\n")] = '\0';
}

/* PQprepare, PQexecPrepared; on a replica connection, within the deadline. */
static PGresult *
run_prepare(struct db_conn *c, const char *name, const char *sql)
{
    if (!c->replica) {
        return PQprepare(c->pg, name, sql, 0, NULL);
    }
    return dbr_result(c, PQsendPrepare(c->pg, name, sql, 0, NULL) == 1);
}

static PGresult *
run_prepared(struct db_conn *c, const char *stmt, int n_params, const char *const *params)
{
    if (!c->replica) {
        return PQexecPrepared(c->pg, stmt, n_params, params, NULL, NULL, 0);
    }
    return dbr_result(c, PQsendQueryPrepared(c->pg, stmt, n_params, params, NULL, NULL, 0) == 1);
}

/* Prepares stmt on a standalone or replica connection the first time it is used there. */
static int
prepare_once(struct db_conn *c, const char *stmt)
{
    size_t idx = 0;

    for (size_t t = 0; t < n_stmt_tables; t++) {
        for (size_t i = 0; i < stmt_sizes[t]; i++, idx++) {
            const struct db_stmt *s = &stmt_tables[t][i];
            PGresult *res;
            bool ok;

            if (strcmp(s->name, stmt) != 0) {
                continue;
            }
            if (idx >= c->n_prepared) {
                c->prepared = xrealloc(c->prepared, idx + 32);
                memset(c->prepared + c->n_prepared, 0, idx + 32 - c->n_prepared);
                c->n_prepared = idx + 32;
            }
            if (c->prepared[idx]) {
                return 0;
            }
            res = run_prepare(c, s->name, s->sql);
            ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            if (!ok && c->replica) {
                dbi_note_error(c, res); /* the primary answers instead */
                log_debug("db: cannot prepare %s on the replica: %s", s->name, c->error);
            } else if (!ok) {
                dbi_note_error(c, res);
                log_err("db: cannot prepare %s: %s", s->name, c->error);
            }
            PQclear(res);
            if (c->pg == NULL) {
                return -1; /* dropped (dbr_result): prepared[] was cleared */
            }
            c->prepared[idx] = ok;
            return ok ? 0 : -1;
        }
    }
    snprintf(c->error, sizeof(c->error), "no statement named %s", stmt);
    log_err("db: %s", c->error);
    return -1;
}

/*
 * An idle connection has nothing to read unless the server is talking to us,
 * which for these connections (no LISTEN) means it is going away: a restart
 * sends a FATAL message then closes. Either way, start afresh.
 */
static bool
looks_alive(struct db_conn *c)
{
    struct pollfd p = { .fd = PQsocket(c->pg), .events = POLLIN };

    return PQstatus(c->pg) == CONNECTION_OK && p.fd >= 0 && poll(&p, 1, 0) == 0;
}

static int
prepare_all(struct db_conn *c)
{
    for (size_t t = 0; t < n_stmt_tables; t++) {
        for (size_t i = 0; i < stmt_sizes[t]; i++) {
            const struct db_stmt *s = &stmt_tables[t][i];
            PGresult *res = PQprepare(c->pg, s->name, s->sql, 0, NULL);
            bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

            if (!ok) {
                log_err("db: cannot prepare %s: %s", s->name,
                        PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                            ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                            : PQerrorMessage(c->pg));
            }
            PQclear(res);
            if (!ok) {
                return -1;
            }
        }
    }
    return 0;
}

static int
ensure_connected(struct db_conn *c)
{
    const char *standby;

    if (c->pg != NULL && looks_alive(c)) {
        return 0;
    }
    if (c->pg != NULL) {
        /* an outage is logged if that fails */
        log_info("db: %sconnection lost, reconnecting", c->replica ? "replica " : "");
        dbi_drop(c);
    }
    const struct settings *set = c->own != NULL ? c->own : c->replica ? dbr_settings() : &settings;

    c->not_standby = false;
    c->timed_out = false;
    c->pg =
        connect_with(set->conninfo, set->password, set->connect_timeout, set->options, c->replica);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        snprintf(c->error, sizeof(c->error), "cannot connect to the %s: %s",
                 c->replica ? "replica" : "database",
                 c->pg ? PQerrorMessage(c->pg) : "out of memory");
        if (c->own == NULL) {
            c->error[strcspn(c->error, "\n")] = '\0'; /* one log line */
        } else {
            size_t len = strlen(c->error); /* a command prints libpq's whole message */

            while (len > 0 && (c->error[len - 1] == '\n' || c->error[len - 1] == ' ')) {
                c->error[--len] = '\0';
            }
        }
        if (c->replica) {
            dbi_drop(c); /* the replica's state says it, once (replica_set_state) */
            return -1;
        }
        metrics_db_error(METRICS_DB_CONNECT);
        if (c->own == NULL) {
            outage_begin(c->error);
        }
        dbi_drop(c);
        return -1;
    }
    if (c->replica) {
        /* Reported by the server at connect (PostgreSQL 14 and later): a server out of
         * recovery is not the replica, whatever the connection string says. */
        standby = PQparameterStatus(c->pg, "in_hot_standby");
        if (standby == NULL || strcmp(standby, "on") != 0) {
            snprintf(c->error, sizeof(c->error), "the replica's server is not a standby (%s)",
                     standby == NULL ? "in_hot_standby not reported" : "not in recovery");
            c->not_standby = true;
            dbi_drop(c);
            return -1;
        }
        /* Every statement is sent, then waited for until a deadline (dbr_result). */
        if (PQsetnonblocking(c->pg, 1) != 0) {
            dbi_note_error(c, NULL);
            dbi_drop(c);
            return -1;
        }
        return dbr_check_identity(c);
    }
    if (c->own != NULL || c->replica) {
        return 0; /* statements are prepared on first use */
    }
    if (prepare_all(c) != 0) {
        metrics_db_error(METRICS_DB_QUERY);
        dbi_drop(c);
        return -1;
    }
    outage_end();
    return 0;
}

/* Maps a failed result to a status and logs what needs logging. */
static enum db_status
classify(struct db_conn *c, PGresult *res, const char *what)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    dbi_note_error(c, res);
    if (c->replica) {
        /* The primary answers instead (dbr_exec): a recovery conflict (40001), a
         * statement the standby refuses, the connection gone. */
        log_debug("db: %s on the replica failed: %s %s", what, state ? state : "-",
                  msg ? msg : "-");
        if (PQstatus(c->pg) != CONNECTION_OK) {
            dbi_drop(c);
        }
        return DB_HARD;
    }
    if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
        return DB_SOFT;
    }
    if (state != NULL && strcmp(state, "23505") == 0) {
        return DB_NO_ROWS;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        metrics_db_error(METRICS_DB_CONNECT);
        log_info("db: %s: connection lost", what);
        dbi_drop(c);
        return DB_HARD;
    }
    metrics_db_error(METRICS_DB_QUERY);
    /* Primary message only: the detail may quote row values. */
    log_err("db: %s failed: %s %s", what, state ? state : "-", msg ? msg : "-");
    return DB_HARD;
}

/* db_exec on c itself, whichever server it is connected to. */
enum db_status
dbi_exec_here(struct db_conn *c,
              const char *stmt,
              int n_params,
              const char *const *params,
              PGresult **out)
{
    bool lazy = c->own != NULL || c->replica;
    PGresult *res;
    enum db_status st;

    if (out != NULL) {
        *out = NULL;
    }
    if (c->in_txn ? c->pg == NULL : ensure_connected(c) != 0) {
        return DB_HARD; /* never reconnect in the middle of a transaction */
    }
    if (lazy && prepare_once(c, stmt) != 0) {
        return DB_HARD;
    }
    res = run_prepared(c, stmt, n_params, params);
    if (!c->in_txn && !c->replica && PQstatus(c->pg) != CONNECTION_OK) {
        /* Lost between the liveness check and the statement: once more, on a new connection
         * (not on the replica: the primary answers instead). */
        PQclear(res);
        dbi_drop(c);
        if (ensure_connected(c) != 0 || (lazy && prepare_once(c, stmt) != 0)) {
            return DB_HARD;
        }
        res = PQexecPrepared(c->pg, stmt, n_params, params, NULL, NULL, 0);
    }
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
        st = PQntuples(res) > 0 ? (enum db_status)PQntuples(res) : DB_NO_ROWS;
        break;
    case PGRES_COMMAND_OK:
        st = (enum db_status)atoi(PQcmdTuples(res));
        break;
    default:
        st = classify(c, res, stmt);
        PQclear(res);
        return st;
    }
    if (out != NULL) {
        *out = res;
    } else {
        PQclear(res);
    }
    return st;
}

enum db_status
db_exec(struct db_conn *c,
        const char *stmt,
        int n_params,
        const char *const *params,
        PGresult **out)
{
    return c->replica ? dbr_exec(c, stmt, n_params, params, out)
                      : dbi_exec_here(c, stmt, n_params, params, out);
}

/* What writes and transactions run on: never the replica. */
static struct db_conn *
writable(struct db_conn *c)
{
    return c->replica ? db_thread_conn() : c;
}

/* Runs a fixed command (BEGIN, COMMIT, ROLLBACK). rolled_back, when given, says whether
 * the server answered COMMIT with ROLLBACK: a statement had failed, nothing was kept. */
static enum db_status
exec_fixed(struct db_conn *c, const char *sql, bool *rolled_back)
{
    PGresult *res = PQexec(c->pg, sql);
    enum db_status st = DB_NO_ROWS;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        st = classify(c, res, sql);
        if (st == DB_NO_ROWS) {
            st = DB_HARD; /* a deferred unique violation at COMMIT is a failure */
        }
    } else if (rolled_back != NULL) {
        *rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    }
    PQclear(res);
    return st;
}

static void
backoff(int attempt)
{
    unsigned char r = (unsigned char)(rand() & 0xff); /* jitter only, not a secret */
    struct timespec ts;

    ts.tv_sec = 0;
    ts.tv_nsec = (long)(attempt + 1) * 1000000L + (long)r * 10000L;
    nanosleep(&ts, NULL);
}

/* db_txn_run and db_txn_run_committed: the transaction begun by begin, retried. */
static enum db_status
txn_run(struct db_conn *c,
        const char *name,
        const char *begin,
        db_txn_fn fn,
        const void *in,
        void *out)
{
    bool reconnected = false;

    c = writable(c);
    for (int attempt = 0; attempt < TXN_MAX_TRIES; attempt++) {
        enum db_status st;

        if (ensure_connected(c) != 0) {
            return DB_HARD;
        }
        st = exec_fixed(c, begin, NULL);
        if (st == DB_HARD && c->pg == NULL && !reconnected) {
            reconnected = true; /* died while idle: nothing was sent, try once more */
            attempt--;
            continue;
        }
        if (st < 0) {
            return DB_HARD;
        }
        c->in_txn = true;
        st = fn(c, in, out);
        c->in_txn = false;
        if (st >= 0) {
            enum db_status cst = exec_fixed(c, "COMMIT", NULL);

            if (cst == DB_NO_ROWS) {
                return st;
            }
            st = cst;
        } else if (c->pg != NULL) {
            (void)exec_fixed(c, "ROLLBACK", NULL);
        }
        if (st != DB_SOFT) {
            log_debug("db: transaction %s failed", name);
            return DB_HARD;
        }
        metrics_db_error(METRICS_DB_RETRY);
        log_debug("db: transaction %s conflicted, retrying", name);
        backoff(attempt);
    }
    log_warn("db: transaction %s gave up after %d conflicts", name, TXN_MAX_TRIES);
    return DB_SOFT;
}

enum db_status
db_txn_run(struct db_conn *c, const char *name, db_txn_fn fn, const void *in, void *out)
{
    return txn_run(c, name, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", fn, in, out);
}

enum db_status
db_txn_run_committed(struct db_conn *c, const char *name, db_txn_fn fn, const void *in, void *out)
{
    return txn_run(c, name, "START TRANSACTION ISOLATION LEVEL READ COMMITTED", fn, in, out);
}

enum db_status
db_ping(struct db_conn *c)
{
    return db_exec(c, "db_ping", 0, NULL, NULL);
}

/* ---- Standalone connections, commands and helpers of the store files ---- */

struct db_conn *
db_conn_open(const struct cfg_database *conf, char *err, size_t err_size)
{
    struct db_conn *c = xcalloc(1, sizeof(*c));

    c->own = xcalloc(1, sizeof(*c->own));
    c->own->conninfo = xstrdup(conf->conninfo);
    c->own->password = conf->password ? xstrdup(conf->password) : NULL;
    snprintf(c->own->connect_timeout, sizeof(c->own->connect_timeout), "%ld",
             conf->connect_timeout);
    snprintf(c->own->options, sizeof(c->own->options), "-c statement_timeout=0 -c jit=off");
    register_core();
    if (ensure_connected(c) != 0) {
        snprintf(err, err_size, "%s", c->error);
        db_conn_close(c);
        return NULL;
    }
    return c;
}

void
db_conn_close(struct db_conn *c)
{
    if (c == NULL) {
        return;
    }
    PQfinish(c->pg);
    if (c->own != NULL) {
        free(c->own->conninfo);
        if (c->own->password != NULL) {
            OPENSSL_cleanse(c->own->password, strlen(c->own->password));
            free(c->own->password);
        }
        free(c->own);
    }
    free(c->prepared);
    free(c);
}

const char *
db_conn_error(const struct db_conn *c)
{
    return c->error;
}

enum db_status
db_begin(struct db_conn *c)
{
    enum db_status st;

    c = writable(c);
    if (c->in_txn || ensure_connected(c) != 0) {
        return DB_HARD;
    }
    st = exec_fixed(c, "BEGIN", NULL);
    if (st < 0) {
        return DB_HARD;
    }
    c->in_txn = true;
    return DB_NO_ROWS;
}

enum db_status
db_commit(struct db_conn *c)
{
    bool rolled_back = false;
    enum db_status st;

    c = writable(c);
    if (!c->in_txn || c->pg == NULL) {
        c->in_txn = false;
        return DB_HARD;
    }
    st = exec_fixed(c, "COMMIT", &rolled_back);
    c->in_txn = false;
    if (st < 0) {
        return st;
    }
    /* Whatever the caller made of the failed statement's status (a unique violation
     * comes back as DB_NO_ROWS), nothing was kept. */
    if (rolled_back) {
        snprintf(c->error, sizeof(c->error),
                 "the transaction was rolled back: a statement in it failed");
        log_err("db: %s", c->error);
        return DB_HARD;
    }
    return DB_NO_ROWS;
}

void
db_rollback(struct db_conn *c)
{
    c = writable(c);
    if (c->in_txn && c->pg != NULL) {
        char keep[sizeof(c->error)];

        memcpy(keep, c->error, sizeof(keep)); /* the failure that led here, not ROLLBACK's */
        PQclear(PQexec(c->pg, "ROLLBACK"));
        memcpy(c->error, keep, sizeof(keep));
    }
    c->in_txn = false;
}

PGconn *
db_conn_pg(struct db_conn *c)
{
    c = writable(c);
    if (!c->in_txn && ensure_connected(c) != 0) {
        return NULL;
    }
    return c->pg;
}

int
db_conn_fd(struct db_conn *c)
{
    /* No liveness probe and no reconnection: a notification waiting on the socket is
     * not a dying server here, and a new connection would not be listening. */
    return c->pg != NULL ? PQsocket(c->pg) : -1;
}

int
db_conn_drain_notifies(struct db_conn *c)
{
    PGnotify *n;
    int count = 0;

    if (c->pg == NULL || PQconsumeInput(c->pg) != 1 || PQstatus(c->pg) != CONNECTION_OK) {
        if (c->pg != NULL) {
            dbi_note_error(c, NULL);
            dbi_drop(c);
        }
        return -1;
    }
    while ((n = PQnotifies(c->pg)) != NULL) {
        count++;
        PQfreemem(n);
    }
    return count;
}

int
db_columns(const PGresult *res, const char *stmt, const char *const *names, int *cols, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cols[i] = PQfnumber(res, names[i]);
        if (cols[i] < 0) {
            log_err("db: %s returns no column %s", stmt, names[i]);
            return -1;
        }
    }
    return 0;
}

char *
db_text_array(const char *const *items, size_t n)
{
    struct util_buf b = { 0 };

    util_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++) {
        const char *s = items[i];

        if (i > 0) {
            util_buf_puts(&b, ",");
        }
        if (s == NULL) {
            util_buf_puts(&b, "NULL");
            continue;
        }
        util_buf_puts(&b, "\"");
        for (const char *p = s; *p != '\0'; p++) {
            size_t run = strcspn(p, "\"\\");

            util_buf_put(&b, p, run);
            p += run;
            if (*p == '\0') {
                break;
            }
            util_buf_put(&b, "\\", 1);
            util_buf_put(&b, p, 1);
        }
        util_buf_puts(&b, "\"");
    }
    util_buf_puts(&b, "}");
    return util_buf_take(&b);
}

/* ---- Scripts of several statements (the migration files) ---- */

enum db_status
db_exec_script(struct db_conn *c, const char *sql)
{
    PGresult *res;
    ExecStatusType st;

    c = writable(c);
    if (c->in_txn ? c->pg == NULL : ensure_connected(c) != 0) {
        return DB_HARD;
    }
    res = PQexec(c->pg, sql);
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        dbi_note_error(c, res);
        PQclear(res);
        return DB_HARD;
    }
    PQclear(res);
    return DB_NO_ROWS;
}

/* ---- Reading results, in the store files ---- */

char *
db_value_dup(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

enum db_status
db_exec_columns(struct db_conn *c,
                const char *stmt,
                int n_params,
                const char *const *params,
                const char *const *names,
                int *cols,
                size_t n,
                PGresult **res)
{
    enum db_status st = db_exec(c, stmt, n_params, params, res);

    if (st > 0 && db_columns(*res, stmt, names, cols, n) != 0) {
        PQclear(*res);
        *res = NULL;
        return DB_HARD;
    }
    return st;
}

const char *
db_value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

long long
db_value_count(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : atoll(PQgetvalue(res, row, col));
}

bool
db_value_bool(const PGresult *res, int row, int col)
{
    return strcmp(PQgetvalue(res, row, col), "t") == 0;
}
