/*
 * The read replica (database.replica): which server a read goes to, its freshness
 * measured against the primary, its identity, and the deadline of its statements.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/db_internal.h"
#include "core/log.h"
#include "core/metrics.h"

static struct settings replica_settings; /* conninfo NULL: no replica */

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

void
dbr_configure(const struct cfg_database *conf, const struct settings *primary)
{
    dbi_settings_clear(&replica_settings);
    if (conf->replica != NULL) {
        /* The primary's password and session options, nothing else of its string; a short
         * connect timeout, as the request that checks an unreachable replica waits for it. */
        replica_settings.conninfo = xstrdup(conf->replica);
        replica_settings.password = conf->password ? xstrdup(conf->password) : NULL;
        snprintf(replica_settings.connect_timeout, sizeof(replica_settings.connect_timeout), "%d",
                 conf->connect_timeout < REPLICA_CONNECT_LIMIT ? (int)conf->connect_timeout
                                                               : REPLICA_CONNECT_LIMIT);
        memcpy(replica_settings.options, primary->options, sizeof(primary->options));
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
}

const struct settings *
dbr_settings(void)
{
    return &replica_settings;
}

/*
 * The result of what was just sent on a replica connection (non-blocking), waited for
 * until replica_deadline_ms. A server that stays silent that long is given up: the
 * connection is dropped (libpq 15 has no cancel request with a bound of its own; the
 * replica's statement_timeout ends the statement there) and c->timed_out set.
 * @return the last result (caller PQclear), or NULL (c->error says why)
 */
PGresult *
dbr_result(struct db_conn *c, bool sent)
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
            dbi_drop(c);
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
    dbi_note_error(c, NULL);
    PQclear(res);
    dbi_drop(c);
    return NULL;
}

/* db_identity on c, as "system id/database" into buf. @return 0, or -1 (c->error) */
static int
read_identity(struct db_conn *c, char *buf, size_t size)
{
    static const char *const names[] = { "system_id", "db" };
    PGresult *res = NULL;
    int cols[2];
    int ret = -1;

    if (dbi_exec_here(c, "db_identity", 0, NULL, &res) > 0 &&
        db_columns(res, "db_identity", names, cols, 2) == 0) {
        snprintf(buf, size, "%s/%s", PQgetvalue(res, 0, cols[0]), PQgetvalue(res, 0, cols[1]));
        ret = 0;
    }
    PQclear(res);
    return ret;
}

/* A replica connection just made: the same database as the primary's (the same cluster,
 * by its system identifier, and the same database name), else not used (not_standby). */
int
dbr_check_identity(struct db_conn *c)
{
    char mine[sizeof(primary_identity)];

    if (!atomic_load(&primary_identity_known)) {
        snprintf(c->error, sizeof(c->error), "the primary's identity is not known yet");
        dbi_drop(c);
        return -1;
    }
    if (read_identity(c, mine, sizeof(mine)) != 0) {
        if (c->pg != NULL) {
            dbi_drop(c);
        }
        return -1;
    }
    if (strcmp(mine, primary_identity) != 0) {
        snprintf(c->error, sizeof(c->error),
                 "its database is not the primary's: system identifier/database %s, the "
                 "primary's %s",
                 mine, primary_identity);
        c->not_standby = true;
        dbi_drop(c);
        return -1;
    }
    return 0;
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
    struct db_conn *rc = dbi_thread_replica();
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
    if (dbi_exec_here(rc, "db_replay_position", 0, NULL, &res) <= 0 ||
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
    rc = dbi_thread_replica();
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
    return dbi_thread_replica();
}

/* A read through a replica slot: on the side this request reads from (read_side), the
 * replica while it is usable; else, or when it fails, on this thread's primary connection.
 * Inside a transaction of this thread (db_begin on the slot), always the primary. */
enum db_status
dbr_exec(struct db_conn *c,
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
        enum db_status st = dbi_exec_here(c, stmt, n_params, params, out);

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
    return dbi_exec_here(p, stmt, n_params, params, out);
}
