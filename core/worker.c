#include "core/worker.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/db.h"
#include "core/log.h"
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
next_due_ms(const struct worker *w, PGconn *pg)
{
    PGresult *res;
    int ms = 30000;

    if (w->spec->next_due_ms != NULL) {
        return w->spec->next_due_ms(w->spec->arg);
    }
    res = PQexecParams(pg, w->spec->next_due_sql, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ms = 1000;
    } else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        double v = atof(PQgetvalue(res, 0, 0));

        ms = v < 0 ? 0 : (v > 30000 ? 30000 : (int)v);
    }
    PQclear(res);
    return ms;
}

static PGconn *
connect_and_listen(const struct worker *w)
{
    char err[512];
    PGconn *pg = db_connect_plain(w->db, err, sizeof(err));

    if (pg == NULL) {
        log_warn("%s: %s", w->spec->name, err);
        return NULL;
    }
    PQclear(PQexec(pg, w->spec->listen_sql)); /* a fixed statement of ours */
    return pg;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    PGconn *pg = NULL;

    while (!atomic_load(&w->stopping)) {
        struct pollfd fds[2] = { { .fd = w->wake_fd, .events = POLLIN }, { .fd = -1 } };
        int timeout = 1000;

        if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
            PQfinish(pg);
            pg = connect_and_listen(w);
        }
        if (pg != NULL) {
            int n = w->spec->step(pg, w->spec->arg);

            if (n == w->spec->batch) {
                continue; /* more may be waiting */
            }
            timeout = n < 0 ? 1000 : next_due_ms(w, pg);
            fds[1].fd = PQsocket(pg);
            fds[1].events = POLLIN;
        }
        if (timeout > 0 && poll(fds, 2, timeout) > 0) {
            uint64_t v;

            if (fds[0].revents & POLLIN) {
                (void)!read(w->wake_fd, &v, sizeof(v));
            }
            if (pg != NULL && (fds[1].revents & POLLIN)) {
                PGnotify *note;

                PQconsumeInput(pg);
                while ((note = PQnotifies(pg)) != NULL) {
                    PQfreemem(note);
                }
            }
        }
    }
    PQfinish(pg);
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
