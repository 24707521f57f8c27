/*
 * The sync's database layer, private to ldap-sync/: every statement of
 * `annuaire sync`, of its --status and of its /metrics section, as named
 * statements run through db_exec, and the COPY that streams a read into the
 * database. The steps that take several statements are SQL functions of
 * sql/013_sync_steps.sql; those of the run lock, --retire and --conflicts are in
 * ops_store.c. No libpq result leaves them: callers get values, or a callback per row
 * whose strings are borrowed for the call.
 */
#ifndef ANN_LDAP_SYNC_STORE_H
#define ANN_LDAP_SYNC_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/db.h"
#include "core/util.h"
#include "ldap-sync/internal.h"

/** Registers the statements of `annuaire sync` (before its connection is opened). */
void lsync_store_init(void);

/** Registers the statement of the /metrics section (serve, before connecting). */
void lsync_store_metrics_init(void);

/* What a run starts from (annuaire_sync_begin). */
struct lsync_store_start {
    char *cookie;        /* stored with the source's data (owned), or NULL */
    bool full_due;       /* the last full read is older than full_every_hours */
    long long entries;   /* live entries after the last applied run */
    long long last_read; /* entries the last complete read found, or -1 */
    bool direct;         /* no entries yet: the read is copied straight into the table */
};

/**
 * Inside the run's transaction: creates or updates the source's row (name, ministry,
 * priority) and locks it, purges its entries soft-deleted more than purge_days ago
 * and, unless the run goes direct (direct_ok and no entries yet), creates the staging
 * table. full_due compares with src->ldap.full_every_hours.
 * @param[out] out  filled on success (lsync_store_start_clear)
 * @return 1, or < 0 (db_conn_error says why)
 */
enum db_status lsync_store_source_begin(struct db_conn *c,
                                        const struct lsync_source *src,
                                        long purge_days,
                                        bool direct_ok,
                                        struct lsync_store_start *out) ANN_MUST_CHECK;
void lsync_store_start_clear(struct lsync_store_start *s);

/* A COPY FROM STDIN under way: into the staging table, or straight into
 * directory_entries. */
struct lsync_copy;

/**
 * Starts the COPY (the rows' format: lsync_store_copy_field).
 * @return the COPY (lsync_store_copy_free), or NULL with err set
 */
struct lsync_copy *
lsync_store_copy_begin(struct db_conn *c, bool direct, char *err, size_t err_size);

/** Appends one field of a row in COPY's text format (NULL as \N); last ends the row. */
void lsync_store_copy_field(struct util_buf *rows, const char *s, bool last);

/**
 * Hands rows to the connection (rows is emptied) without waiting for PostgreSQL,
 * unless more than a bounded amount waits unsent, or drain: then until all is sent.
 * @return 0, or -1 with err set (the COPY is over)
 */
int lsync_store_copy_put(struct lsync_copy *cp,
                         struct util_buf *rows,
                         bool drain,
                         char *err,
                         size_t err_size) ANN_MUST_CHECK;

/**
 * Sends the rest of rows and ends the COPY.
 * @param[out] out_rows  the rows copied
 * @return 0, or -1 with err set
 */
int lsync_store_copy_end(struct lsync_copy *cp,
                         struct util_buf *rows,
                         long long *out_rows,
                         char *err,
                         size_t err_size) ANN_MUST_CHECK;

/** Whether the COPY failed on a key met twice (a direct COPY only). */
bool lsync_store_copy_duplicate(const struct lsync_copy *cp);

/** Ends a COPY still under way (the transaction is then to roll back) and frees. Takes
 *  NULL. */
void lsync_store_copy_free(struct lsync_copy *cp);

/* What applying the staged read would do (annuaire_sync_diff). */
struct lsync_store_diff {
    long long rejected; /* entries read twice, one of each kept */
    long long added, changed, removed;
    long long live_before;         /* the source's live entries */
    long long marks;               /* absent, not yet removed (m and k) */
    long long backs;               /* missing entries back, unchanged (v) */
    long long missing_unmentioned; /* missing that a run with delete_mode did not mention */
    long long marked;              /* missing from this run on (m) */
};

/* What to compare the staged read with. */
struct lsync_store_diff_in {
    const char *source;
    bool delete_mode; /* the server listed its deletions: what the read lacks is unchanged */
    int grace_runs, grace_seconds;
    long long entries; /* the source's live entries kept with it (for delete_mode) */
    bool bulk;         /* a big read, planned as one */
};

/**
 * Compares the staged read with the source's entries (sync_diff, the staging table
 * rid of keys read twice).
 * @return 1, or < 0
 */
enum db_status lsync_store_diff(struct db_conn *c,
                                const struct lsync_store_diff_in *in,
                                struct lsync_store_diff *out) ANN_MUST_CHECK;

/* A run to apply (annuaire_sync_apply). */
struct lsync_store_apply {
    const char *source;
    bool direct;                    /* copied straight into directory_entries */
    bool bulk;                      /* many changes: conflicts in one pass */
    bool removals, absences, backs; /* the diff found removals, absences, entries back */
    bool analyze;                   /* the table may have grown a lot */
    const char *cookie;             /* stored with the data, may be NULL */
    bool delete_mode;
    long long live; /* the source's live entries after the run */
    long long read; /* entries a complete read found, or -1 */
};

/** Applies the diff and updates the source's row. @return 1, or < 0 */
enum db_status lsync_store_apply(struct db_conn *c,
                                 const struct lsync_store_apply *in) ANN_MUST_CHECK;

typedef void (*lsync_store_conflict_fn)(void *ctx, const char *address, const char *claimed_by);

/**
 * The addresses live entries claim more than once that the run is concerned with (the
 * ones it touched, or with bulk every address of the source), ordered, each with its
 * claimants ("source:dn | ...").
 * @return how many (fn was called for each), or < 0
 */
enum db_status lsync_store_conflicts(struct db_conn *c,
                                     const char *source,
                                     bool bulk,
                                     lsync_store_conflict_fn fn,
                                     void *ctx) ANN_MUST_CHECK;

typedef int (*lsync_store_missing_fn)(void *ctx,
                                      const char *dn,
                                      const char *key,
                                      const char *since,
                                      int runs);

/**
 * The first limit entries of a source pending removal, the longest missing first.
 * fn gets the time in "YYYY-MM-DD HH24:MI:SS TZ" and the complete reads without the
 * entry; it returns 0 to go on, -1 to stop.
 * @return how many rows there were, or < 0 (also when fn stopped)
 */
enum db_status lsync_store_missing(struct db_conn *c,
                                   const char *source,
                                   int limit,
                                   lsync_store_missing_fn fn,
                                   void *ctx) ANN_MUST_CHECK;

/* One row of annuaire.sync_runs. */
struct lsync_store_run {
    const char *source, *mode, *status;
    const char *error; /* NULL: none */
    long long added, changed, removed, unchanged, rejected, conflicts, missing, dropped;
    long long read;                 /* entries a complete read found, -1: not a complete read */
    const char *report;             /* JSON array, NULL: [] */
    const char *actor_kind, *actor; /* who ran it (core/audit.h); NULL: the system */
};

/** Records a run and its sync.run audit entry (actor_kind and actor: NULL for the
 *  system), in one statement. @return 1, or < 0 */
enum db_status lsync_store_run_insert(struct db_conn *c,
                                      const struct lsync_store_run *run) ANN_MUST_CHECK;

/* A source and its last run, for sync --status: text as the database prints it, ""
 * for what is not there (no run yet). */
struct lsync_store_status {
    const char *source, *ministry, *entries;
    const char *mode, *status, *started_at;
    const char *added, *changed, *removed, *rejected, *conflicts, *error;
    const char *missing_now; /* entries pending removal now */
    const char *missing_run; /* ... after the last run */
    const char *retired_at;  /* when sync --retire retired it, "" when it was not */
};

typedef int (*lsync_store_status_fn)(void *ctx, const struct lsync_store_status *row);

/** Every source, by name, with its last run. fn returns 0 to go on, -1 to stop.
 *  @return how many sources, or < 0 (also when fn stopped) */
enum db_status
lsync_store_status(struct db_conn *c, lsync_store_status_fn fn, void *ctx) ANN_MUST_CHECK;

/* ---- What `annuaire sync` does besides a run (ldap-sync/ops_store.c) ---- */

/** Registers the statements below (with lsync_store_init, before connecting). */
void lsync_store_ops_init(void);

/**
 * Takes the run lock of a source (a session advisory lock, outside any transaction;
 * pg_try_advisory_lock, never waits).
 * @param[out] out_locked  whether this connection holds it now (false: another does)
 * @return 1, or < 0
 */
enum db_status
lsync_store_lock(struct db_conn *c, const char *source, bool *out_locked) ANN_MUST_CHECK;

/** Whether this connection's session holds the run lock of source (a reconnection
 *  since it was taken lost it). @return 1, or < 0 */
enum db_status
lsync_store_lock_held(struct db_conn *c, const char *source, bool *out_held) ANN_MUST_CHECK;

/** Releases the run lock of a source. @return 1, or < 0 */
enum db_status lsync_store_unlock(struct db_conn *c, const char *source) ANN_MUST_CHECK;

/**
 * Who holds the run lock of a source, as text for a message ("since <time>, held for
 * 1h02m03s, backend pid N, client <address>"): out is "" when nobody (or nobody visible) holds it.
 * @return rows (0 or 1), or < 0
 */
enum db_status lsync_store_lock_holder(struct db_conn *c,
                                       const char *source,
                                       char *out,
                                       size_t out_size) ANN_MUST_CHECK;

/** Counts a run of source not made because another run held its lock (sync_busy).
 *  @return 1, or < 0 */
enum db_status lsync_store_busy(struct db_conn *c, const char *source) ANN_MUST_CHECK;

/** When source was retired ("YYYY-MM-DD HH:MM:SS TZ" in out), out "" when it was not.
 *  @return rows (0: not retired, or unknown), or < 0 */
enum db_status lsync_store_retired(struct db_conn *c,
                                   const char *source,
                                   char *out,
                                   size_t out_size) ANN_MUST_CHECK;

/** In a run's transaction (sync --unretire): the source is no longer retired.
 *  @return rows updated (0 or 1), or < 0 */
enum db_status lsync_store_unretire(struct db_conn *c, const char *source) ANN_MUST_CHECK;

/** Deletes the entries of retired sources soft-deleted over purge_days ago.
 *  @return rows deleted, or < 0 */
enum db_status lsync_store_purge_retired(struct db_conn *c, long purge_days) ANN_MUST_CHECK;

/* What retiring a source would do (lsync_store_retire_preview). */
struct lsync_store_retire_preview {
    char retired_at[64]; /* when it was retired, "" when it is not */
    long long entries;   /* live entries, to be soft-deleted */
    long long addresses; /* their distinct addresses */
    long long bound;     /* ... bound to a Matrix ID */
    long long leaving;   /* ... that no other live, enabled entry holds: leavers */
    long long leaving_bound;
    long long resolved;      /* addresses claimed twice or more now, at most once after */
    long long annuaire_live; /* live entries of every source */
};

/** What retiring source would do. @return 1, DB_NO_ROWS when the database does not know
 *  the source, or < 0 */
enum db_status lsync_store_retire_preview(struct db_conn *c,
                                          const char *source,
                                          struct lsync_store_retire_preview *out) ANN_MUST_CHECK;

/** Inside a transaction: soft-deletes the live entries of source and marks it retired
 *  (annuaire_sync_retire). @param[out] out_removed the entries soft-deleted
 *  @return 1, or < 0 */
enum db_status
lsync_store_retire(struct db_conn *c, const char *source, long long *out_removed) ANN_MUST_CHECK;

/* One claim of an address more than one live entry claims: priority NULL when the
 * source has no row. fn returns 0 to go on, -1 to stop. */
typedef int (*lsync_store_claim_fn)(void *ctx,
                                    const char *address,
                                    const char *source,
                                    const char *priority,
                                    const char *key);

/** Every claim of an address claimed by more than one live entry, by address, each
 *  address's claimants in the owner's order (the first owns it).
 *  @return claims, or < 0 (also when fn stopped) */
enum db_status
lsync_store_conflict_list(struct db_conn *c, lsync_store_claim_fn fn, void *ctx) ANN_MUST_CHECK;

/* A source's state for /metrics: text, NULL for what is not there. */
struct lsync_store_metric {
    const char *source, *entries;
    const char *ended_at;     /* of the last run (epoch seconds), NULL: none */
    const char *status;       /* of the last run */
    const char *counts[6];    /* added, changed, removed, rejected, conflicts, missing */
    const char *last_success; /* end of the last run that applied, NULL: none */
    const char *busy;         /* runs not made: another run held the lock */
};

typedef void (*lsync_store_metric_fn)(void *ctx, const struct lsync_store_metric *row);

/** Every source not retired, by name. @return how many, or < 0 */
enum db_status
lsync_store_metrics(struct db_conn *c, lsync_store_metric_fn fn, void *ctx) ANN_MUST_CHECK;

/* ---- The search words of entries that have none (annuaire migrate, words.c) ---- */

/** Registers the two statements below (before the connection is opened). */
void lsync_store_words_init(void);

/* An entry without search words: its fields, borrowed for the call. */
struct lsync_store_words_row {
    long long id;
    struct lsync_words_in in;
};

typedef void (*lsync_store_words_fn)(void *ctx, const struct lsync_store_words_row *row);

/** The first limit entries after after_id (by id) whose search_words is NULL.
 *  @return how many (fn was called for each), or < 0 */
enum db_status lsync_store_words_pending(struct db_conn *c,
                                         long long after_id,
                                         int limit,
                                         lsync_store_words_fn fn,
                                         void *ctx) ANN_MUST_CHECK;

/**
 * Sets the search columns of n entries (ids as text; words and entity_words text[]
 * literals; names may hold NULL), in one statement, of those whose search_words is
 * still NULL.
 * @param[out] out_updated  the entries updated
 * @return the same count, or < 0
 */
enum db_status lsync_store_words_set(struct db_conn *c,
                                     const char *const *ids,
                                     const char *const *words,
                                     const char *const *entity_words,
                                     const char *const *names,
                                     size_t n,
                                     long long *out_updated) ANN_MUST_CHECK;

/* ---- The admin API's reads (registered by lsync_store_admin_init) ---- */

/** Registers the statements below (serve, before connecting). */
void lsync_store_admin_init(void);

/* A run as the admin API shows it: text, NULL for what is not there (id NULL: no run).
 * counts: added, changed, removed, unchanged, rejected, conflicts, missing, dropped,
 * entries_read. Times ISO 8601 UTC. */
struct lsync_store_run_row {
    const char *id, *mode, *status, *started_at, *ended_at, *error;
    const char *counts[9];
};

/* A source the database knows: text, NULL for what is not there (ministry and priority:
 * a source that never applied a run has no row). entries: live, disabled, hidden,
 * missing, deleted. conflicts: addresses its live entries share with another now. */
struct lsync_store_source_row {
    const char *name, *ministry, *priority, *last_full_at;
    const char *entries[5];
    const char *conflicts;
    struct lsync_store_run_row run; /* the last one */
};

typedef void (*lsync_store_source_fn)(void *ctx, const struct lsync_store_source_row *row);

/** Every source the database knows (rows or runs), by name. @return how many, or < 0 */
enum db_status
lsync_store_sources(struct db_conn *c, lsync_store_source_fn fn, void *ctx) ANN_MUST_CHECK;

typedef void (*lsync_store_run_fn)(void *ctx,
                                   const char *source,
                                   const struct lsync_store_run_row *row);

/** At most limit runs, newest first, of source (NULL: all), older than the run
 *  before_id (NULL: from the newest). @return how many, or < 0 */
enum db_status lsync_store_runs(struct db_conn *c,
                                const char *source,
                                const char *before_id,
                                long limit,
                                lsync_store_run_fn fn,
                                void *ctx) ANN_MUST_CHECK;

/* A directory entry holding an address: text, NULL for what is not there. */
struct lsync_store_entry_row {
    const char *source, *key, *dn, *ministry, *entity, *display_name, *title;
    bool disabled, hidden;
    const char *deleted_at;    /* NULL: not deleted */
    const char *missing_since; /* NULL: not pending removal */
    bool owner;                /* the entry the address belongs to */
};

typedef void (*lsync_store_entry_fn)(void *ctx, const struct lsync_store_entry_row *row);

/** The first limit entries holding address (canonical), live ones first in the owner's
 *  order. @return how many, or < 0 */
enum db_status lsync_store_entries(struct db_conn *c,
                                   const char *address,
                                   int limit,
                                   lsync_store_entry_fn fn,
                                   void *ctx) ANN_MUST_CHECK;

#endif
