/*
 * annuaire sync -c FILE [--source NAME] [--full] [--dry-run] [--allow-mass-delete]: reads
 * each source of sync.sources into the annuaire (lsync_run), exiting with the worst outcome
 * of the sources run; annuaire sync -c FILE --status: each source's last run and pending
 * removals.
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
    "usage: annuaire sync -c FILE [--source NAME] [--full] [--dry-run] [--allow-mass-delete]\n"
    "       annuaire sync -c FILE --status\n\n"
    "Reads each source of sync.sources (a ministry's LDAP directory or LDIF export)\n"
    "and applies it to the annuaire in one transaction per source. A read that fails\n"
    "changes nothing; an entry a complete read lacks is missing (pending removal)\n"
    "until sync.removal_grace_* have passed; a run that would remove, or mark\n"
    "missing, more than sync.max_delete_percent of a source, or reads no entries or\n"
    "fewer than the source's min_entries or max_shrink allow, is refused. An LDIF\n"
    "export cut inside a record (each record ends with a blank line) is applied\n"
    "without marking anyone missing. Exit: 0 success, 3 done with rejected or cut\n"
    "entries, 4 refused, 1 failed.\n\n"
    "  -c, --config FILE      configuration file (YAML)\n"
    "  -s, --source NAME      only this source\n"
    "      --full             a full read, even where content sync or change polling\n"
    "                         would read only what changed\n"
    "  -n, --dry-run          say what would change, change nothing\n"
    "      --allow-mass-delete  go ahead even past the deletion guard and the\n"
    "                         no-entries/min_entries/max_shrink checks\n"
    "      --status           the last run of each source and its pending removals\n"
    "  -h, --help             this help\n";

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
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct lsync_options o = { .actor_kind = AUDIT_CLI };
    char actor[128];
    const char *path = NULL;
    bool status = false;
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
            break;
        case 'F':
            o.full = true;
            break;
        case 'n':
            o.dry_run = true;
            break;
        case 'M':
            o.allow_mass_delete = true;
            break;
        case 'S':
            status = true;
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
    audit_cli_actor(actor, sizeof(actor));
    o.actor = actor; /* each source run's sync.run audit entry */
    cfg = cmd_load_config("sync", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
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
    } else if (status) {
        rc = lsync_print_status(db, stdout) == 0 ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
    } else {
        rc = (int)lsync_run(cfg, db, &o, stdout, stderr);
    }
    db_conn_close(db);
    cfg_free(cfg);
    return rc;
}
