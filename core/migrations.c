/*
 * Schema migrations (core/migrations.h): reads the version recorded in
 * annuaire.schema_version and applies the missing sql/ files, each in its own
 * transaction under a lock that serialises concurrent runs. Its statements are
 * in core/store.c.
 */
#include "core/migrations.h"

#include <stdbool.h>
#include <stdio.h>

#include "core/log.h"
#include "core/store.h"

int
mig_latest(void)
{
    return mig_n_files > 0 ? mig_files[mig_n_files - 1].version : 0;
}

static int
fail(struct db_conn *c, const char *what, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s: %s", what, db_conn_error(c));
    return -1;
}

int
mig_current(struct db_conn *c, int *out_version, char *err, size_t err_size)
{
    bool exists = false;

    store_init();
    *out_version = 0;
    if (store_schema_exists(c, &exists) < 0) {
        return fail(c, "cannot read the schema version", err, err_size);
    }
    if (exists && store_schema_version(c, out_version) < 0) {
        return fail(c, "cannot read the schema version", err, err_size);
    }
    return 0;
}

static int
apply_one(struct db_conn *c, const struct mig_file *m, int *applied, char *err, size_t err_size)
{
    char what[300];
    int current = 0;

    snprintf(what, sizeof(what), "migration %s", m->name);
    if (db_begin(c) < 0) {
        return fail(c, what, err, err_size);
    }
    if (store_schema_lock(c) < 0) {
        fail(c, what, err, err_size);
        goto rollback;
    }
    if (mig_current(c, &current, err, err_size) != 0) {
        goto rollback;
    }
    if (current >= m->version) {
        /* applied by a concurrent run */
        return db_commit(c) < 0 ? fail(c, what, err, err_size) : 0;
    }
    if (db_exec_script(c, m->sql) < 0 || store_schema_record(c, m->version, m->name) != 1) {
        fail(c, what, err, err_size);
        goto rollback;
    }
    if (db_commit(c) < 0) {
        return fail(c, what, err, err_size);
    }
    log_info("applied migration %s", m->name);
    (*applied)++;
    return 0;
rollback:
    db_rollback(c);
    return -1;
}

int
mig_apply(struct db_conn *c, int *n_applied, char *err, size_t err_size)
{
    int current = 0;

    *n_applied = 0;
    if (mig_current(c, &current, err, err_size) != 0) {
        return -1;
    }
    for (size_t i = 0; i < mig_n_files; i++) {
        if (mig_files[i].version > current &&
            apply_one(c, &mig_files[i], n_applied, err, err_size) != 0) {
            return -1;
        }
    }
    return 0;
}
