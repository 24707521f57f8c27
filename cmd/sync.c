/*
 * annuaire sync -c FILE [--source NAME] [--full] [--dry-run] [--allow-mass-delete]: reads
 * each source of sync.sources into the annuaire (lsync_run), exiting with the worst outcome
 * of the sources run; --status: each source's last run, pending removals and whether it
 * is still configured; --conflicts: the addresses more than one live entry claims;
 * --retire NAME: soft-deletes the entries of a source taken out of the configuration.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/audit.h"
#include "core/db.h"
#include "ldap-sync/ldap_sync.h"

static const char usage[] =
    "usage: annuaire sync -c FILE [--source NAME [--unretire]] [--full] [--dry-run]\n"
    "                     [--allow-mass-delete]\n"
    "       annuaire sync -c FILE --status\n"
    "       annuaire sync -c FILE --conflicts\n"
    "       annuaire sync -c FILE --retire NAME [--dry-run] [--allow-mass-delete]\n\n"
    "Reads each source of sync.sources (a ministry's LDAP directory or LDIF export)\n"
    "and applies it to the annuaire in one transaction per source. A run is full or\n"
    "incremental. An LDIF export is always read whole. An LDAP source with\n"
    "ldap.content_sync (RFC 4533) reads only what changed since the cookie of its last\n"
    "run, with the deletions the server lists; with ldap.poll_attribute (uSNChanged,\n"
    "modifyTimestamp) it reads the entries changed since the mark of its last run, and\n"
    "deletions wait for a full read, made at least every ldap.full_every_hours hours.\n"
    "The first run, a source with no stored cookie or mark, and --full read everything.\n"
    "A read that fails changes nothing; an entry a complete read lacks is missing\n"
    "(pending removal) until sync.removal_grace_* have passed; a run that would remove,\n"
    "or mark missing, more than sync.max_delete_percent of a source, or reads no entries\n"
    "or fewer than the source's min_entries or max_shrink allow, is refused. An LDIF\n"
    "export cut inside a record (each record ends with a blank line) is applied without\n"
    "marking anyone missing. One run of a source at a time, on any machine: a source\n"
    "another run holds (a PostgreSQL advisory lock) is not run, the others are; the\n"
    "message says how long it has been held, /metrics counts these runs\n"
    "(annuaire_sync_busy_total). A killed run's lock is released within seconds (the\n"
    "server checks the client every 10 s, and TCP keepalives find a machine gone).\n\n"
    "--retire NAME soft-deletes the live entries of a source that is no longer in\n"
    "sync.sources (they are purged after sync.purge_after_days; their addresses that\n"
    "no other live entry holds become leavers) and marks it retired; --dry-run first\n"
    "says what it would do (exit 4 when the retire would be refused). Retiring more\n"
    "than sync.max_delete_percent of the annuaire's live entries needs\n"
    "--allow-mass-delete. A run of a retired source (an old configuration, or the\n"
    "source put back in sync.sources) is refused (exit 4) until --source NAME\n"
    "--unretire, which clears the retire and runs it: it reads everything again and\n"
    "its entries come back. --status and --conflicts escape control characters.\n\n"
    "Exit: 0 success, 3 done with rejected or cut entries, 4 refused, 5 a source was\n"
    "not run because another run of it is in progress, 1 failed, 2 usage; the worst\n"
    "of the sources run (failed > refused > partial > busy > success).\n\n"
    "  -c, --config FILE      configuration file (YAML)\n"
    "  -s, --source NAME      only this source\n"
    "      --full             a full read, even where content sync or change polling\n"
    "                         would read only what changed\n"
    "  -n, --dry-run          say what would change, change nothing\n"
    "      --allow-mass-delete  go ahead even past the deletion guard and the\n"
    "                         no-entries/min_entries/max_shrink checks\n"
    "      --status           the last run of each source, its pending removals, and\n"
    "                         the sources no longer in the configuration\n"
    "      --conflicts        each address two or more live entries claim: their\n"
    "                         sources, priorities and keys, the owner first\n"
    "      --retire NAME      retire a source taken out of sync.sources\n"
    "      --unretire         with --source: run a retired source again\n"
    "  -h, --help             this help\n";

/* The options given, for the combinations that mean nothing. */
enum given {
    G_SOURCE = 1 << 0,
    G_FULL = 1 << 1,
    G_DRY_RUN = 1 << 2,
    G_MASS = 1 << 3,
    G_UNRETIRE = 1 << 4,
};

/* The first option of forbidden (a mode's meaningless ones) that was given, or NULL. */
static const char *
meaningless(unsigned given, unsigned forbidden)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        { G_SOURCE, "--source" },          { G_FULL, "--full" },         { G_DRY_RUN, "--dry-run" },
        { G_MASS, "--allow-mass-delete" }, { G_UNRETIRE, "--unretire" },
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (given & forbidden & names[i].bit) {
            return names[i].name;
        }
    }
    return NULL;
}

int
cmd_sync(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "source", required_argument, NULL, 's' },
        { "full", no_argument, NULL, 'F' },
        { "dry-run", no_argument, NULL, 'n' },
        { "allow-mass-delete", no_argument, NULL, 'M' },
        { "status", no_argument, NULL, 'S' },
        { "conflicts", no_argument, NULL, 'C' },
        { "retire", required_argument, NULL, 'R' },
        { "unretire", no_argument, NULL, 'U' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct lsync_options o = { .actor_kind = AUDIT_CLI };
    char actor[128];
    const char *path = NULL;
    const char *mode = NULL; /* --status, --conflicts, --retire; NULL: a run */
    const char *retire = NULL;
    const char *bad;
    unsigned given = 0;
    char err[512];
    struct cfg *cfg;
    struct db_conn *db;
    int c;
    int rc;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:s:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 's':
            o.source = optarg;
            given |= G_SOURCE;
            break;
        case 'F':
            o.full = true;
            given |= G_FULL;
            break;
        case 'n':
            o.dry_run = true;
            given |= G_DRY_RUN;
            break;
        case 'M':
            o.allow_mass_delete = true;
            given |= G_MASS;
            break;
        case 'U':
            o.unretire = true;
            given |= G_UNRETIRE;
            break;
        case 'S':
        case 'C':
        case 'R':
            bad = c == 'S' ? "--status" : c == 'C' ? "--conflicts" : "--retire";
            if (mode != NULL) {
                fprintf(stderr, "annuaire sync: %s cannot go with %s (see annuaire sync --help)\n",
                        bad, mode);
                return CMD_EXIT_USAGE;
            }
            mode = bad;
            if (c == 'R') {
                retire = optarg;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return CMD_EXIT_OK;
        case ':':
            fprintf(stderr, "annuaire sync: option '%s' needs an argument\n", argv[optind - 1]);
            return CMD_EXIT_USAGE;
        default:
            fprintf(stderr, "annuaire sync: unknown option '%s' (see annuaire sync --help)\n",
                    argv[optind - 1]);
            return CMD_EXIT_USAGE;
        }
    }
    if (optind < argc || path == NULL) {
        fprintf(stderr, "annuaire sync: %s (see annuaire sync --help)\n",
                path == NULL ? "-c FILE is required" : "unexpected argument");
        return CMD_EXIT_USAGE;
    }
    bad = mode == NULL
              ? NULL
              : meaningless(given, strcmp(mode, "--retire") == 0
                                       ? G_SOURCE | G_FULL | G_UNRETIRE
                                       : G_SOURCE | G_FULL | G_DRY_RUN | G_MASS | G_UNRETIRE);
    if (bad != NULL) {
        fprintf(stderr, "annuaire sync: %s cannot go with %s (see annuaire sync --help)\n", bad,
                mode);
        return CMD_EXIT_USAGE;
    }
    if (o.unretire && o.source == NULL) {
        fprintf(stderr, "annuaire sync: --unretire needs --source NAME (see annuaire sync "
                        "--help)\n");
        return CMD_EXIT_USAGE;
    }
    audit_cli_actor(actor, sizeof(actor));
    o.actor = actor; /* each source run's sync.run audit entry */
    cfg = cmd_load_config("sync", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    /* What can be said before connecting: the source asked for, a source's LDIF file. */
    if (retire != NULL && lsync_check_source(cfg, retire, NULL) == 0 &&
        json_array_size(cfg->sync.sources) > 0) {
        fprintf(stderr,
                "annuaire sync: source '%s' is still in sync.sources (%s): take it out of the "
                "configuration before retiring it\n",
                retire, path);
        cfg_free(cfg);
        return CMD_EXIT_USAGE;
    }
    if (mode == NULL) {
        if (lsync_check_source(cfg, o.source, stderr) != 0) {
            cfg_free(cfg);
            return CMD_EXIT_FAILURE;
        }
        /* A source whose file is missing fails (its run is recorded as such); the
         * others run. */
        (void)lsync_check_files(cfg, o.source, "annuaire sync", path, stderr);
    }
    /* A directory server that goes away mid-read is an error to report, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    db = db_conn_open(&cfg->database, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "annuaire sync: %s\n", err);
        cfg_free(cfg);
        return CMD_EXIT_FAILURE;
    }
    lsync_init();
    if (cmd_check_schema("sync", db, path) != 0) {
        rc = CMD_EXIT_FAILURE;
    } else if (mode == NULL) {
        rc = (int)lsync_run(cfg, db, &o, stdout, stderr);
    } else if (retire != NULL) {
        rc = (int)lsync_retire(cfg, db, retire, &o, stdout, stderr);
    } else if (strcmp(mode, "--status") == 0) {
        rc = lsync_print_status(cfg, db, stdout) == 0 ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
    } else {
        rc = lsync_print_conflicts(cfg, db, stdout) == 0 ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
    }
    db_conn_close(db);
    cfg_free(cfg);
    return rc;
}
