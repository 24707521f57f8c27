/*
 * annuaire invite -c FILE: VIP invitations for operators without HTTP, with the admin
 * API's logic (admin/invitations.c), the actor being the command line's user (cli). An
 * invitation ADDRESS is created and its mail queued in the database, where a running
 * serve sends it; --list, --show ID, --resend ID and --revoke ID act on every invitation.
 * Output for people, or the admin API's JSON with --json.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "cmd/cmd.h"
#include "core/audit.h"
#include "core/mail.h"
#include "core/util.h"
#include "directory/directory.h"
#include "enroll/enroll.h"
#include "routing/routing.h"

static const char usage[] =
    "usage: annuaire invite -c FILE ADDRESS [--note TEXT] [--expires 30d] [--inviter NAME]\n"
    "                       [--lang fr|en] [--json]\n"
    "       annuaire invite -c FILE --list [--state S] [--kind K] [--address A] [--limit N]\n"
    "                       [--from CURSOR] [--json]\n"
    "       annuaire invite -c FILE --show ID | --resend ID | --revoke ID [--json]\n\n"
    "VIP invitations, as the admin API makes them (POST /_annuaire/admin/v1/invitations):\n"
    "the address in its canonical form, for the homeserver routing gives it, with its mail\n"
    "queued in the database: a running 'annuaire serve' sends it. The audit log names the\n"
    "command line's user (cli:<login>).\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "      --note TEXT     shown in the mail (at most 500 characters, one line)\n"
    "      --expires D     validity: 3600, 3600s, 90m, 12h or 30d (default 30d, at most 365d)\n"
    "      --inviter NAME  who invites, as the mail shows it (default: your login name)\n"
    "      --lang L        the mail's language: fr (default) or en\n"
    "      --list          the invitations, room and VIP ones, newest first\n"
    "      --state S       with --list: pending, used, expired or revoked\n"
    "      --kind K        with --list: room or vip\n"
    "      --address A     with --list: the invitations of that address\n"
    "      --limit N       with --list: at most N (1 to 500, default 50)\n"
    "      --from CURSOR   with --list: the page after the one that printed CURSOR\n"
    "      --show ID       one invitation\n"
    "      --resend ID     queue the mail of a pending VIP invitation again\n"
    "      --revoke ID     revoke a pending invitation (room or VIP)\n"
    "      --json          the admin API's JSON, for scripts\n"
    "  -h, --help          this help\n";

enum action {
    A_CREATE,
    A_LIST,
    A_SHOW,
    A_RESEND,
    A_REVOKE,
};

struct invite_args {
    const char *config;
    enum action action;
    int n_actions;
    const char *id;
    struct adm_invite_in create;
    const char *expires;
    struct adm_invite_query list;
    bool json;
    bool list_only; /* a --list option was given */
};

static void
set_action(struct invite_args *a, enum action action, const char *id)
{
    a->action = action;
    a->id = id;
    a->n_actions++;
}

/* @return -1 to go on, otherwise the exit code */
static int
parse(int argc, char **argv, struct invite_args *a)
{
    enum {
        O_NOTE = 256,
        O_EXPIRES,
        O_INVITER,
        O_LANG,
        O_LIST,
        O_STATE,
        O_KIND,
        O_ADDRESS,
        O_LIMIT,
        O_FROM,
        O_SHOW,
        O_RESEND,
        O_REVOKE,
        O_JSON
    };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "note", required_argument, NULL, O_NOTE },
        { "expires", required_argument, NULL, O_EXPIRES },
        { "inviter", required_argument, NULL, O_INVITER },
        { "lang", required_argument, NULL, O_LANG },
        { "list", no_argument, NULL, O_LIST },
        { "state", required_argument, NULL, O_STATE },
        { "kind", required_argument, NULL, O_KIND },
        { "address", required_argument, NULL, O_ADDRESS },
        { "limit", required_argument, NULL, O_LIMIT },
        { "from", required_argument, NULL, O_FROM },
        { "show", required_argument, NULL, O_SHOW },
        { "resend", required_argument, NULL, O_RESEND },
        { "revoke", required_argument, NULL, O_REVOKE },
        { "json", no_argument, NULL, O_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool create_opt = false;
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case O_NOTE:
            a->create.note = optarg;
            create_opt = true;
            break;
        case O_EXPIRES:
            a->expires = optarg;
            create_opt = true;
            break;
        case O_INVITER:
            a->create.inviter = optarg;
            create_opt = true;
            break;
        case O_LANG:
            a->create.lang = optarg;
            create_opt = true;
            break;
        case O_LIST:
            set_action(a, A_LIST, NULL);
            break;
        case O_STATE:
            a->list.state = optarg;
            a->list_only = true;
            break;
        case O_KIND:
            a->list.kind = optarg;
            a->list_only = true;
            break;
        case O_ADDRESS:
            a->list.address = optarg;
            a->list_only = true;
            break;
        case O_LIMIT:
            a->list.limit = optarg;
            a->list_only = true;
            break;
        case O_FROM:
            a->list.from = optarg;
            a->list_only = true;
            break;
        case O_SHOW:
            set_action(a, A_SHOW, optarg);
            break;
        case O_RESEND:
            set_action(a, A_RESEND, optarg);
            break;
        case O_REVOKE:
            set_action(a, A_REVOKE, optarg);
            break;
        case O_JSON:
            a->json = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return CMD_EXIT_OK;
        case ':':
            return cmd_usage_error("invite", "option '%s' needs an argument", argv[optind - 1]);
        default:
            return cmd_usage_error("invite", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (a->n_actions > 1) {
        return cmd_usage_error("invite", "one of --list, --show, --resend and --revoke at a time");
    }
    if (a->n_actions == 0) {
        if (optind >= argc) {
            return cmd_usage_error("invite",
                                   "an ADDRESS to invite, or --list, --show, --resend or --revoke");
        }
        a->action = A_CREATE;
        a->create.address = argv[optind++];
    }
    if (optind < argc) {
        return cmd_usage_error("invite", "unexpected argument '%s'", argv[optind]);
    }
    if (a->config == NULL) {
        return cmd_usage_error("invite", "-c FILE is required");
    }
    if (create_opt && a->action != A_CREATE) {
        return cmd_usage_error("invite",
                               "--note, --expires, --inviter and --lang are for a new invitation");
    }
    if (a->list_only && a->action != A_LIST) {
        return cmd_usage_error("invite",
                               "--state, --kind, --address, --limit and --from go with --list");
    }
    if (a->expires != NULL && (a->create.expires_in = adm_duration_parse(a->expires)) < 0) {
        return cmd_usage_error(
            "invite", "--expires '%s': 3600, 3600s, 90m, 12h or 30d, at most a year", a->expires);
    }
    return -1;
}

/* The string key of o with its control characters escaped (util_esc_text), "-" when there
 * is none: every text from the database goes out through this. @return owned by the caller */
static char *
or_dash(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return util_esc_text(s != NULL ? s : "-");
}

static void
print_one(const json_t *inv)
{
    static const char *const keys[] = { "kind",       "address",    "homeserver", "state",
                                        "created_at", "expires_at", "inviter",    "note",
                                        "created_by", "room_id",    "sender",     "last_mailed_at",
                                        "used_at",    "used_by",    "revoked_at", "revoked_by" };
    char *v = or_dash(inv, "id");

    printf("invitation %s\n", v);
    free(v);
    for (size_t i = 0; i < ANN_ARRAY_LEN(keys); i++) {
        if (json_is_string(json_object_get(inv, keys[i]))) {
            v = or_dash(inv, keys[i]);
            printf("  %-15s %s\n", keys[i], v);
            free(v);
        }
    }
    printf("  %-15s %lld\n", "mailed_count",
           (long long)json_integer_value(json_object_get(inv, "mailed_count")));
}

static void
print_list(const json_t *page)
{
    static const char *const keys[] = {
        "id", "kind", "state", "address", "expires_at", "homeserver"
    };
    const json_t *items = json_object_get(page, "invitations");
    char *v[ANN_ARRAY_LEN(keys)];
    size_t i;
    json_t *inv;

    if (json_array_size(items) == 0) {
        puts("no invitation");
    } else {
        printf("%-10s %-5s %-8s %-40s %-24s %s\n", "ID", "KIND", "STATE", "ADDRESS", "EXPIRES",
               "HOMESERVER");
    }
    json_array_foreach (items, i, inv) {
        for (size_t k = 0; k < ANN_ARRAY_LEN(keys); k++) {
            v[k] = or_dash(inv, keys[k]);
        }
        printf("%-10s %-5s %-8s %-40s %-24s %s\n", v[0], v[1], v[2], v[3], v[4], v[5]);
        for (size_t k = 0; k < ANN_ARRAY_LEN(keys); k++) {
            free(v[k]);
        }
    }
    if (json_is_string(json_object_get(page, "next"))) {
        char *next = or_dash(page, "next");

        printf("more: --from %s\n", next);
        free(next);
    }
}

/* Prints what the action came to. @return the exit code */
static int
report(const struct invite_args *a, enum adm_inv_status st, const json_t *out, const char *why)
{
    const char *id = a->id != NULL ? a->id : "";
    char *found = NULL; /* escaped text of out, for a message */

    if (st == ADM_INV_OK) {
        if (a->json) {
            char *text = json_dumps(out, JSON_INDENT(2));

            puts(text);
            free(text);
        } else if (a->action == A_LIST) {
            print_list(out);
        } else {
            print_one(out);
        }
        if (!a->json && (a->action == A_CREATE || a->action == A_RESEND)) {
            printf("the mail is queued in the database: a running 'annuaire serve' sends it\n");
        }
        return CMD_EXIT_OK;
    }
    switch (st) {
    case ADM_INV_BAD_EMAIL:
        fprintf(stderr, "annuaire invite: '%s' is not a valid e-mail address: %s\n",
                a->action == A_LIST ? a->list.address : a->create.address, why);
        break;
    case ADM_INV_BAD_PARAM:
        fprintf(stderr, "annuaire invite: %s\n", why);
        break;
    case ADM_INV_NO_ROUTE:
        fprintf(stderr, "annuaire invite: no homeserver takes '%s': %s\n", a->create.address, why);
        break;
    case ADM_INV_BOUND:
        fprintf(stderr, "annuaire invite: '%s' is already bound to a Matrix ID\n",
                a->create.address);
        break;
    case ADM_INV_PENDING:
        found = or_dash(out, "id");
        fprintf(stderr,
                "annuaire invite: a VIP invitation to '%s' is pending already (id %s): use "
                "--resend %s to mail it again\n",
                a->create.address, found, found);
        break;
    case ADM_INV_NOT_FOUND:
        fprintf(stderr, "annuaire invite: no invitation '%s'\n", id);
        break;
    case ADM_INV_NOT_PENDING:
        found = or_dash(out, "state");
        fprintf(stderr, "annuaire invite: invitation %s is %s: only a pending one can be %s\n", id,
                found, a->action == A_RESEND ? "resent" : "revoked");
        break;
    case ADM_INV_ROOM:
        fprintf(stderr,
                "annuaire invite: invitation %s is a room invitation: it cannot be resent (its "
                "mail carries a one-time key that is not kept)\n",
                id);
        break;
    default:
        fprintf(stderr, "annuaire invite: the database did not answer\n");
        break;
    }
    free(found);
    return CMD_EXIT_FAILURE;
}

static int
run(struct db_conn *c, const struct cfg *cfg, struct invite_args *a, const char *login)
{
    char actor[128];
    const struct adm_actor who = { AUDIT_CLI, actor };
    struct routing_map *routing = NULL;
    char err[512];
    json_t *out = NULL;
    const char *why = NULL;
    enum adm_inv_status st;
    int rc;

    audit_cli_actor(actor, sizeof(actor));
    switch (a->action) {
    case A_CREATE:
        if (enr_templates_use(err, sizeof(err)) != 0) {
            fprintf(stderr, "annuaire invite: %s\n", err);
            return CMD_EXIT_FAILURE;
        }
        if (cfg->routing.info_file != NULL &&
            (routing = routing_load(cfg->routing.info_file, &cfg->routing, err, sizeof(err))) ==
                NULL) {
            fprintf(stderr, "annuaire invite: %s\n", err);
            return CMD_EXIT_FAILURE;
        }
        if (a->create.inviter == NULL) {
            a->create.inviter = login;
        }
        st = adm_invitation_create(c, routing, &who, &a->create, &out, &why);
        routing_release(routing);
        break;
    case A_LIST:
        st = adm_invitation_list(c, &a->list, &out, &why);
        break;
    case A_SHOW:
        st = adm_invitation_find(c, a->id, &out);
        break;
    case A_RESEND:
        if (enr_templates_use(err, sizeof(err)) != 0) {
            fprintf(stderr, "annuaire invite: %s\n", err);
            return CMD_EXIT_FAILURE;
        }
        st = adm_invitation_resend(c, &who, a->id, &out);
        break;
    default:
        st = adm_invitation_revoke(c, &who, a->id, &out);
        break;
    }
    rc = report(a, st, out, why);
    json_decref(out);
    return rc;
}

int
cmd_invite(int argc, char **argv)
{
    struct invite_args a = { 0 };
    char err[512];
    char actor[128];
    struct cfg *cfg;
    struct db_conn *c;
    int rc = parse(argc, argv, &a);

    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("invite", a.config);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    cfg_install(cfg); /* the mail's sender, brand and templates_dir are read from it */
    c = db_conn_open(&cfg->database, err, sizeof(err));
    mail_init();
    dir_init();
    adm_init();
    audit_cli_actor(actor, sizeof(actor));
    if (c == NULL) {
        fprintf(stderr, "annuaire invite: %s\n", err);
        rc = CMD_EXIT_FAILURE;
    } else if (cmd_check_schema("invite", c, a.config) != 0) {
        rc = CMD_EXIT_FAILURE;
    } else {
        /* The default inviter: the login name of "cli:<login>". */
        rc = run(c, cfg, &a, strncmp(actor, "cli:", 4) == 0 ? actor + 4 : actor);
    }
    db_conn_close(c);
    enr_shutdown();
    cfg_uninstall();
    return rc;
}
