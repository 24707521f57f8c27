/*
 * annuaire admin token create|list|revoke -c FILE: the admin API's tokens. create prints
 * a new random token once (32 bytes of OpenSSL's RNG) and stores only its SHA-256; list
 * shows names, scopes and uses, never a hash; revoke deletes one (401 from then on). Each
 * change writes its audit entry (admin.token.created, admin.token.revoked; actor cli) in
 * its transaction.
 */
#include "admin/admin.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cmd/cmd.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/store.h"
#include "core/util.h"

static const char usage[] =
    "usage: annuaire admin token create NAME --scope SCOPE [--scope SCOPE ...] -c FILE\n"
    "       annuaire admin token list [--json] -c FILE\n"
    "       annuaire admin token revoke NAME -c FILE\n\n"
    "Tokens of the admin API (admin.port). create prints the new token once: only its\n"
    "SHA-256 is stored. SCOPE: invitations, directory, sync, audit or all; give several\n"
    "with --scope more than once or as a comma list. NAME: 1 to 64 of A-Z a-z 0-9 . _ -\n"
    "list shows each token's name, scopes, creation and last use. revoke deletes a token:\n"
    "the admin API refuses it (401) from then on.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -s, --scope SCOPE   create: a scope of the token (repeatable, or a comma list)\n"
    "      --json          list: one JSON array, for scripts\n"
    "  -h, --help          this help\n";

#define MAX_SCOPES 5

struct token_args {
    const char *action; /* create, list, revoke */
    const char *name;
    const char *scopes[MAX_SCOPES];
    size_t n_scopes;
    bool json;
    const char *config;
};

/* Adds the scopes of a comma list. @return 0, or -1 (printed) */
static int
add_scopes(struct token_args *a, char *list)
{
    char *save = NULL;

    for (char *s = strtok_r(list, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
        bool dup = false;

        if (!adm_scope_known(s)) {
            fprintf(stderr,
                    "annuaire admin token: unknown scope '%s' (invitations, directory, sync, "
                    "audit or all)\n",
                    s);
            return -1;
        }
        for (size_t i = 0; i < a->n_scopes; i++) {
            dup = dup || strcmp(a->scopes[i], s) == 0;
        }
        if (!dup) {
            a->scopes[a->n_scopes++] = s; /* at most MAX_SCOPES distinct known ones */
        }
    }
    return 0;
}

/* @return -1 to go on, otherwise the exit code */
static int
parse(int argc, char **argv, struct token_args *a)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "scope", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 's':
            if (add_scopes(a, optarg) != 0) {
                return CMD_EXIT_USAGE;
            }
            break;
        case 'j':
            a->json = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return CMD_EXIT_OK;
        case ':':
            fprintf(stderr, "annuaire admin token: option '%s' needs an argument\n",
                    argv[optind - 1]);
            return CMD_EXIT_USAGE;
        default:
            fprintf(stderr,
                    "annuaire admin token: unknown option '%s' (see annuaire admin --help)\n",
                    argv[optind - 1]);
            return CMD_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "annuaire admin token: expected create, list or revoke (see annuaire "
                        "admin --help)\n");
        return CMD_EXIT_USAGE;
    }
    a->action = argv[optind++];
    if (strcmp(a->action, "list") != 0 && strcmp(a->action, "create") != 0 &&
        strcmp(a->action, "revoke") != 0) {
        fprintf(stderr, "annuaire admin token: unknown action '%s' (create, list or revoke)\n",
                a->action);
        return CMD_EXIT_USAGE;
    }
    if (strcmp(a->action, "list") != 0) {
        if (optind >= argc) {
            fprintf(stderr, "annuaire admin token %s: NAME is required\n", a->action);
            return CMD_EXIT_USAGE;
        }
        a->name = argv[optind++];
    }
    if (optind < argc) {
        fprintf(stderr, "annuaire admin token %s: unexpected argument '%s'\n", a->action,
                argv[optind]);
        return CMD_EXIT_USAGE;
    }
    if (a->config == NULL) {
        fprintf(stderr, "annuaire admin token %s: -c FILE is required\n", a->action);
        return CMD_EXIT_USAGE;
    }
    if (strcmp(a->action, "create") == 0 && a->n_scopes == 0) {
        fprintf(stderr, "annuaire admin token create: --scope is required (invitations, "
                        "directory, sync, audit or all)\n");
        return CMD_EXIT_USAGE;
    }
    if (strcmp(a->action, "create") != 0 && a->n_scopes > 0) {
        fprintf(stderr, "annuaire admin token %s: --scope is for create only\n", a->action);
        return CMD_EXIT_USAGE;
    }
    if (a->json && strcmp(a->action, "list") != 0) {
        fprintf(stderr, "annuaire admin token %s: --json is for list only\n", a->action);
        return CMD_EXIT_USAGE;
    }
    if (a->name != NULL && !adm_token_name_ok(a->name)) {
        fprintf(stderr,
                "annuaire admin token %s: invalid name '%s': 1 to 64 of A-Z a-z 0-9 . _ -\n",
                a->action, a->name);
        return CMD_EXIT_FAILURE;
    }
    return -1;
}

static void
print_list(const json_t *list, bool as_json)
{
    size_t i;
    json_t *t;

    if (as_json) {
        char *text = json_dumps(list, JSON_INDENT(2));

        puts(text);
        free(text);
        return;
    }
    if (json_array_size(list) == 0) {
        puts("no admin token");
        return;
    }
    printf("%-24s %-36s %-24s %s\n", "NAME", "SCOPES", "CREATED", "LAST USED");
    json_array_foreach (list, i, t) {
        /* Text from the database, its control characters escaped. */
        char *scopes = json_dumps(json_object_get(t, "scopes"), JSON_COMPACT);
        const char *used = json_string_value(json_object_get(t, "last_used_at"));
        char *v[] = { util_esc_text(json_string_value(json_object_get(t, "name"))),
                      util_esc_text(scopes),
                      util_esc_text(json_string_value(json_object_get(t, "created_at"))),
                      util_esc_text(used != NULL ? used : "never") };

        printf("%-24s %-36s %-24s %s\n", v[0], v[1], v[2], v[3]);
        for (size_t k = 0; k < ANN_ARRAY_LEN(v); k++) {
            free(v[k]);
        }
        free(scopes);
    }
}

static int
run(struct db_conn *c, const struct token_args *a)
{
    char actor[128];
    const struct adm_actor who = { AUDIT_CLI, actor };
    enum adm_token_status st;
    json_t *list = NULL;
    char *token = NULL;

    audit_cli_actor(actor, sizeof(actor));
    if (strcmp(a->action, "list") == 0) {
        st = adm_token_list(c, &list);
        if (st == ADM_TOKEN_OK) {
            print_list(list, a->json);
        }
        json_decref(list);
    } else if (strcmp(a->action, "revoke") == 0) {
        st = adm_token_revoke(c, &who, a->name);
        if (st == ADM_TOKEN_UNKNOWN) {
            fprintf(stderr, "annuaire admin token revoke: no token named '%s'\n", a->name);
        } else if (st == ADM_TOKEN_OK) {
            printf("admin token %s revoked: the admin API refuses it from now on\n", a->name);
        }
    } else {
        st = adm_token_create(c, &who, a->name, a->scopes, a->n_scopes, &token);
        if (st == ADM_TOKEN_TAKEN) {
            fprintf(stderr, "annuaire admin token create: the name '%s' is taken\n", a->name);
        } else if (st == ADM_TOKEN_OK) {
            printf("%s\n", token);
            fprintf(stderr,
                    "admin token %s created; it is shown this once only (only its hash is "
                    "stored)\n",
                    a->name);
            OPENSSL_cleanse(token, strlen(token));
            free(token);
        }
    }
    if (st == ADM_TOKEN_DB) {
        fprintf(stderr, "annuaire admin token %s: %s\n", a->action, db_conn_error(c));
    }
    return st == ADM_TOKEN_OK ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
}

int
cmd_admin(int argc, char **argv)
{
    struct token_args a = { 0 };
    char err[512];
    struct cfg *cfg;
    struct db_conn *c;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CMD_EXIT_USAGE : CMD_EXIT_OK;
    }
    if (strcmp(argv[1], "token") != 0) {
        fprintf(stderr, "annuaire admin: expected 'token' (see annuaire admin --help)\n");
        return CMD_EXIT_USAGE;
    }
    rc = parse(argc - 1, argv + 1, &a);
    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("admin token", a.config);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    c = db_conn_open(&cfg->database, err, sizeof(err));
    store_init();
    adm_init();
    if (c == NULL) {
        fprintf(stderr, "annuaire admin token: %s\n", err);
        rc = CMD_EXIT_FAILURE;
    } else if (cmd_check_schema("admin token", c, a.config) != 0) {
        rc = CMD_EXIT_FAILURE;
    } else {
        rc = run(c, &a);
    }
    db_conn_close(c);
    cfg_free(cfg);
    return rc;
}
