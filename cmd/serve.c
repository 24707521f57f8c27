#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "cmd/cmd.h"
#include "core/address.h"
#include "core/db.h"
#include "core/fetch.h"
#include "core/http.h"
#include "core/log.h"
#include "core/mail.h"
#include "core/metrics.h"
#include "core/migrations.h"
#include "core/ratelimit.h"
#include "directory/directory.h"
#include "enroll/enroll.h"
#include "ldap-sync/ldap_sync.h"

static const char usage[] =
    "usage: annuaire serve -c FILE\n\n"
    "Runs the HTTP service in the foreground. Stops on SIGTERM or SIGINT after\n"
    "in-flight requests finish (http.shutdown_timeout). Refuses to start when the\n"
    "database schema is older than this binary: run 'annuaire migrate' first.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -h, --help          this help\n";

/* Checks that the database is reachable and migrated. @return 0 or -1 (printed) */
static int
check_schema(const struct cfg *cfg, const char *path)
{
    char err[512];
    struct db_conn *c = db_conn_open(&cfg->database, err, sizeof(err));
    int ret = -1;

    if (c == NULL) {
        fprintf(stderr, "annuaire serve: %s\n", err);
        return -1;
    }
    dir_init();
    if (cmd_check_schema("serve", db_conn_pg(c), path) != 0) {
        /* printed */
    } else if (dir_pepper_ensure(c, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire serve: cannot create the lookup pepper: %s\n", err);
    } else {
        ret = 0;
    }
    db_conn_close(c);
    return ret;
}

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
            dir_routing_reload(); /* the routing file; logged there */
            continue;
        }
        log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        return sig;
    }
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

int
cmd_serve(int argc, char **argv)
{
    const struct route *tables[] = { dir_routes, enr_routes, metrics_routes };
    const size_t sizes[] = { dir_n_routes, enr_n_routes, metrics_n_routes };
    const char *path = NULL;
    int rc = cmd_parse_common("serve", argc, argv, usage, &path);
    struct http_server *srv = NULL, *internal = NULL;
    struct cfg_http internal_conf;
    struct router *router = NULL;
    struct cfg *cfg;
    char err[512];
    sigset_t set;

    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("serve", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    cfg_install(cfg);
    rc = CMD_EXIT_FAILURE;
    if (check_schema(cfg, path) != 0) {
        goto cleanup;
    }
    if (dir_keys_load(cfg->keys.signing_key_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire serve: %s\n", err);
        goto cleanup;
    }
    /* Signals are taken by sigwait in this thread only: block them before any thread starts. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    db_configure(&cfg->database);
    mail_init();
    rl_init();
    rl_set_enabled(cfg->ratelimit.enabled != 0);
    dir_init();
    lsync_metrics_init();
    addr_init();
    if (enr_init(err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire serve: %s\n", err);
        goto cleanup;
    }
    http_set_auth(enr_authenticate);
    fetch_global_init();
    fetch_set_max_calls(max_outbound_calls(cfg));
    if (mail_sender_start(cfg) != 0 || enr_onbind_start() != 0) {
        goto cleanup;
    }
    if (dir_routing_start(&cfg->routing, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire serve: routing.info_file: %s\n", err);
        goto cleanup;
    }
    router = router_new(tables, sizes, ANN_ARRAY_LEN(tables));
    metrics_init(router);
    srv = http_start(&cfg->http, router);
    if (srv == NULL) {
        goto cleanup;
    }
    if (cfg->routing.internal_port > 0) {
        /* internal-info for the homeservers, on its own address and port. */
        internal_conf = cfg->http;
        internal_conf.bind_address = cfg->routing.internal_bind_address;
        internal_conf.port = cfg->routing.internal_port;
        /* Each request is one database round trip: fewer threads than the public
         * listener keep the CPUs for PostgreSQL (measured in bench/routing.sh). */
        internal_conf.threads = cfg->routing.internal_threads > 0 ? cfg->routing.internal_threads
                                                                  : 2 * (long)util_cpu_count();
        internal = http_start_listener(&internal_conf, router, true);
        if (internal == NULL) {
            http_stop(srv, 0);
            srv = NULL;
            goto cleanup;
        }
    }
    log_info("annuaire %s serving (schema version %d)", ANNUAIRE_VERSION, mig_latest());
    wait_for_stop();
    if (internal != NULL) {
        http_stop(internal, cfg->http.shutdown_timeout);
    }
    http_stop(srv, cfg->http.shutdown_timeout);
    srv = NULL;
    log_info("stopped");
    rc = CMD_EXIT_OK;
cleanup:
    dir_routing_stop();
    mail_sender_stop();
    enr_onbind_stop();
    metrics_shutdown();
    rl_shutdown();
    enr_shutdown();
    fetch_global_cleanup();
    router_free(router);
    db_thread_close();
    dir_keys_unload();
    addr_shutdown();
    cfg_uninstall();
    return rc;
}
