/*
 * annuaire audit -c FILE [--since WHEN] [--action A] [--actor X] [--limit N] [--json]:
 * the audit log, newest first, one line per entry for people or a JSON array for
 * scripts; annuaire audit -c FILE --purge: deletes the entries older than
 * audit.retention_days once, as serve does every hour.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "admin/admin.h"
#include "cmd/cmd.h"
#include "core/db.h"
#include "core/store.h"
#include "core/util.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX     10000

static const char usage[] =
    "usage: annuaire audit -c FILE [--since WHEN] [--action A] [--actor X] [--limit N] [--json]\n"
    "       annuaire audit -c FILE --purge\n\n"
    "Prints the audit log, newest first: time, actor (kind:name), action, object,\n"
    "outcome and details, one line per entry. --purge deletes the entries older\n"
    "than audit.retention_days (as serve does at start and every hour) and says how\n"
    "many went. Exit: 0 done, 1 failed, 2 bad command line.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "      --since WHEN    entries since an ISO 8601 time (2026-12-01T08:00:00Z) or\n"
    "                      for a duration before now (90s, 30m, 24h, 7d, 2w)\n"
    "      --action A      only this action (invitation.created, sync.run, ...)\n"
    "      --actor X       only this actor (an admin token's name, cli:<login>, ...)\n"
    "      --limit N       at most N entries (1 to 10000, default 100)\n"
    "      --json          a JSON array of the entries, as GET /_annuaire/admin/v1/audit\n"
    "      --purge         delete the entries past the retention, once\n"
    "  -h, --help          this help\n";

/* One entry as a line: time, kind:actor, action, object, outcome, details; every text
 * from the database with its control characters escaped (util_esc_text). */
static void
print_entry(const json_t *e)
{
    static const char *const keys[] = { "at",          "actor_kind", "actor",  "action",
                                        "object_kind", "object_id",  "outcome" };
    char *v[ANN_ARRAY_LEN(keys)];
    char *details = json_dumps(json_object_get(e, "details"), JSON_COMPACT | JSON_SORT_KEYS);
    char *details_esc = util_esc_text(details != NULL ? details : "{}");

    for (size_t i = 0; i < ANN_ARRAY_LEN(keys); i++) {
        v[i] = util_esc_text(json_string_value(json_object_get(e, keys[i])));
    }
    printf("%s  %s:%s  %s  %s%s%s  %s  %s\n", v[0], v[1], v[2], v[3], v[4] != NULL ? v[4] : "-",
           v[5] != NULL ? "/" : "", v[5] != NULL ? v[5] : "", v[6], details_esc);
    for (size_t i = 0; i < ANN_ARRAY_LEN(keys); i++) {
        free(v[i]);
    }
    free(details_esc);
    free(details);
}

static int
list(struct db_conn *db, const struct store_audit_filter *f, bool json)
{
    struct store_audit_filter one_more = *f; /* the entry past the limit says there are more */
    json_t *rows = NULL;
    bool more;
    size_t i;
    json_t *e;

    one_more.limit = f->limit + 1;
    if (adm_audit_list(db, &one_more, &rows) < 0) {
        fprintf(stderr, "annuaire audit: database: %s\n", db_conn_error(db));
        return CMD_EXIT_FAILURE;
    }
    more = (long)json_array_size(rows) > f->limit;
    if (more) {
        json_array_remove(rows, (size_t)f->limit);
    }
    if (json) {
        char *text = json_dumps(rows, JSON_INDENT(2));

        puts(text != NULL ? text : "[]");
        free(text);
    } else {
        json_array_foreach (rows, i, e) {
            print_entry(e);
        }
        if (more) {
            fprintf(stderr,
                    "annuaire audit: more entries than --limit %ld (older ones not shown)\n",
                    f->limit);
        }
    }
    json_decref(rows);
    return CMD_EXIT_OK;
}

static int
purge(struct db_conn *db, const struct cfg *cfg)
{
    struct adm_config a = adm_config(cfg);
    enum db_status n;

    if (a.retention_days == 0) {
        printf("audit.retention_days is 0: entries are kept forever, none purged\n");
        return CMD_EXIT_OK;
    }
    n = store_audit_purge(db, a.retention_days);
    if (n < 0) {
        fprintf(stderr, "annuaire audit: database: %s\n", db_conn_error(db));
        return CMD_EXIT_FAILURE;
    }
    printf("%d audit entr%s older than %ld days purged\n", (int)n, n == 1 ? "y" : "ies",
           a.retention_days);
    return CMD_EXIT_OK;
}

int
cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "since", required_argument, NULL, 'S' },
        { "action", required_argument, NULL, 'A' },
        { "actor", required_argument, NULL, 'a' },
        { "limit", required_argument, NULL, 'l' },
        { "json", no_argument, NULL, 'j' },
        { "purge", no_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct store_audit_filter f = { .since = -1, .limit = LIMIT_DEFAULT };
    const char *path = NULL;
    bool json = false, do_purge = false, filtered = false;
    char err[512];
    struct cfg *cfg;
    struct db_conn *db;
    char *end;
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
            if (adm_audit_since(optarg, (long long)time(NULL), &f.since) != 0) {
                return cmd_usage_error("audit", "--since: not an ISO 8601 time or a duration: %s",
                                       optarg);
            }
            filtered = true;
            break;
        case 'A':
            f.action = optarg;
            filtered = true;
            break;
        case 'a':
            f.actor = optarg;
            filtered = true;
            break;
        case 'l':
            f.limit = strtol(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' || f.limit < 1 ||
                f.limit > LIMIT_MAX) {
                return cmd_usage_error("audit", "--limit: 1 to 10000, not %s", optarg);
            }
            filtered = true;
            break;
        case 'j':
            json = true;
            filtered = true;
            break;
        case 'P':
            do_purge = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return CMD_EXIT_OK;
        case ':':
            return cmd_usage_error("audit", "option needs an argument: %s", argv[optind - 1]);
        default:
            return cmd_usage_error("audit", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return cmd_usage_error("audit", "unexpected argument %s", argv[optind]);
    }
    if (path == NULL) {
        return cmd_usage_error("audit", "-c FILE is required");
    }
    if (do_purge && filtered) {
        return cmd_usage_error("audit", "--purge takes no other option than -c");
    }
    cfg = cmd_load_config("audit", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    db = db_conn_open(&cfg->database, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "annuaire audit: %s\n", err);
        cfg_free(cfg);
        return CMD_EXIT_FAILURE;
    }
    store_init();
    if (cmd_check_schema("audit", db, path) != 0) {
        rc = CMD_EXIT_FAILURE;
    } else if (do_purge) {
        rc = purge(db, cfg);
    } else {
        rc = list(db, &f, json);
    }
    db_conn_close(db);
    cfg_free(cfg);
    return rc;
}
