/*
 * PostgreSQL access for the whole service: the per-thread connections of the
 * server, standalone connections for commands (migrate, sync, pepper), the
 * registry of named statements and the transaction runner. The only file, with
 * the store files, that sees libpq.
 */
#include "core/db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/metrics.h"

#define MAX_STMT_TABLES 32
#define TXN_MAX_TRIES   5

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

static struct settings settings;
static struct settings replica_settings; /* conninfo NULL: no replica */
static const struct db_stmt *stmt_tables[MAX_STMT_TABLES];
static size_t stmt_sizes[MAX_STMT_TABLES];
static size_t n_stmt_tables;
static pthread_key_t conn_key;
static pthread_key_t replica_key;
static pthread_once_t conn_key_once = PTHREAD_ONCE_INIT;

/*
 * The replica as this process last saw it, shared by every thread: reads go to it
 * while replica_state is FRESH. One thread at a time (the one that wins
 * replica_checking) measures it, at most every REPLICA_CHECK_NS, at the start of a
 * read; the others only load replica_state.
 *
 * Lag is measured against the primary, not by the replica alone: each check reads the
 * primary's WAL position into samples, then the replica's replay
 * position; the replica shows everything the primary had written at the newest sample
 * it has replayed past, so its lag is at most the age of that sample (0 when it has
 * replayed the position just read). A replica cut off from its primary falls behind as
 * soon as the primary writes, which its own clock (pg_last_xact_replay_timestamp)
 * would not show, and no privilege beyond PUBLIC's is needed (pg_stat_wal_receiver's
 * status is hidden from roles without pg_read_all_stats). The position sampled is the
 * insert position (pg_current_wal_insert_lsn), which every commit has passed: the write
 * position (pg_current_wal_lsn) trails commits made with synchronous_commit off, and a
 * replica past it could still miss them. An insert position just past a page's header
 * (nothing written on that page yet) counts as the page's start, where a replica that has
 * replayed everything stops.
 */
#define REPLICA_CHECK_NS      1000000000LL
#define REPLICA_SAMPLES       256
#define REPLICA_CONNECT_LIMIT 2 /* seconds, at most: libpq's smallest connect_timeout */
/* A statement on the replica that has no answer after this (or statement_timeout_ms when
 * shorter) is given up: the connection is dropped, the replica marked down, and the
 * primary answers. These reads take milliseconds; a silent server (a black-holed host)
 * would otherwise hold every worker thread. */
#define REPLICA_DEADLINE_MS   2000
/* A check still running after this: the replica is not read by the others meanwhile. */
#define REPLICA_OVERDUE_NS    (2 * REPLICA_CHECK_NS)

static long long replica_max_lag_ns;
static int replica_deadline_ms = REPLICA_DEADLINE_MS;
static _Atomic long long replica_check_since_ns; /* when the running check began, or 0 */
/* The primary's db_identity ("system id/database"), read by the first check: written once
 * by the replica_checking holder before primary_identity_known is set. */
static char primary_identity[160];
static atomic_bool primary_identity_known;

/* Where this thread's current request reads (db_read_begin, db_thread_read_conn): chosen
 * once, so that one answer never mixes the replica's and the primary's data; a failure on
 * the replica moves the rest of the request to the primary, never back. */
enum read_side {
    READ_UNSET,
    READ_REPLICA,
    READ_PRIMARY,
};
static _Thread_local enum read_side read_side;
static atomic_int replica_state = METRICS_REPLICA_NONE;
static _Atomic long long replica_next_check_ns;
static atomic_flag replica_checking = ATOMIC_FLAG_INIT;
/* Positions of the primary, oldest first in a ring: only the thread holding
 * replica_checking. A slot covers sample_spacing_ns from its first_ns and keeps the first
 * position of that span (lo_lsn, lo_at_ns) and the newest one (lsn, at_ns), each time
 * refreshed while the position stays, so that the ring spans replica_max_lag whatever it
 * is (a slot a second up to 256 s, longer past that). A replica between a slot's first and
 * newest position is given the first one's time: its lag is overestimated by a slot's
 * span at most. */
static struct {
    long long first_ns;
    long long lo_at_ns;
    unsigned long long lo_lsn;
    long long at_ns;
    unsigned long long lsn;
} samples[REPLICA_SAMPLES];
static long long sample_spacing_ns;
static size_t n_samples;
static size_t sample_next; /* where the next one goes */

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

static void
settings_clear(struct settings *s)
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
    settings_clear(&settings);
    settings_clear(&replica_settings);
    settings.conninfo = xstrdup(conf->conninfo);
    settings.password = conf->password ? xstrdup(conf->password) : NULL;
    snprintf(settings.connect_timeout, sizeof(settings.connect_timeout), "%ld",
             conf->connect_timeout);
    /* JIT off: every statement here is short, and compiling one cost up to half a
     * second whenever the planner's estimate crossed jit_above_cost (measured: the
     * directory search's output join on 2.5 M entries, 0.5 s of JIT for 0.03 s of work). */
    snprintf(settings.options, sizeof(settings.options), "-c statement_timeout=%ld -c jit=off",
             conf->statement_timeout_ms);
    if (conf->replica != NULL) {
        /* Same user, password and options; a short connect timeout, as the request that
         * checks an unreachable replica waits for it. */
        replica_settings.conninfo = xstrdup(conf->replica);
        replica_settings.password = conf->password ? xstrdup(conf->password) : NULL;
        snprintf(replica_settings.connect_timeout, sizeof(replica_settings.connect_timeout), "%d",
                 conf->connect_timeout < REPLICA_CONNECT_LIMIT ? (int)conf->connect_timeout
                                                               : REPLICA_CONNECT_LIMIT);
        memcpy(replica_settings.options, settings.options, sizeof(settings.options));
        replica_max_lag_ns = conf->replica_max_lag * 1000000000LL;
        sample_spacing_ns = replica_max_lag_ns / REPLICA_SAMPLES;
        replica_deadline_ms =
            conf->statement_timeout_ms > 0 && conf->statement_timeout_ms < REPLICA_DEADLINE_MS
                ? (int)conf->statement_timeout_ms
                : REPLICA_DEADLINE_MS;
    }
    atomic_store(&replica_state,
                 conf->replica != NULL ? METRICS_REPLICA_UNKNOWN : METRICS_REPLICA_NONE);
    atomic_store(&replica_next_check_ns, 0);
    n_samples = 0;
    sample_next = 0;
    metrics_replica_state(atomic_load(&replica_state), -1);
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
static struct db_conn *
thread_replica(void)
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

static void
drop(struct db_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    if (c->prepared != NULL) {
        memset(c->prepared, 0, c->n_prepared);
    }
}

static void
note_error(struct db_conn *c, PGresult *res)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (res == NULL && c->pg == NULL) {
        return; /* dropped (replica_result): its message stays */
    }

    snprintf(c->error, sizeof(c->error), "%s", msg ? msg : c->pg ? PQerrorMessage(c->pg) : "");
    c->error[strcspn(c->error, "\n")] = '\0';
}

/*
 * The result of what was just sent on a replica connection (non-blocking), waited for
 * until replica_deadline_ms. A server that stays silent that long is given up: the
 * connection is dropped (libpq 15 has no cancel request with a bound of its own; the
 * replica's statement_timeout ends the statement there) and c->timed_out set.
 * @return the last result (caller PQclear), or NULL (c->error says why)
 */
static PGresult *
replica_result(struct db_conn *c, bool sent)
{
    long long deadline = util_now_ns() + (long long)replica_deadline_ms * 1000000LL;
    PGresult *res = NULL;

    while (sent) {
        int flushed = PQflush(c->pg); /* 0: all sent, 1: more to send */
        struct pollfd p = { .fd = PQsocket(c->pg), .events = POLLIN };
        long long left;

        if (flushed < 0) {
            break;
        }
        if (flushed == 0 && !PQisBusy(c->pg)) {
            PGresult *next = PQgetResult(c->pg);

            if (next == NULL) {
                return res;
            }
            PQclear(res);
            res = next;
            continue;
        }
        left = deadline - util_now_ns();
        if (left <= 0) {
            snprintf(c->error, sizeof(c->error), "no answer from the replica within %d ms",
                     replica_deadline_ms);
            c->timed_out = true;
            PQclear(res);
            drop(c);
            return NULL;
        }
        if (flushed == 1) {
            p.events |= POLLOUT;
        }
        if (poll(&p, 1, (int)(left / 1000000LL) + 1) < 0 && errno != EINTR) {
            break;
        }
        if (PQconsumeInput(c->pg) != 1) {
            break;
        }
    }
    note_error(c, NULL);
    PQclear(res);
    drop(c);
    return NULL;
}

/* PQprepare, PQexecPrepared; on a replica connection, within the deadline. */
static PGresult *
run_prepare(struct db_conn *c, const char *name, const char *sql)
{
    if (!c->replica) {
        return PQprepare(c->pg, name, sql, 0, NULL);
    }
    return replica_result(c, PQsendPrepare(c->pg, name, sql, 0, NULL) == 1);
}

static PGresult *
run_prepared(struct db_conn *c, const char *stmt, int n_params, const char *const *params)
{
    if (!c->replica) {
        return PQexecPrepared(c->pg, stmt, n_params, params, NULL, NULL, 0);
    }
    return replica_result(c,
                          PQsendQueryPrepared(c->pg, stmt, n_params, params, NULL, NULL, 0) == 1);
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
                note_error(c, res); /* the primary answers instead */
                log_debug("db: cannot prepare %s on the replica: %s", s->name, c->error);
            } else if (!ok) {
                note_error(c, res);
                log_err("db: cannot prepare %s: %s", s->name, c->error);
            }
            PQclear(res);
            if (c->pg == NULL) {
                return -1; /* dropped (replica_result): prepared[] was cleared */
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

static enum db_status exec_here(struct db_conn *c,
                                const char *stmt,
                                int n_params,
                                const char *const *params,
                                PGresult **out);

/* db_identity on c, as "system id/database" into buf. @return 0, or -1 (c->error) */
static int
read_identity(struct db_conn *c, char *buf, size_t size)
{
    static const char *const names[] = { "system_id", "db" };
    PGresult *res = NULL;
    int cols[2];
    int ret = -1;

    if (exec_here(c, "db_identity", 0, NULL, &res) > 0 &&
        db_columns(res, "db_identity", names, cols, 2) == 0) {
        snprintf(buf, size, "%s/%s", PQgetvalue(res, 0, cols[0]), PQgetvalue(res, 0, cols[1]));
        ret = 0;
    }
    PQclear(res);
    return ret;
}

/* A replica connection just made: the same database as the primary's (the same cluster,
 * by its system identifier, and the same database name), else not used (not_standby). */
static int
check_identity(struct db_conn *c)
{
    char mine[sizeof(primary_identity)];

    if (!atomic_load(&primary_identity_known)) {
        snprintf(c->error, sizeof(c->error), "the primary's identity is not known yet");
        drop(c);
        return -1;
    }
    if (read_identity(c, mine, sizeof(mine)) != 0) {
        if (c->pg != NULL) {
            drop(c);
        }
        return -1;
    }
    if (strcmp(mine, primary_identity) != 0) {
        snprintf(c->error, sizeof(c->error),
                 "its database is not the primary's: system identifier/database %s, the "
                 "primary's %s",
                 mine, primary_identity);
        c->not_standby = true;
        drop(c);
        return -1;
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
        drop(c);
    }
    const struct settings *set = c->own != NULL ? c->own
                                 : c->replica   ? &replica_settings
                                                : &settings;

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
            drop(c); /* the replica's state says it, once (replica_set_state) */
            return -1;
        }
        metrics_db_error(METRICS_DB_CONNECT);
        if (c->own == NULL) {
            outage_begin(c->error);
        }
        drop(c);
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
            drop(c);
            return -1;
        }
        /* Every statement is sent, then waited for until a deadline (replica_result). */
        if (PQsetnonblocking(c->pg, 1) != 0) {
            note_error(c, NULL);
            drop(c);
            return -1;
        }
        return check_identity(c);
    }
    if (c->own != NULL || c->replica) {
        return 0; /* statements are prepared on first use */
    }
    if (prepare_all(c) != 0) {
        metrics_db_error(METRICS_DB_QUERY);
        drop(c);
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

    note_error(c, res);
    if (c->replica) {
        /* The primary answers instead (replica_exec): a recovery conflict (40001), a
         * statement the standby refuses, the connection gone. */
        log_debug("db: %s on the replica failed: %s %s", what, state ? state : "-",
                  msg ? msg : "-");
        if (PQstatus(c->pg) != CONNECTION_OK) {
            drop(c);
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
        drop(c);
        return DB_HARD;
    }
    metrics_db_error(METRICS_DB_QUERY);
    /* Primary message only: the detail may quote row values. */
    log_err("db: %s failed: %s %s", what, state ? state : "-", msg ? msg : "-");
    return DB_HARD;
}

/* db_exec on c itself, whichever server it is connected to. */
static enum db_status
exec_here(struct db_conn *c,
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
        drop(c);
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

/* ---- The replica ---- */

/* Records the replica's state; logs a change once, whichever thread sees it first. */
static void
replica_set_state(int state, long long lag_ns, const char *why)
{
    int old = atomic_exchange(&replica_state, state);
    double lag = (double)lag_ns / 1e9;

    metrics_replica_state(state, lag_ns >= 0 ? lag_ns / 1000000 : -1);
    if (old == state) {
        return;
    }
    switch (state) {
    case METRICS_REPLICA_FRESH:
        log_info("db: reading from the replica (lag %.0fs at most)", lag);
        break;
    case METRICS_REPLICA_STALE:
        if (lag_ns >= 0) {
            log_warn("db: the replica lags %.0fs or more (replica_max_lag %llds): reads go to "
                     "the primary",
                     lag, replica_max_lag_ns / 1000000000LL);
        } else {
            log_warn("db: the replica's lag is unknown (%s): reads go to the primary", why);
        }
        break;
    case METRICS_REPLICA_DOWN:
        log_warn("db: the replica is unavailable: %s: reads go to the primary", why);
        break;
    case METRICS_REPLICA_NOT_STANDBY:
        log_err("db: database.replica is not used: %s", why);
        break;
    default:
        break;
    }
}

static int
parse_lsn(const char *text, unsigned long long *lsn)
{
    unsigned int hi, lo;
    char end;

    if (text == NULL || sscanf(text, "%X/%X%c", &hi, &lo, &end) != 2) {
        return -1;
    }
    *lsn = (unsigned long long)hi << 32 | lo;
    return 0;
}

/* The primary's position at at_ns, into samples (the replica_checking holder only). */
static void
add_sample(long long at_ns, unsigned long long lsn)
{
    size_t last = (sample_next + REPLICA_SAMPLES - 1) % REPLICA_SAMPLES;

    if (n_samples > 0 && lsn == samples[last].lsn) {
        if (samples[last].lo_lsn == lsn) {
            samples[last].lo_at_ns = at_ns;
        }
        samples[last].at_ns = at_ns;
        return;
    }
    if (n_samples > 0 && lsn > samples[last].lsn &&
        at_ns - samples[last].first_ns < sample_spacing_ns) {
        samples[last].at_ns = at_ns;
        samples[last].lsn = lsn;
        return;
    }
    samples[sample_next].first_ns = at_ns;
    samples[sample_next].lo_at_ns = at_ns;
    samples[sample_next].lo_lsn = lsn;
    samples[sample_next].at_ns = at_ns;
    samples[sample_next].lsn = lsn;
    sample_next = (sample_next + 1) % REPLICA_SAMPLES;
    if (n_samples < REPLICA_SAMPLES) {
        n_samples++;
    }
}

/* How far behind a replica that replayed up to lsn is at now: the age of the newest
 * sample it has passed; past every sample, at least the oldest one's age (*known false). */
static long long
lag_of(unsigned long long lsn, long long now, bool *known)
{
    for (size_t k = 0; k < n_samples; k++) {
        size_t i = (sample_next + REPLICA_SAMPLES - 1 - k) % REPLICA_SAMPLES;

        if (samples[i].lsn <= lsn) {
            *known = true;
            return now > samples[i].at_ns ? now - samples[i].at_ns : 0;
        }
        if (samples[i].lo_lsn <= lsn) {
            *known = true;
            return now > samples[i].lo_at_ns ? now - samples[i].lo_at_ns : 0;
        }
    }
    *known = false;
    return n_samples > 0
               ? now -
                     samples[(sample_next + REPLICA_SAMPLES - n_samples) % REPLICA_SAMPLES].lo_at_ns
               : -1;
}

/* One measure of the replica, on this thread's connections (see replica_state). */
static void
replica_check(long long now)
{
    static const char *const wal_names[] = { "lsn", "page" };
    static const char *const replay_names[] = { "in_recovery", "lsn" };
    struct db_conn *p = db_thread_conn();
    struct db_conn *rc = thread_replica();
    unsigned long long lsn;
    PGresult *res = NULL;
    int cols[2];
    long long lag;
    bool known;

    /* The primary unreachable: no new sample, and the replica's lag grows from the last. */
    if (!p->in_txn &&
        db_exec_columns(p, "db_wal_position", 0, NULL, wal_names, cols, 2, &res) > 0 &&
        parse_lsn(PQgetvalue(res, 0, cols[0]), &lsn) == 0) {
        unsigned long long page = strtoull(PQgetvalue(res, 0, cols[1]), NULL, 10);

        /* A page's header is 24 bytes, 40 on a segment's first page; a record, 24 at least. */
        if (page > 0 && lsn % page > 0 && lsn % page <= 40) {
            lsn -= lsn % page;
        }
        add_sample(now, lsn);
    }
    PQclear(res);
    res = NULL;
    if (!atomic_load(&primary_identity_known) &&
        read_identity(p, primary_identity, sizeof(primary_identity)) == 0) {
        atomic_store(&primary_identity_known, true);
    }
    if (exec_here(rc, "db_replay_position", 0, NULL, &res) <= 0 ||
        db_columns(res, "db_replay_position", replay_names, cols, 2) != 0) {
        replica_set_state(rc->not_standby ? METRICS_REPLICA_NOT_STANDBY : METRICS_REPLICA_DOWN, -1,
                          rc->error);
    } else if (strcmp(PQgetvalue(res, 0, cols[0]), "t") != 0) {
        replica_set_state(METRICS_REPLICA_NOT_STANDBY, -1, "its server is not in recovery");
    } else if (parse_lsn(PQgetvalue(res, 0, cols[1]), &lsn) != 0) {
        replica_set_state(METRICS_REPLICA_STALE, -1, "no replay position");
    } else {
        lag = lag_of(lsn, now, &known);
        if (!known && lag < replica_max_lag_ns &&
            atomic_load(&replica_state) == METRICS_REPLICA_UNKNOWN) {
            /* Behind the first positions measured (start-up): not measurable yet. */
            metrics_replica_state(METRICS_REPLICA_UNKNOWN, -1);
        } else if (lag < 0) {
            replica_set_state(METRICS_REPLICA_STALE, -1, "the primary's position is unknown");
        } else {
            replica_set_state(known && lag < replica_max_lag_ns ? METRICS_REPLICA_FRESH
                                                                : METRICS_REPLICA_STALE,
                              lag, NULL);
        }
    }
    PQclear(res);
    if (rc->pg != NULL) {
        rc->retry_at_ns = 0; /* it answers: this thread reads from it again */
    }
}

/* Whether reads may go to the replica: fresh at the last check, no check overdue (a
 * checker stuck on a silent replica would leave the state as it was), and this thread's
 * own connection not failed lately. */
static bool
replica_usable(const struct db_conn *c, long long now)
{
    long long since = atomic_load(&replica_check_since_ns);

    return atomic_load_explicit(&replica_state, memory_order_relaxed) == METRICS_REPLICA_FRESH &&
           (since == 0 || now - since < REPLICA_OVERDUE_NS) && now >= c->retry_at_ns;
}

void
db_read_begin(void)
{
    read_side = READ_UNSET;
}

struct db_conn *
db_thread_read_conn(void)
{
    struct db_conn *rc;
    long long now;

    if (replica_settings.conninfo == NULL) {
        return db_thread_conn();
    }
    now = util_now_ns();
    if (now >= atomic_load_explicit(&replica_next_check_ns, memory_order_relaxed) &&
        !atomic_flag_test_and_set_explicit(&replica_checking, memory_order_acquire)) {
        if (now >= atomic_load(&replica_next_check_ns)) { /* not just done by another */
            atomic_store(&replica_check_since_ns, now);
            replica_check(now);
            atomic_store(&replica_check_since_ns, 0);
            /* Not a standby: a connection a second to the wrong server would be noise. */
            atomic_store(&replica_next_check_ns,
                         util_now_ns() + (atomic_load(&replica_state) == METRICS_REPLICA_NOT_STANDBY
                                              ? 30 * REPLICA_CHECK_NS
                                              : REPLICA_CHECK_NS));
        }
        atomic_flag_clear_explicit(&replica_checking, memory_order_release);
    }
    rc = thread_replica();
    if (read_side == READ_UNSET) {
        read_side = replica_usable(rc, util_now_ns()) ? READ_REPLICA : READ_PRIMARY;
    }
    return rc;
}

struct db_conn *
db_read_from_primary(void)
{
    if (replica_settings.conninfo == NULL) {
        return db_thread_conn();
    }
    read_side = READ_PRIMARY;
    return thread_replica();
}

/* A read through a replica slot: on the side this request reads from (read_side), the
 * replica while it is usable; else, or when it fails, on this thread's primary connection.
 * Inside a transaction of this thread (db_begin on the slot), always the primary. */
static enum db_status
replica_exec(struct db_conn *c,
             const char *stmt,
             int n_params,
             const char *const *params,
             PGresult **out)
{
    struct db_conn *p = db_thread_conn();
    long long now = util_now_ns();

    if (read_side == READ_UNSET || (read_side == READ_REPLICA && !replica_usable(c, now))) {
        read_side = replica_usable(c, now) ? READ_REPLICA : READ_PRIMARY;
    }
    if (read_side == READ_REPLICA && !p->in_txn) {
        enum db_status st = exec_here(c, stmt, n_params, params, out);

        if (st >= 0) {
            metrics_db_read(true);
            return st;
        }
        metrics_replica_fallback();
        read_side = READ_PRIMARY;
        if (c->timed_out) { /* silent: every thread would wait as long */
            replica_set_state(METRICS_REPLICA_DOWN, -1, c->error);
        }
        if (c->pg == NULL) {
            /* This thread reads from the primary for a while; the checker alone says what
             * every thread does (a second later at most). */
            c->retry_at_ns = now + (c->not_standby ? 30 : 1) * REPLICA_CHECK_NS;
            log_debug("db: this thread's replica connection failed: %s", c->error);
        }
    }
    metrics_db_read(false);
    return exec_here(p, stmt, n_params, params, out);
}

enum db_status
db_exec(struct db_conn *c,
        const char *stmt,
        int n_params,
        const char *const *params,
        PGresult **out)
{
    return c->replica ? replica_exec(c, stmt, n_params, params, out)
                      : exec_here(c, stmt, n_params, params, out);
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
            note_error(c, NULL);
            drop(c);
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
        note_error(c, res);
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
