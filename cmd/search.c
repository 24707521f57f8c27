/*
 * annuaire search -c FILE [--limit N] [--ministry M] [--domain D] [--entity E]
 * [--after CURSOR] [--externals] [--json] TERM: the directory search the API answers,
 * for operators and the tests: the hits in rank order, one line each (or the page as
 * JSON), and the cursor of the next page. With --bench FILE instead of TERM: each line
 * of FILE searched in turn, and how long each search took (bench/search.sh).
 */
#include "directory/search.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/db.h"
#include "core/util.h"
#include "directory/directory.h"
#include "routing/routing.h"

static const char usage[] =
    "usage: annuaire search -c FILE [--limit N] [--ministry M] [--domain D] [--entity E]\n"
    "                       [--after CURSOR] [--externals] [--json] TERM\n"
    "       annuaire search -c FILE [options] --bench TERMS_FILE\n\n"
    "Searches the annuaire as the directory API does: every word of TERM must match a\n"
    "word of a visible entry (exact name, exact word, prefix, inside a word, one typo;\n"
    "then the same on its entity's words), best first. One line per hit: display name,\n"
    "entity, ministry, address, Matrix ID (- when none), tab-separated; then\n"
    "\"next: CURSOR\" on stderr when there is a next page, to pass as --after.\n"
    "Exit: 0 done, 1 failed, 2 bad command line.\n\n"
    "  -c, --config FILE    configuration file (YAML)\n"
    "      --limit N        at most N hits (1 to 100, default 10)\n"
    "      --ministry M     only the entries of this ministry (its label)\n"
    "      --domain D       only the entries with an address in this domain\n"
    "      --entity E       only the entries of this entity (as the annuaire has it)\n"
    "      --after CURSOR   the page after the one that gave this cursor\n"
    "      --externals      include the entries whose address routes to an externals'\n"
    "                       platform (left out otherwise, unless search.include_externals)\n"
    "      --json           the page as JSON\n"
    "      --bench FILE     search each line of FILE (a term) in turn, and print for each\n"
    "                       the milliseconds it took, its hits and the term, tab-separated\n"
    "  -h, --help           this help\n";

static json_t *
str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static void
print_result(const struct dir_search_result *res, bool json)
{
    if (json) {
        json_t *page = json_object();
        json_t *list = json_array();
        char *text;

        for (size_t i = 0; i < res->n; i++) {
            const struct dir_search_hit *h = &res->hits[i];

            json_array_append_new(list, json_pack("{s:s, s:o, s:s, s:o, s:o, s:b}", "display_name",
                                                  h->display_name, "entity", str_or_null(h->entity),
                                                  "ministry", h->ministry, "address",
                                                  str_or_null(h->address), "mxid",
                                                  str_or_null(h->mxid), "external", h->external));
        }
        json_object_set_new(page, "results", list);
        json_object_set_new(page, "next", str_or_null(res->next));
        text = json_dumps(page, JSON_INDENT(2));
        puts(text != NULL ? text : "{}");
        free(text);
        json_decref(page);
        return;
    }
    for (size_t i = 0; i < res->n; i++) {
        const struct dir_search_hit *h = &res->hits[i];
        const char *fields[] = { h->display_name, h->entity, h->ministry, h->address, h->mxid };

        for (size_t f = 0; f < ANN_ARRAY_LEN(fields); f++) {
            char *e = util_esc_text(fields[f] != NULL ? fields[f] : "-");

            printf("%s%s", f > 0 ? "\t" : "", e);
            free(e);
        }
        putchar('\n');
    }
    if (res->next != NULL) {
        fprintf(stderr, "next: %s\n", res->next);
    }
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Each line of path searched with the options of q: "ms<TAB>hits<TAB>term". */
static int
run_bench(struct db_conn *db,
          const struct routing_map *routes,
          bool externals,
          struct dir_search_query *q,
          const char *path)
{
    FILE *f = fopen(path, "r");
    char line[DIR_SEARCH_MAX_TERM + 2];
    int rc = CMD_EXIT_OK;

    if (f == NULL) {
        fprintf(stderr, "annuaire search: %s: cannot read it\n", path);
        return CMD_EXIT_FAILURE;
    }
    while (rc == CMD_EXIT_OK && fgets(line, sizeof(line), f) != NULL) {
        struct dir_search_result res = { 0 };
        double t0;
        enum dir_search_status st;

        line[strcspn(line, "\n")] = '\0';
        q->term = line;
        t0 = now_ms();
        st = dir_search(db, routes, externals, q, &res);
        if (st == DIR_SEARCH_OK || st == DIR_SEARCH_SHORT) {
            char *e = util_esc_text(line);

            printf("%.3f\t%zu\t%s\n", now_ms() - t0, res.n, e);
            fflush(stdout); /* each line whole, even when the run is stopped */
            free(e);
        } else {
            fprintf(stderr, "annuaire search: %s: failed (%d): %s\n", line, (int)st,
                    db_conn_error(db));
            rc = CMD_EXIT_FAILURE;
        }
        dir_search_result_clear(&res);
    }
    fclose(f);
    return rc;
}

int
cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "limit", required_argument, NULL, 'l' },
        { "ministry", required_argument, NULL, 'm' },
        { "domain", required_argument, NULL, 'd' },
        { "entity", required_argument, NULL, 'e' },
        { "after", required_argument, NULL, 'a' },
        { "externals", no_argument, NULL, 'x' },
        { "json", no_argument, NULL, 'j' },
        { "bench", required_argument, NULL, 'b' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct dir_search_query q = { .limit = 10 };
    struct dir_search_result res = { 0 };
    const char *path = NULL, *bench = NULL;
    bool json = false, externals = false;
    struct routing_map *routes = NULL;
    char err[512];
    struct cfg *cfg;
    struct db_conn *db;
    enum dir_search_status st;
    long limit;
    int c;
    int rc = CMD_EXIT_FAILURE;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'l':
            if (util_parse_long(optarg, 1, 100, &limit) != 0) {
                return cmd_usage_error("search", "--limit: 1 to 100, not %s", optarg);
            }
            q.limit = (int)limit;
            break;
        case 'm':
            q.ministry = optarg;
            break;
        case 'd':
            q.domain = optarg;
            break;
        case 'e':
            q.entity = optarg;
            break;
        case 'a':
            q.after = optarg;
            break;
        case 'x':
            externals = true;
            break;
        case 'j':
            json = true;
            break;
        case 'b':
            bench = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return CMD_EXIT_OK;
        case ':':
            return cmd_usage_error("search", "option needs an argument: %s", argv[optind - 1]);
        default:
            return cmd_usage_error("search", "unknown option %s", argv[optind - 1]);
        }
    }
    if (path == NULL) {
        return cmd_usage_error("search", "-c FILE is required");
    }
    if (bench != NULL && optind != argc) {
        return cmd_usage_error("search", "--bench FILE takes no TERM, not %s", argv[optind]);
    }
    if (bench == NULL && optind + 1 != argc) {
        return cmd_usage_error("search",
                               optind == argc ? "TERM is required%s" : "one TERM only, not also %s",
                               optind == argc ? "" : argv[optind + 1]);
    }
    q.term = bench == NULL ? argv[optind] : NULL;
    cfg = cmd_load_config("search", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    /* The command searches as the API does: the same shortest term and externals. */
    q.min_term = dir_search_config(cfg).min_term;
    externals = externals || dir_search_config(cfg).include_externals;
    if (cfg->routing.info_file != NULL) {
        routes = routing_load(cfg->routing.info_file, &cfg->routing, err, sizeof(err));
        if (routes == NULL) {
            fprintf(stderr, "annuaire search: %s\n", err);
            cfg_free(cfg);
            return CMD_EXIT_FAILURE;
        }
    }
    db = db_conn_open(&cfg->database, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "annuaire search: %s\n", err);
        routing_release(routes);
        cfg_free(cfg);
        return CMD_EXIT_FAILURE;
    }
    dir_init();
    if (cmd_check_schema("search", db, path) != 0) {
        rc = CMD_EXIT_FAILURE;
    } else if (bench != NULL) {
        rc = run_bench(db, routes, externals, &q, bench);
    } else {
        st = dir_search(db, routes, externals, &q, &res);
        if (st == DIR_SEARCH_OK) {
            print_result(&res, json);
            rc = CMD_EXIT_OK;
        } else if (st == DIR_SEARCH_SHORT) {
            rc = cmd_usage_error("search", "the term needs at least %ld letters or digits",
                                 q.min_term);
        } else if (st == DIR_SEARCH_BAD_CURSOR) {
            rc = cmd_usage_error("search", "--after: not a cursor of this search");
        } else if (st == DIR_SEARCH_BAD_PARAM) {
            rc = cmd_usage_error("search", "the term is longer than %d bytes", DIR_SEARCH_MAX_TERM);
        } else {
            fprintf(stderr, "annuaire search: database: %s\n", db_conn_error(db));
        }
    }
    dir_search_result_clear(&res);
    db_conn_close(db);
    routing_release(routes);
    cfg_free(cfg);
    return rc;
}
