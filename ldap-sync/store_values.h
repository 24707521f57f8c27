/*
 * Reading a result's values, shared by the sync's two store files (store.c, ops_store.c)
 * and only them: nothing else sees a PGresult.
 */
#ifndef ANN_LDAP_SYNC_STORE_VALUES_H
#define ANN_LDAP_SYNC_STORE_VALUES_H

#include <stdbool.h>

#include <libpq-fe.h>

/** The text at row, col; NULL for SQL NULL. */
const char *lsync_pg_value(const PGresult *res, int row, int col);

/** The integer at row, col; 0 for SQL NULL. */
long long lsync_pg_count(const PGresult *res, int row, int col);

/** Whether the boolean at row, col is true. */
bool lsync_pg_bool(const PGresult *res, int row, int col);

#endif
