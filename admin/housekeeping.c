/*
 * serve's housekeeping, on a thread and a database connection of its own (never in a
 * request): at start and then every minute, the shared rate-limit buckets that are full
 * again are deleted (core/ratelimit.h); at start and then every hour, the audit log's
 * entries older than audit.retention_days (nothing when the retention is 0: entries
 * kept forever).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "admin/admin.h"
#include "core/db.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "core/store.h"

#define SWEEP_EVERY_S 60
#define PURGE_EVERY_S 3600

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running; /* the thread was started (and not yet joined) */
    bool stop;
    long retention_days;
} hk = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
purge_once(long retention_days)
{
    enum db_status n = store_audit_purge(db_thread_conn(), retention_days);

    if (n < 0) {
        log_warn("audit: the entries older than %ld days could not be purged (retried in an "
                 "hour)",
                 retention_days);
    } else if (n > 0) {
        log_info("audit: %d entr%s older than %ld days purged", (int)n, n == 1 ? "y" : "ies",
                 retention_days);
    } else {
        log_debug("audit: no entry older than %ld days", retention_days);
    }
}

static void
sweep_once(void)
{
    long n = 0;

    if (rl_sweep_shared(db_thread_conn(), &n) == 0 && n > 0) {
        log_debug("ratelimit: %ld full shared buckets deleted", n);
    }
}

static void *
housekeeping_main(void *arg)
{
    struct timespec due;
    long since_purge_s = PURGE_EVERY_S;

    (void)arg;
    pthread_mutex_lock(&hk.lock);
    while (!hk.stop) {
        pthread_mutex_unlock(&hk.lock);
        sweep_once();
        if (hk.retention_days > 0 && since_purge_s >= PURGE_EVERY_S) {
            purge_once(hk.retention_days);
            since_purge_s = 0;
        }
        pthread_mutex_lock(&hk.lock);
        clock_gettime(CLOCK_MONOTONIC, &due);
        due.tv_sec += SWEEP_EVERY_S;
        since_purge_s += SWEEP_EVERY_S;
        while (!hk.stop && pthread_cond_timedwait(&hk.wake, &hk.lock, &due) != ETIMEDOUT) {
            /* woken early (or spuriously): the loop checks stop */
        }
    }
    pthread_mutex_unlock(&hk.lock);
    db_thread_close();
    return NULL;
}

int
adm_housekeeping_start(const struct cfg *cfg)
{
    struct adm_config a = adm_config(cfg);
    pthread_condattr_t attr;
    int rc;

    store_init();
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hk.wake, &attr);
    pthread_condattr_destroy(&attr);
    hk.stop = false;
    hk.retention_days = a.retention_days;
    rc = pthread_create(&hk.thread, NULL, housekeeping_main, NULL);
    if (rc != 0) {
        log_err("housekeeping: the thread cannot start (error %d)", rc);
        pthread_cond_destroy(&hk.wake);
        return -1;
    }
    hk.running = true;
    return 0;
}

void
adm_housekeeping_stop(void)
{
    if (!hk.running) {
        return;
    }
    pthread_mutex_lock(&hk.lock);
    hk.stop = true;
    pthread_cond_signal(&hk.wake);
    pthread_mutex_unlock(&hk.lock);
    pthread_join(hk.thread, NULL);
    pthread_cond_destroy(&hk.wake);
    hk.running = false;
}
