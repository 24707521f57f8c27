/*
 * annuaire leavers -c FILE [--since CURSOR] [--limit N] [--json]: the Matrix IDs bound to
 * addresses whose annuaire owner a sync removed or disabled, oldest first, one line each
 * for people or the page of GET /_annuaire/internal/v1/leavers for scripts, and the
 * cursor to pass as --since next time.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/db.h"
#include "core/util.h"
#include "directory/directory.h"

static const char usage[] =
    "usage: annuaire leavers -c FILE [--since CURSOR] [--limit N] [--json]\n\n"
    "Prints the Matrix IDs bound to addresses whose annuaire owner a sync removed or\n"
    "disabled (and that no other live, enabled entry holds), oldest first: cursor, time\n"
    "(UTC), reason (removed or disabled), address and Matrix ID, one line each, then\n"
    "\"next: CURSOR\" on stderr, to pass as --since next time. annuaire deletes nothing:\n"
    "deactivating the accounts is the homeservers' job.\n"
    "Exit: 0 done, 1 failed, 2 bad command line.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "      --since CURSOR  only the leavers after this cursor (a previous next; default:\n"
    "                      from the start)\n"
    "      --limit N       at most N leavers (1 to 1000, default 100)\n"
    "      --json          the page as GET /_annuaire/internal/v1/leavers answers it\n"
    "  -h, --help          this help\n";

static void
print_page(const json_t *page, bool json)
{
    const json_t *e;
    size_t i;

    if (json) {
        char *text = json_dumps(page, JSON_INDENT(2));

        puts(text != NULL ? text : "{}");
        free(text);
        return;
    }
    json_array_foreach (json_object_get(page, "leavers"), i, e) {
        char *address = util_esc_text(json_string_value(json_object_get(e, "address")));
        char *mxid = util_esc_text(json_string_value(json_object_get(e, "mxid")));

        printf("%lld  %s  %-8s  %s  %s\n", (long long)json_integer_value(json_object_get(e, "id")),
               json_string_value(json_object_get(e, "at")),
               json_string_value(json_object_get(e, "reason")), address, mxid);
        free(address);
        free(mxid);
    }
    fprintf(stderr, "next: %s\n", json_string_value(json_object_get(page, "next")));
}

int
cmd_leavers(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' }, { "since", required_argument, NULL, 'S' },
        { "limit", required_argument, NULL, 'l' },  { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    const char *path = NULL;
    long long since = 0, limit = DIR_LEAVERS_LIMIT_DEFAULT;
    bool json = false;
    char err[512];
    struct cfg *cfg;
    struct db_conn *db;
    json_t *page = NULL;
    int c;
    int rc;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'S':
            if (dir_leavers_cursor(optarg, &since) != 0) {
                return cmd_usage_error("leavers", "--since: not a cursor: %s", optarg);
            }
            break;
        case 'l':
            if (dir_leavers_cursor(optarg, &limit) != 0 || limit < 1 ||
                limit > DIR_LEAVERS_LIMIT_MAX) {
                return cmd_usage_error("leavers", "--limit: 1 to 1000, not %s", optarg);
            }
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return CMD_EXIT_OK;
        case ':':
            return cmd_usage_error("leavers", "option needs an argument: %s", argv[optind - 1]);
        default:
            return cmd_usage_error("leavers", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return cmd_usage_error("leavers", "unexpected argument %s", argv[optind]);
    }
    if (path == NULL) {
        return cmd_usage_error("leavers", "-c FILE is required");
    }
    cfg = cmd_load_config("leavers", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    db = db_conn_open(&cfg->database, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "annuaire leavers: %s\n", err);
        cfg_free(cfg);
        return CMD_EXIT_FAILURE;
    }
    dir_init();
    if (cmd_check_schema("leavers", db, path) != 0) {
        rc = CMD_EXIT_FAILURE;
    } else if (dir_leavers_read(db, since, (int)limit, &page) < 0) {
        fprintf(stderr, "annuaire leavers: database: %s\n", db_conn_error(db));
        rc = CMD_EXIT_FAILURE;
    } else {
        print_page(page, json);
        rc = CMD_EXIT_OK;
    }
    json_decref(page);
    db_conn_close(db);
    cfg_free(cfg);
    return rc;
}
