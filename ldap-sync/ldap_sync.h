/*
 * ldap-sync: reads each ministry's LDAP directory (paged) or LDIF export and
 * reconciles it into the annuaire, one transaction per source run, with a
 * deletion guard and soft deletes: a failed read changes nothing, and a cut LDIF
 * export is applied without anyone being marked missing.
 */
#ifndef ANN_LDAP_SYNC_LDAP_SYNC_H
#define ANN_LDAP_SYNC_LDAP_SYNC_H

#include <stdbool.h>
#include <stdio.h>

#include "core/cfg.h"

/** The configuration section of this module (sync, with its sources), for
 *  cfg_register() before cfg_load(). */
extern const struct cfg_section lsync_config_sections[];
extern const size_t lsync_config_n_sections;

struct db_conn;

/* Exit codes of `annuaire sync`, worst of all sources run. */
enum lsync_outcome {
    LSYNC_SUCCESS = 0,
    LSYNC_FAILED = 1,
    LSYNC_PARTIAL = 3, /* done, but some entries were rejected */
    LSYNC_REFUSED = 4, /* the deletion guard stopped it: nothing applied */
};

struct lsync_options {
    const char *source; /* NULL: every configured source */
    bool full;
    bool dry_run;
    bool allow_mass_delete;
};

/**
 * Runs one sync of each selected source, printing one summary line per source to out.
 * @return the worst outcome; LSYNC_FAILED with a message on err when a source is unknown
 */
enum lsync_outcome lsync_run(const struct cfg *cfg,
                             struct db_conn *db,
                             const struct lsync_options *opts,
                             FILE *out,
                             FILE *err);

/** Adds the sync state of every source to serve's /metrics (call before serving). */
void lsync_metrics_init(void);

/** Prints the latest runs of each source (sync --status). @return 0 or -1 */
int lsync_print_status(struct db_conn *db, FILE *out);

/** Registers the statements of `annuaire sync` (ldap-sync/store.c), which the
 *  command's connection (db_conn_open) prepares the first time each runs. Call once,
 *  before lsync_run or lsync_print_status. */
void lsync_init(void);

#endif
