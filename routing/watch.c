/*
 * The mapping in force and its reloads: the service's one mapping, held by requests
 * through a reference (routing_acquire), and a watcher thread that looks at the file
 * every second and on SIGHUP (routing_reload). A reload builds a new mapping beside
 * the old one and swaps a pointer, so requests in flight finish on the old one and a
 * file that does not load whole leaves the old one in force. Also the routing metrics
 * (rules in force, reloads).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "core/cfg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "routing/internal.h"

static struct {
    pthread_mutex_t lock; /* guards current (held for a pointer copy and a count) */
    struct routing_map *current;
    char *path;
    const struct cfg_routing *conf;
    pthread_t watcher;
    bool running;
    bool stop, reload;
    pthread_cond_t wake;
    struct stat seen; /* of the file last tried */
    atomic_long reloads_ok, reloads_failed;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

struct routing_map *
routing_acquire(void)
{
    struct routing_map *r;

    pthread_mutex_lock(&g.lock);
    r = g.current;
    if (r != NULL) {
        atomic_fetch_add(&r->refs, 1);
    }
    pthread_mutex_unlock(&g.lock);
    return r;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Loads the file again; the new mapping replaces the old only if it loaded whole. */
static void
reload(const char *why)
{
    char err[512];
    struct routing_map *r = routing_load(g.path, g.conf, err, sizeof(err)), *old;
    size_t n_exact, n_patterns;

    if (r == NULL) {
        log_err("routing: %s; the previous mapping stays in force", err);
        atomic_fetch_add(&g.reloads_failed, 1);
        return;
    }
    n_patterns = routing_size(r, &n_exact);
    pthread_mutex_lock(&g.lock);
    old = g.current;
    g.current = r;
    pthread_mutex_unlock(&g.lock);
    routing_release(old);
    atomic_fetch_add(&g.reloads_ok, 1);
    log_info("routing: %s %s: %zu entries, %zu patterns", why, g.path, n_exact, n_patterns);
}

static void *
watch(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.lock);
    while (!g.stop) {
        struct timespec until;
        struct stat st;
        bool changed, asked;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        if (!g.reload) {
            pthread_cond_timedwait(&g.wake, &g.lock, &until);
        }
        if (g.stop) {
            break;
        }
        asked = g.reload;
        g.reload = false;
        pthread_mutex_unlock(&g.lock);
        /* The file is looked at every second; a change (or a rename over it) is tried
         * once, whether it loads or not. */
        changed = stat(g.path, &st) == 0 && !same_file(&st, &g.seen);
        if (changed) {
            g.seen = st;
        }
        if (asked || changed) {
            reload(asked ? "SIGHUP: reloaded" : "file changed: reloaded");
        }
        pthread_mutex_lock(&g.lock);
    }
    pthread_mutex_unlock(&g.lock);
    return NULL;
}

static void
collect(struct util_buf *out, struct db_conn *db)
{
    struct routing_map *r = routing_acquire();
    size_t n_exact = 0, n_patterns = r ? routing_size(r, &n_exact) : 0;

    (void)db;
    routing_release(r);
    util_buf_printf(
        out,
        "# HELP annuaire_routing_rules Entries and patterns of the routing file in force.\n"
        "# TYPE annuaire_routing_rules gauge\n"
        "annuaire_routing_rules{kind=\"entry\"} %zu\n"
        "annuaire_routing_rules{kind=\"pattern\"} %zu\n"
        "# HELP annuaire_routing_reloads_total Reloads of the routing file.\n"
        "# TYPE annuaire_routing_reloads_total counter\n"
        "annuaire_routing_reloads_total{result=\"success\"} %ld\n"
        "annuaire_routing_reloads_total{result=\"failed\"} %ld\n",
        n_exact, n_patterns, atomic_load(&g.reloads_ok), atomic_load(&g.reloads_failed));
}

int
routing_start(const struct cfg_routing *conf, char *err, size_t err_size)
{
    const char *path = conf->info_file;
    struct routing_map *r;
    size_t n_exact, n_patterns;

    if (path == NULL) {
        return 0; /* no routing configured */
    }
    stat(path, &g.seen);
    r = routing_load(path, conf, err, err_size);
    if (r == NULL) {
        return -1;
    }
    g.path = xstrdup(path);
    g.conf = conf;
    g.current = r;
    g.stop = false;
    n_patterns = routing_size(r, &n_exact);
    log_info("routing: %s: %zu entries, %zu patterns", path, n_exact, n_patterns);
    if (pthread_create(&g.watcher, NULL, watch, NULL) != 0) {
        snprintf(err, err_size, "cannot start the routing file watcher");
        return -1;
    }
    g.running = true;
    metrics_add_collector(collect);
    return 0;
}

void
routing_reload(void)
{
    pthread_mutex_lock(&g.lock);
    g.reload = true;
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.lock);
}

void
routing_stop(void)
{
    if (g.running) {
        pthread_mutex_lock(&g.lock);
        g.stop = true;
        pthread_cond_signal(&g.wake);
        pthread_mutex_unlock(&g.lock);
        pthread_join(g.watcher, NULL);
        g.running = false;
    }
    routing_release(g.current);
    g.current = NULL;
    free(g.path);
    g.path = NULL;
}
