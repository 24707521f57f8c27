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

#include <jansson.h>

#include "core/cfg.h"
#include "core/db.h"

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
    LSYNC_REFUSED = 4, /* a guard stopped it, or the source is retired: nothing applied */
    LSYNC_BUSY = 5,    /* another run of the source holds its lock: not run */
};

struct lsync_options {
    const char *source; /* NULL: every configured source */
    bool full;
    bool dry_run;
    bool allow_mass_delete;
    bool unretire; /* a source sync --retire retired runs again (else refused) */
    /* Who runs it, for the sync.run audit entry of each source run (core/audit.h):
     * NULL for the system. */
    const char *actor_kind, *actor;
};

/**
 * Runs one sync of each selected source, printing one summary line per source to out.
 * Each source runs under its run lock (a PostgreSQL session advisory lock on its name):
 * a source another run holds is not run (LSYNC_BUSY, said on err and counted), the
 * others are; a source sync --retire retired is refused unless opts->unretire.
 * @return the worst outcome (failed, refused, partial, busy, success); LSYNC_FAILED
 *         with a message on err when the source asked for is not configured
 */
enum lsync_outcome lsync_run(const struct cfg *cfg,
                             struct db_conn *db,
                             const struct lsync_options *opts,
                             FILE *out,
                             FILE *err);

/** Adds the sync state of every source to serve's /metrics (call before serving). */
void lsync_metrics_init(void);

/** Prints the latest runs of each source (sync --status), saying which ones are no
 *  longer in cfg's sync.sources (retired, or to retire) and which configured ones have
 *  not run yet. @return 0 or -1 */
int lsync_print_status(const struct cfg *cfg, struct db_conn *db, FILE *out);

/**
 * Whether opts->source (NULL: any) names a configured source; when not, says so on err
 * ("annuaire sync: no source named 'x' in sync.sources (configured: a, b)").
 * @return 0 or -1
 */
int lsync_check_source(const struct cfg *cfg, const char *source, FILE *err);

/**
 * Checks that the LDIF file of each source (only source's when not NULL) exists, is
 * not a directory and is readable (without opening it: it may be a FIFO), one line on
 * err for each that is not:
 * "<prefix>: <config_path>: sync.sources[N].ldif: source 'x': cannot read <path>: <why>".
 * @return how many sources failed the check (0: all fine)
 */
int lsync_check_files(const struct cfg *cfg,
                      const char *source,
                      const char *prefix,
                      const char *config_path,
                      FILE *err);

/**
 * annuaire sync --retire: a source the database knows that is no longer in cfg's
 * sync.sources. With opts->dry_run, says what retiring would do (entries soft-deleted,
 * their addresses, bound ones, leavers, conflicts ended) and changes nothing; else
 * soft-deletes its live entries, marks it retired, and records the run with its
 * sync.run audit entry (mode "retire"), in one transaction under the source's run lock.
 * Retiring more than sync.max_delete_percent of the annuaire's live entries (every
 * source's) needs opts->allow_mass_delete.
 * @return LSYNC_SUCCESS, LSYNC_REFUSED (the guard), LSYNC_BUSY, or LSYNC_FAILED (also
 *         for a name still configured or unknown to the database; said on err)
 */
enum lsync_outcome lsync_retire(const struct cfg *cfg,
                                struct db_conn *db,
                                const char *name,
                                const struct lsync_options *opts,
                                FILE *out,
                                FILE *err);

/**
 * annuaire sync --conflicts: each address more than one live entry claims, with its
 * claimants (source, priority, key) in the owner's order, the owner first (the lowest
 * priority number, then the source name, then the key: annuaire.directory_owner).
 * @return 0 or -1
 */
int lsync_print_conflicts(const struct cfg *cfg, struct db_conn *db, FILE *out);

/* ---- The sync's state for the admin API (ldap-sync/admin.c) ---- */

/** Registers the statements of the reads below (serve, before connecting). */
void lsync_admin_init(void);

/**
 * Every source, as a JSON array (owned, *out): each configured one of cfg, in its order,
 * then each the database knows that is no longer configured ("configured": false); with
 * its ministry, priority, entries (live, disabled, hidden, missing, deleted), the
 * addresses its live entries share with another live entry now (conflicts) and its last
 * run (null when none).
 * @return how many sources the database knows, or DB_SOFT / DB_HARD (*out NULL)
 */
enum db_status
lsync_admin_sources(const struct cfg *cfg, struct db_conn *db, json_t **out) ANN_MUST_CHECK;

/**
 * At most limit runs, newest first, of source (NULL: every source), older than the run
 * whose id is before_id (NULL: from the newest), as a JSON array (owned, *out).
 * @return runs read, or DB_SOFT / DB_HARD (*out NULL)
 */
enum db_status lsync_admin_runs(struct db_conn *db,
                                const char *source,
                                const char *before_id,
                                long limit,
                                json_t **out) ANN_MUST_CHECK;

/**
 * The directory entries holding address (in its canonical form), live ones first, as a
 * JSON array (owned, *out_entries), with the one that owns it (annuaire.directory_owner's
 * rule) in *out_owner (owned, {"source", "key"}; NULL when no live entry holds it) and
 * whether more than one live entry claims it.
 * @return entries found (0: none), or DB_SOFT / DB_HARD (outputs NULL)
 */
enum db_status lsync_admin_entries(struct db_conn *db,
                                   const char *address,
                                   json_t **out_entries,
                                   json_t **out_owner,
                                   bool *out_conflict) ANN_MUST_CHECK;

/** Registers the statements of `annuaire sync` (ldap-sync/store.c), which the
 *  command's connection (db_conn_open) prepares the first time each runs. Call once,
 *  before lsync_run or lsync_print_status. */
void lsync_init(void);

/* ---- The search words of entries stored before they existed (annuaire migrate) ---- */

/** Registers the statements of lsync_words_fill (before its connection is opened). */
void lsync_words_init(void);

/**
 * Fills the search columns (sql/019_search.sql) of every entry that has none
 * (search_words IS NULL), with the words a sync would compute, in transactions of a few
 * thousand entries, by id. An entry a sync writes meanwhile keeps what the sync wrote.
 * @param[out] out_filled  the entries filled
 * @return 0, or -1 with err set (the batches committed before stay)
 */
int lsync_words_fill(struct db_conn *db, long long *out_filled, char *err, size_t err_size)
    ANN_MUST_CHECK;

#endif
