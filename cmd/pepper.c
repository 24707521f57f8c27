/*
 * annuaire pepper rotate -c FILE: replaces the lookup pepper and recomputes the lookup hash of
 * every association, in one transaction (with its pepper.rotated audit entry, actor cli:<login>);
 * clients holding the old pepper get M_INVALID_PEPPER.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/store.h"
#include "directory/directory.h"

static const char usage[] =
    "usage: annuaire pepper rotate -c FILE\n\n"
    "Replaces the pepper of the hashed lookup and recomputes the hash of every\n"
    "association, in one transaction. Clients holding the old pepper get\n"
    "M_INVALID_PEPPER and fetch the new one from /hash_details.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -h, --help          this help\n";

int
cmd_pepper(int argc, char **argv)
{
    const char *path = NULL;
    char err[512];
    char actor[128];
    long long n = 0;
    struct cfg *cfg;
    struct db_conn *c;
    int rc;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return CMD_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "rotate") != 0) {
        fprintf(stderr, "annuaire pepper: expected 'rotate' (see annuaire pepper --help)\n");
        return CMD_EXIT_USAGE;
    }
    rc = cmd_parse_common("pepper rotate", argc - 1, argv + 1, usage, &path);
    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("pepper rotate", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    rc = CMD_EXIT_FAILURE;
    audit_cli_actor(actor, sizeof(actor));
    c = db_conn_open(&cfg->database, err, sizeof(err));
    dir_init();
    store_init(); /* the audit entry's statement */
    if (c == NULL) {
        fprintf(stderr, "annuaire pepper rotate: %s\n", err);
    } else if (dir_pepper_rotate(c, AUDIT_CLI, actor, &n, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire pepper rotate: %s\n", err);
    } else {
        printf("pepper rotated, %lld association%s rehashed\n", n, n == 1 ? "" : "s");
        rc = CMD_EXIT_OK;
    }
    db_conn_close(c);
    cfg_free(cfg);
    return rc;
}
