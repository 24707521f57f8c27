/*
 * The queue worker (core/worker.h): one thread per queue that runs the queue's
 * step, and sleeps on a standalone connection that LISTENs for its channel
 * until it is woken or the next row is due.
 */
#include "core/worker.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/db.h"
#include "core/log.h"
#include "core/store.h"
#include "core/util.h"

struct worker {
    const struct worker_spec *spec;
    const struct cfg_database *db;
    pthread_t thread;
    atomic_bool stopping;
    int wake_fd;
};

/* Milliseconds until the next row is due, within [0, 30000]. */
static int
next_due_ms(const struct worker *w)
{
    long ms = -1;

    if (store_queue_next_due(db_thread_conn(), w->spec->next_due_stmt, &ms) < 0) {
        return 1000;
    }
    return ms < 0 || ms > 30000 ? 30000 : (int)ms;
}

/* Opens the listening connection when there is none, and LISTENs on it (again after it
 * was lost). @return whether it listens */
static bool
listen_on(const struct worker *w, struct db_conn **lc)
{
    char err[512];

    if (*lc == NULL) {
        *lc = db_conn_open(w->db, err, sizeof(err));
        if (*lc == NULL) {
            log_warn("%s: %s", w->spec->name, err);
            return false;
        }
    }
    if (db_exec(*lc, w->spec->listen_stmt, 0, NULL, NULL) < 0) {
        log_warn("%s: %s", w->spec->name, db_conn_error(*lc));
        return false;
    }
    return true;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct db_conn *lc = NULL; /* the listening connection */
    bool listening = false;

    while (!atomic_load(&w->stopping)) {
        struct pollfd fds[2] = { { .fd = w->wake_fd, .events = POLLIN }, { .fd = -1 } };
        int timeout = 1000;

        if (!listening) {
            listening = listen_on(w, &lc);
        }
        if (listening) {
            int n = w->spec->step(w->spec->arg);

            if (n == w->spec->batch) {
                continue; /* more may be waiting */
            }
            timeout = n < 0 ? 1000 : next_due_ms(w);
            fds[1].fd = db_conn_fd(lc);
            fds[1].events = POLLIN;
            listening = fds[1].fd >= 0;
        }
        if (timeout > 0 && poll(fds, 2, timeout) > 0) {
            uint64_t v;

            if (fds[0].revents & POLLIN) {
                (void)!read(w->wake_fd, &v, sizeof(v));
            }
            if (fds[1].fd >= 0 && fds[1].revents != 0 && db_conn_drain_notifies(lc) < 0) {
                listening = false; /* lost: the next round reconnects and listens again */
            }
        }
    }
    db_conn_close(lc);
    return NULL;
}

struct worker *
worker_start(const struct worker_spec *spec, const struct cfg_database *db)
{
    struct worker *w = xcalloc(1, sizeof(*w));

    w->spec = spec;
    w->db = db;
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0 || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        log_err("%s: cannot start its thread", spec->name);
        if (w->wake_fd >= 0) {
            close(w->wake_fd);
        }
        free(w);
        return NULL;
    }
    return w;
}

void
worker_wake(struct worker *w)
{
    uint64_t one = 1;

    if (w != NULL) {
        (void)!write(w->wake_fd, &one, sizeof(one));
    }
}

void
worker_stop(struct worker *w)
{
    if (w == NULL) {
        return;
    }
    atomic_store(&w->stopping, true);
    worker_wake(w);
    pthread_join(w->thread, NULL);
    close(w->wake_fd);
    free(w);
}
