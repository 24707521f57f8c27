/*
 * Schema migrations: the sql/NNN_slug.sql files, compiled into the binary,
 * applied in order, each in its own transaction, recorded in
 * annuaire.schema_version.
 */
#ifndef ANN_CORE_MIGRATIONS_H
#define ANN_CORE_MIGRATIONS_H

#include <stddef.h>

#include "core/db.h"
#include "core/util.h"

struct mig_file {
    int version;
    const char *name;
    const char *sql;
};

/* Generated from sql/ at build time, sorted by version. */
extern const struct mig_file mig_files[];
extern const size_t mig_n_files;

/** The version this binary expects: the highest file's. */
int mig_latest(void);

/**
 * Reads the schema version of the database (0 when never migrated).
 * @param c  a standalone connection (db_conn_open)
 * @return 0, or -1 with a message in err
 */
int mig_current(struct db_conn *c, int *out_version, char *err, size_t err_size) ANN_MUST_CHECK;

/**
 * Applies every missing migration. Concurrent runs wait for each other.
 * @param c               a standalone connection (db_conn_open)
 * @param[out] n_applied  how many files were applied
 * @return 0, or -1 with a message in err (the failing file is rolled back)
 */
int mig_apply(struct db_conn *c, int *n_applied, char *err, size_t err_size) ANN_MUST_CHECK;

#endif
