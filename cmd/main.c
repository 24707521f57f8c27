/*
 * The annuaire binary: dispatches to its subcommands (admin, audit, check-config, invite,
 * keys, leavers, migrate, pepper, routing, search, serve, sync), answers --help and
 * --version, and holds what the subcommands share: the -c FILE / --help options, loading
 * the configuration and checking the schema version.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "cmd/cmd.h"
#include "core/log.h"
#include "core/migrations.h"
#include "directory/directory.h"
#include "directory/search.h"
#include "enroll/enroll.h"
#include "ldap-sync/ldap_sync.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    { "admin", cmd_admin, "admin token create|list|revoke: the admin API's tokens" },
    { "audit", cmd_audit, "the audit log: who did what, when (--purge: the retention)" },
    { "check-config", cmd_check_config, "validate a configuration file and exit" },
    { "invite", cmd_invite, "VIP invitations: create, list, show, resend, revoke" },
    { "keys", cmd_keys, "keys generate: create the signing key (ed25519:0)" },
    { "leavers", cmd_leavers, "the Matrix IDs of agents removed or disabled by a sync" },
    { "migrate", cmd_migrate, "apply the database schema migrations" },
    { "pepper", cmd_pepper, "pepper rotate: new lookup pepper, every hash recomputed" },
    { "routing", cmd_routing, "routing check: which homeserver owns an address, and why" },
    { "search", cmd_search, "search the annuaire as the directory API does" },
    { "serve", cmd_serve, "run the HTTP service (identity API, routing, enrollment)" },
    { "sync", cmd_sync,
      "read the ministries' LDAP directories and LDIF exports into the annuaire" },
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: annuaire [--help] [--version] <command> [options]\n\n"
                 "The interministerial directory and Matrix identity service.\n\ncommands:\n");
    for (size_t i = 0; i < ANN_ARRAY_LEN(commands); i++) {
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\nRun 'annuaire <command> --help' for the options of a command.\n");
}

int
cmd_parse_common(const char *name,
                 int argc,
                 char **argv,
                 const char *usage_text,
                 const char **config)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    *config = NULL;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *config = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CMD_EXIT_OK;
        case ':':
            fprintf(stderr, "annuaire %s: option '%s' needs an argument\n", name, argv[optind - 1]);
            return CMD_EXIT_USAGE;
        default:
            fprintf(stderr, "annuaire %s: unknown option '%s' (see annuaire %s --help)\n", name,
                    argv[optind - 1], name);
            return CMD_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "annuaire %s: unexpected argument '%s' (see annuaire %s --help)\n", name,
                argv[optind], name);
        return CMD_EXIT_USAGE;
    }
    if (*config == NULL) {
        fprintf(stderr, "annuaire %s: -c FILE is required (see annuaire %s --help)\n", name, name);
        return CMD_EXIT_USAGE;
    }
    return -1;
}

int
cmd_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "annuaire %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see annuaire %s --help)\n", cmd);
    return CMD_EXIT_USAGE;
}

/* cfg_load_each's report: each problem on its own line. */
static void
print_problem(void *arg, const char *problem)
{
    fprintf(stderr, "annuaire %s: %s\n", (const char *)arg, problem);
}

struct cfg *
cmd_load_config(const char *cmd, const char *path)
{
    struct cfg *cfg = NULL;

    if (cfg_load_each(path, &cfg, print_problem, (void *)cmd) != 0) {
        return NULL;
    }
    log_set_level((enum log_level)cfg->log.level);
    return cfg;
}

int
cmd_check_schema(const char *cmd, struct db_conn *c, const char *path)
{
    char err[512];
    int version = 0;

    if (mig_current(c, &version, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire %s: %s\n", cmd, err);
        return -1;
    }
    if (version < mig_latest()) {
        fprintf(stderr,
                "annuaire %s: the database schema is at version %d and this binary needs "
                "%d: run 'annuaire migrate -c %s' first\n",
                cmd, version, mig_latest(), path);
        return -1;
    }
    if (version > mig_latest()) {
        log_warn("the database schema (version %d) is newer than this binary (%d)", version,
                 mig_latest());
    }
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CMD_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("annuaire %s\n", ANNUAIRE_VERSION);
        return CMD_EXIT_OK;
    }
    /* Each module's configuration sections, before any command reads the file. */
    cfg_register(dir_config_sections, dir_config_n_sections);
    cfg_register(dir_search_config_sections, dir_search_config_n_sections);
    cfg_register(enr_config_sections, enr_config_n_sections);
    cfg_register(lsync_config_sections, lsync_config_n_sections);
    cfg_register(adm_config_sections, adm_config_n_sections);
    cfg_register(dir_search_config_sections, dir_search_config_n_sections);
    for (size_t i = 0; i < ANN_ARRAY_LEN(commands); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    if (argv[1][0] == '-') {
        fprintf(stderr, "annuaire: unknown option '%s' (see annuaire --help)\n", argv[1]);
    } else {
        fprintf(stderr, "annuaire: unknown command '%s' (see annuaire --help)\n", argv[1]);
    }
    return CMD_EXIT_USAGE;
}
