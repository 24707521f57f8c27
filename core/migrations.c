#include "core/migrations.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* pg_advisory_xact_lock key serialising concurrent `annuaire migrate` runs. */
#define MIGRATE_LOCK_KEY "1634626677"

int
mig_latest(void)
{
    return mig_n_files > 0 ? mig_files[mig_n_files - 1].version : 0;
}

static int
fail_res(PGresult *res, PGconn *pg, const char *what, char *err, size_t err_size)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    snprintf(err, err_size, "%s: %s", what, msg ? msg : PQerrorMessage(pg));
    PQclear(res);
    return -1;
}

int
mig_current(PGconn *pg, int *out_version, char *err, size_t err_size)
{
    /* A catalog query, not to_regclass(): its cache may predate a concurrent migrate's commit. */
    PGresult *res = PQexecParams(pg,
                                 "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
                                 " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                                 " WHERE n.nspname = 'annuaire' AND c.relname = 'schema_version')",
                                 0, NULL, NULL, NULL, NULL, 0);
    bool exists;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        return fail_res(res, pg, "cannot read the schema version", err, err_size);
    }
    exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    *out_version = 0;
    if (!exists) {
        return 0;
    }
    res = PQexecParams(pg, "SELECT coalesce(max(version), 0) FROM annuaire.schema_version", 0, NULL,
                       NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        return fail_res(res, pg, "cannot read the schema version", err, err_size);
    }
    *out_version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int
exec_ok(PGconn *pg, const char *sql, const char *what, char *err, size_t err_size)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        return fail_res(res, pg, what, err, err_size);
    }
    PQclear(res);
    return 0;
}

static int
apply_one(PGconn *pg, const struct mig_file *m, int *applied, char *err, size_t err_size)
{
    char version[16];
    const char *params[2] = { version, m->name };
    char what[300];
    PGresult *res;
    int current = 0;

    snprintf(what, sizeof(what), "migration %s", m->name);
    if (exec_ok(pg, "BEGIN", what, err, err_size) != 0 ||
        exec_ok(pg, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", what, err, err_size) !=
            0 ||
        mig_current(pg, &current, err, err_size) != 0) {
        goto rollback;
    }
    if (current >= m->version) {
        return exec_ok(pg, "COMMIT", what, err, err_size); /* applied by a concurrent run */
    }
    /* Our own file, compiled in: may hold several statements, so PQexec. */
    if (exec_ok(pg, m->sql, what, err, err_size) != 0) {
        goto rollback;
    }
    snprintf(version, sizeof(version), "%d", m->version);
    res = PQexecParams(pg,
                       "INSERT INTO annuaire.schema_version (version, name, applied_at)"
                       " VALUES ($1, $2, now())",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_res(res, pg, what, err, err_size);
        goto rollback;
    }
    PQclear(res);
    if (exec_ok(pg, "COMMIT", what, err, err_size) != 0) {
        return -1;
    }
    log_info("applied migration %s", m->name);
    (*applied)++;
    return 0;
rollback:;
    PGresult *rb = PQexec(pg, "ROLLBACK");

    PQclear(rb);
    return -1;
}

int
mig_apply(PGconn *pg, int *n_applied, char *err, size_t err_size)
{
    int current = 0;

    *n_applied = 0;
    if (mig_current(pg, &current, err, err_size) != 0) {
        return -1;
    }
    for (size_t i = 0; i < mig_n_files; i++) {
        if (mig_files[i].version > current &&
            apply_one(pg, &mig_files[i], n_applied, err, err_size) != 0) {
            return -1;
        }
    }
    return 0;
}
