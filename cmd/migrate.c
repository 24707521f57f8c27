/*
 * annuaire migrate: applies the schema migrations this binary carries, on a
 * standalone connection.
 */
#include <stdio.h>

#include "cmd/cmd.h"
#include "core/db.h"
#include "core/migrations.h"

static const char usage[] =
    "usage: annuaire migrate -c FILE\n\n"
    "Applies the database migrations this binary carries (sql/NNN_*.sql), in order,\n"
    "each in its own transaction. Running it again applies nothing.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -h, --help          this help\n";

int
cmd_migrate(int argc, char **argv)
{
    const char *path = NULL;
    int rc = cmd_parse_common("migrate", argc, argv, usage, &path);
    char err[512];
    struct cfg *cfg;
    struct db_conn *c = NULL;
    int applied = 0;
    int version = 0;

    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("migrate", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    rc = CMD_EXIT_FAILURE;
    c = db_conn_open(&cfg->database, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "annuaire migrate: %s\n", err);
        goto cleanup;
    }
    if (mig_apply(c, &applied, err, sizeof(err)) != 0 ||
        mig_current(c, &version, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire migrate: %s\n", err);
        goto cleanup;
    }
    printf("schema at version %d (%d migration%s applied)\n", version, applied,
           applied == 1 ? "" : "s");
    rc = CMD_EXIT_OK;
cleanup:
    db_conn_close(c);
    cfg_free(cfg);
    return rc;
}
