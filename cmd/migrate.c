#include <stdio.h>

#include <libpq-fe.h>

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
    PGconn *pg = NULL;
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
    pg = db_connect_plain(&cfg->database, err, sizeof(err));
    if (pg == NULL) {
        fprintf(stderr, "annuaire migrate: %s", err);
        goto cleanup;
    }
    if (mig_apply(pg, &applied, err, sizeof(err)) != 0 ||
        mig_current(pg, &version, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire migrate: %s\n", err);
        goto cleanup;
    }
    printf("schema at version %d (%d migration%s applied)\n", version, applied,
           applied == 1 ? "" : "s");
    rc = CMD_EXIT_OK;
cleanup:
    PQfinish(pg);
    cfg_free(cfg);
    return rc;
}
