#include "core/db.h"

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

struct db_conn {
    PGconn *pg;
    bool in_txn;
};

struct settings {
    char *conninfo;
    char *password;
    char connect_timeout[16];
    char options[64];
};

static struct settings settings;
static const struct db_stmt *stmt_tables[MAX_STMT_TABLES];
static size_t stmt_sizes[MAX_STMT_TABLES];
static size_t n_stmt_tables;
static pthread_key_t conn_key;
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
};

static void
conn_destroy(void *p)
{
    struct db_conn *c = p;

    if (c != NULL) {
        PQfinish(c->pg);
        free(c);
    }
}

static void
make_key(void)
{
    if (pthread_key_create(&conn_key, conn_destroy) != 0) {
        abort();
    }
}

void
db_configure(const struct cfg_database *conf)
{
    free(settings.conninfo);
    if (settings.password != NULL) {
        OPENSSL_cleanse(settings.password, strlen(settings.password));
        free(settings.password);
    }
    settings.conninfo = xstrdup(conf->conninfo);
    settings.password = conf->password ? xstrdup(conf->password) : NULL;
    snprintf(settings.connect_timeout, sizeof(settings.connect_timeout), "%ld",
             conf->connect_timeout);
    snprintf(settings.options, sizeof(settings.options), "-c statement_timeout=%ld",
             conf->statement_timeout_ms);
    if (n_stmt_tables == 0) {
        db_register(core_stmts, ANN_ARRAY_LEN(core_stmts));
    }
}

void
db_register(const struct db_stmt *stmts, size_t n)
{
    if (n_stmt_tables == MAX_STMT_TABLES) {
        abort(); /* raise MAX_STMT_TABLES */
    }
    stmt_tables[n_stmt_tables] = stmts;
    stmt_sizes[n_stmt_tables] = n;
    n_stmt_tables++;
}

static PGconn *
connect_with(const char *conninfo, const char *password, const char *timeout, const char *options)
{
    const char *kw[] = { "dbname",  "password",         "connect_timeout",
                         "options", "application_name", NULL };
    const char *val[] = { conninfo, password, timeout, options, "annuaire", NULL };

    if (password == NULL) { /* libpq stops at the first NULL keyword value: drop the pair */
        kw[1] = "application_name";
        val[1] = "annuaire";
        kw[4] = NULL;
        val[4] = NULL;
    }
    return PQconnectdbParams(kw, val, 1);
}

PGconn *
db_connect_plain(const struct cfg_database *conf, char *err, size_t err_size)
{
    char timeout[16];
    char options[64];
    PGconn *pg;

    snprintf(timeout, sizeof(timeout), "%ld", conf->connect_timeout);
    snprintf(options, sizeof(options), "-c statement_timeout=0");
    pg = connect_with(conf->conninfo, conf->password, timeout, options);
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, err_size, "cannot connect to the database: %s",
                 pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    return pg;
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

void
db_thread_close(void)
{
    struct db_conn *c;

    pthread_once(&conn_key_once, make_key);
    c = pthread_getspecific(conn_key);
    if (c != NULL) {
        pthread_setspecific(conn_key, NULL);
        conn_destroy(c);
    }
}

static void
drop(struct db_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
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
    if (c->pg != NULL && looks_alive(c)) {
        return 0;
    }
    if (c->pg != NULL) {
        log_info("db: connection lost, reconnecting"); /* an outage is logged if that fails */
        drop(c);
    }
    c->pg = connect_with(settings.conninfo, settings.password, settings.connect_timeout,
                         settings.options);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        char *msg = c->pg ? xstrdup(PQerrorMessage(c->pg)) : xstrdup("out of memory");

        metrics_db_error(METRICS_DB_CONNECT);
        msg[strcspn(msg, "\n")] = '\0';
        outage_begin(msg);
        free(msg);
        drop(c);
        return -1;
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

enum db_status
db_exec(struct db_conn *c,
        const char *stmt,
        int n_params,
        const char *const *params,
        PGresult **out)
{
    PGresult *res;
    enum db_status st;

    if (out != NULL) {
        *out = NULL;
    }
    if (c->in_txn ? c->pg == NULL : ensure_connected(c) != 0) {
        return DB_HARD; /* never reconnect in the middle of a transaction */
    }
    res = PQexecPrepared(c->pg, stmt, n_params, params, NULL, NULL, 0);
    if (!c->in_txn && PQstatus(c->pg) != CONNECTION_OK) {
        /* Lost between the liveness check and the statement: once more, on a new connection. */
        PQclear(res);
        drop(c);
        if (ensure_connected(c) != 0) {
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

/* Runs a fixed command (BEGIN, COMMIT, ROLLBACK). */
static enum db_status
exec_fixed(struct db_conn *c, const char *sql)
{
    PGresult *res = PQexec(c->pg, sql);
    enum db_status st = DB_NO_ROWS;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        st = classify(c, res, sql);
        if (st == DB_NO_ROWS) {
            st = DB_HARD; /* a deferred unique violation at COMMIT is a failure */
        }
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

enum db_status
db_txn_run(struct db_conn *c, const char *name, db_txn_fn fn, const void *in, void *out)
{
    bool reconnected = false;

    for (int attempt = 0; attempt < TXN_MAX_TRIES; attempt++) {
        enum db_status st;

        if (ensure_connected(c) != 0) {
            return DB_HARD;
        }
        st = exec_fixed(c, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE");
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
            enum db_status cst = exec_fixed(c, "COMMIT");

            if (cst == DB_NO_ROWS) {
                return st;
            }
            st = cst;
        } else if (c->pg != NULL) {
            (void)exec_fixed(c, "ROLLBACK");
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
db_ping(struct db_conn *c)
{
    return db_exec(c, "db_ping", 0, NULL, NULL);
}

int
db_plain_exec(PGconn *pg,
              const char *sql,
              int n_params,
              const char *const *params,
              PGresult **out,
              char *err,
              size_t err_size)
{
    PGresult *res = PQexecParams(pg, sql, n_params, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (out != NULL) {
        *out = NULL;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

        snprintf(err, err_size, "database: %s", msg ? msg : PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }
    if (out != NULL) {
        *out = res;
    } else {
        PQclear(res);
    }
    return 0;
}
