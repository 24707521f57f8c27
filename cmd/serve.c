/*
 * annuaire serve: starts the service, step by step in the order of the steps table
 * below, serves until SIGTERM or SIGINT (SIGHUP reloads the routing file), and stops.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "cmd/cmd.h"
#include "core/db.h"
#include "core/fetch.h"
#include "core/http.h"
#include "core/log.h"
#include "core/mail.h"
#include "core/metrics.h"
#include "core/migrations.h"
#include "core/ops.h"
#include "core/ratelimit.h"
#include "directory/directory.h"
#include "enroll/enroll.h"
#include "ldap-sync/ldap_sync.h"
#include "routing/routing.h"

static const char usage[] =
    "usage: annuaire serve -c FILE\n\n"
    "Runs the HTTP service in the foreground. Stops on SIGTERM or SIGINT after\n"
    "in-flight requests finish (http.shutdown_timeout). Refuses to start when the\n"
    "database schema is older than this binary: run 'annuaire migrate' first.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -h, --help          this help\n";

/* What serve holds while it runs. */
struct serve {
    const struct cfg *cfg;
    const char *path;
    struct router *router;
    struct http_server *srv, *internal, *admin;
    struct cfg_http internal_conf, admin_conf; /* borrowed by their listeners while they run */
};

/* The database is reachable and migrated, and the lookup pepper exists: nothing else
 * starts on a database this binary cannot use. @return 0 or -1 (printed) */
static int
check_schema(struct serve *s)
{
    char err[512];
    struct db_conn *c = db_conn_open(&s->cfg->database, err, sizeof(err));
    int ret = -1;

    if (c == NULL) {
        fprintf(stderr, "annuaire serve: %s\n", err);
        return -1;
    }
    dir_init();
    if (cmd_check_schema("serve", c, s->path) != 0) {
        /* printed */
    } else if (dir_pepper_ensure(c, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire serve: cannot create the lookup pepper: %s\n", err);
    } else {
        ret = 0;
    }
    db_conn_close(c);
    return ret;
}

/* The signing key (kept loaded: without it no association can be signed), the templates
 * and the routing file, checked as check-config checks them (the same messages, every
 * problem printed) before anything starts. */
static int
check_files(struct serve *s)
{
    return cmd_check_start_files("serve", s->cfg, true) == 0 ? 0 : -1;
}

/* Signals are taken by sigwait in this thread only: blocked before any thread starts. */
static int
block_signals(struct serve *s)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Core's and the directory's SQL statements, the rate limiter and the sync's metrics. */
static int
prepare_core(struct serve *s)
{
    db_configure(&s->cfg->database);
    mail_init();
    rl_init();
    rl_set_enabled(s->cfg->ratelimit.enabled != 0);
    if (rl_set_signing_key(dir_signing_key()) != 0) {
        return -1;
    }
    dir_init();
    lsync_metrics_init();
    lsync_admin_init(); /* the admin API's reads of the sync's tables */
    return 0;
}

/* Enrollment's statements, terms and templates, and the token check it provides. */
static int
prepare_enroll(struct serve *s)
{
    char err[512];

    if (enr_init(err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire serve: %s\n", err);
        return -1;
    }
    http_set_auth(enr_authenticate);
    return 0;
}

/* account.max_concurrent_calls, or a quarter of the public listener's worker threads. */
static long
max_outbound_calls(const struct cfg *cfg)
{
    long threads = cfg->http.threads > 0 ? cfg->http.threads : 4 * (long)util_cpu_count();

    if (cfg->account.max_concurrent_calls > 0) {
        return cfg->account.max_concurrent_calls;
    }
    return threads / 4 > 0 ? threads / 4 : 1;
}

static int
prepare_outbound(struct serve *s)
{
    fetch_global_init();
    fetch_set_max_calls(max_outbound_calls(s->cfg));
    return 0;
}

/* The mail sender, the onbind worker and the invitation expiry sweep. */
static int
start_workers(struct serve *s)
{
    if (mail_sender_start(s->cfg) != 0 || enr_onbind_start() != 0) {
        return -1;
    }
    return enr_expiry_start();
}

/* The housekeeping: the full rate-limit buckets, the audit log's retention. */
static int
start_retention(struct serve *s)
{
    return adm_housekeeping_start(s->cfg);
}

static int
start_routing(struct serve *s)
{
    char err[512];

    if (routing_start(&s->cfg->routing, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire serve: routing.info_file: %s\n", err);
        return -1;
    }
    return 0;
}

/* The admin API's listener when admin.port is set, with its token check. */
static int
start_admin_listener(struct serve *s)
{
    struct adm_config a = adm_config(s->cfg);

    if (a.port == 0) {
        return 0;
    }
    adm_init();
    http_set_admin_auth(adm_authenticate);
    s->admin_conf = s->cfg->http;
    s->admin_conf.bind_address = a.bind_address;
    s->admin_conf.port = a.port;
    s->admin_conf.threads = a.threads;
    s->admin_conf.public_metrics = 0;
    s->admin = http_start_listener(&s->admin_conf, s->router, HTTP_ADMIN);
    if (s->admin == NULL) {
        http_stop(s->internal, 0);
        s->internal = NULL;
        http_stop(s->srv, 0);
        s->srv = NULL;
        return -1;
    }
    return 0;
}

/* The public listener, and the internal one (internal-info) when routing.internal_port
 * is set, on their own address and port. */
static int
start_listeners(struct serve *s)
{
    const struct cfg *cfg = s->cfg;
    const struct route *tables[] = { dir_routes, enr_routes, ops_routes, adm_routes };
    const size_t sizes[] = { dir_n_routes, enr_n_routes, ops_n_routes, adm_n_routes };

    s->router = router_new(tables, sizes, ANN_ARRAY_LEN(tables));
    metrics_init(s->router);
    s->srv = http_start(&cfg->http, s->router);
    if (s->srv == NULL) {
        return -1;
    }
    if (cfg->routing.internal_port > 0) {
        s->internal_conf = cfg->http;
        s->internal_conf.bind_address = cfg->routing.internal_bind_address;
        s->internal_conf.port = cfg->routing.internal_port;
        /* Each request is one database round trip: fewer threads than the public
         * listener keep the CPUs for PostgreSQL (measured in bench/routing.sh). */
        s->internal_conf.threads = cfg->routing.internal_threads > 0 ? cfg->routing.internal_threads
                                                                     : 2 * (long)util_cpu_count();
        s->internal = http_start_listener(&s->internal_conf, s->router, HTTP_INTERNAL);
        if (s->internal == NULL) {
            http_stop(s->srv, 0);
            s->srv = NULL;
            return -1;
        }
    }
    return start_admin_listener(s);
}

/*
 * The start, in order; the first step that fails stops it (having printed or logged
 * why), and everything is then stopped in cleanup (each stop takes what never started).
 */
static const struct {
    const char *name;
    int (*run)(struct serve *s);
} steps[] = {
    { "schema", check_schema },             /* first: nothing starts on a schema it cannot use */
    { "files", check_files },               /* signing key, templates, routing: as check-config */
    { "signals", block_signals },           /* before any thread: threads inherit the mask */
    { "core", prepare_core },               /* connection settings, statements registered... */
    { "enroll", prepare_enroll },           /* ... before a worker's connection prepares them */
    { "outbound calls", prepare_outbound }, /* libcurl, before the workers use it */
    { "workers", start_workers },           /* mail sender, onbind and expiry threads */
    { "retention", start_retention },       /* full rate buckets (each minute), audit purge */
    { "routing", start_routing },           /* a broken routing file stops the start */
    { "listeners", start_listeners },       /* last: only a service fully started answers */
};

static int
wait_for_stop(void)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    for (;;) {
        if (sigwait(&set, &sig) != 0) {
            return -1;
        }
        if (sig == SIGHUP) {
            routing_reload(); /* the routing file; logged there */
            continue;
        }
        log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        return sig;
    }
}

int
cmd_serve(int argc, char **argv)
{
    struct serve s = { 0 };
    int rc = cmd_parse_common("serve", argc, argv, usage, &s.path);
    struct cfg *cfg;

    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("serve", s.path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    cfg_install(cfg); /* every step reads it */
    s.cfg = cfg;
    rc = CMD_EXIT_FAILURE;
    for (size_t i = 0; i < ANN_ARRAY_LEN(steps); i++) {
        if (steps[i].run(&s) != 0) {
            log_debug("serve: start stopped at step %s", steps[i].name);
            goto cleanup;
        }
    }
    log_info("annuaire %s serving (schema version %d)", ANNUAIRE_VERSION, mig_latest());
    wait_for_stop();
    if (s.admin != NULL) {
        http_stop(s.admin, cfg->http.shutdown_timeout);
    }
    if (s.internal != NULL) {
        http_stop(s.internal, cfg->http.shutdown_timeout);
    }
    http_stop(s.srv, cfg->http.shutdown_timeout);
    s.srv = NULL;
    log_info("stopped");
    rc = CMD_EXIT_OK;
cleanup:
    routing_stop();
    mail_sender_stop();
    adm_housekeeping_stop();
    enr_onbind_stop();
    enr_expiry_stop();
    metrics_shutdown();
    rl_shutdown();
    enr_shutdown();
    fetch_global_cleanup();
    router_free(s.router);
    db_thread_close();
    dir_keys_unload();
    cfg_uninstall();
    return rc;
}
