/*
 * annuaire migrate: applies the schema migrations this binary carries, on a
 * standalone connection, then fills the search words of the entries stored before
 * they existed (ldap-sync/words.c, the code the sync computes them with).
 */
#include <stdio.h>

#include "cmd/cmd.h"
#include "core/db.h"
#include "core/migrations.h"
#include "ldap-sync/ldap_sync.h"

static const char usage[] =
    "usage: annuaire migrate -c FILE\n\n"
    "Applies the database migrations this binary carries (sql/NNN_*.sql), in order,\n"
    "each in its own transaction, then fills the search words of the directory\n"
    "entries that have none (stored before migration 019), a few thousand per\n"
    "transaction. Running it again applies and fills nothing.\n\n"
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
    long long filled = 0;

    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("migrate", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    rc = CMD_EXIT_FAILURE;
    lsync_words_init();
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
    fflush(stdout);
    if (lsync_words_fill(c, &filled, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire migrate: search words: %s\n", err);
        goto cleanup;
    }
    printf("search words filled for %lld entr%s\n", filled, filled == 1 ? "y" : "ies");
    rc = CMD_EXIT_OK;
cleanup:
    db_conn_close(c);
    cfg_free(cfg);
    return rc;
}
