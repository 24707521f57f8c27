/*
 * Core's store: every statement core runs itself, as named prepared statements
 * (store_init registers them): the mail outbox (annuaire.mail_outbox) that
 * core/mail.c queues and sends from, the reads the queue worker (core/worker.c)
 * makes for any queue, and the schema_version bookkeeping of core/migrations.c.
 * With core/db.c, the only file of core that sees libpq.
 */
#ifndef ANN_CORE_STORE_H
#define ANN_CORE_STORE_H

#include <stdbool.h>

#include "core/db.h"

/** Registers the statements below, once whoever calls it first (thread-safe). */
void store_init(void);

/* ---- The mail outbox ---- */

/* Statements a worker runs by name for the outbox (struct worker_spec). */
#define STORE_MAIL_LISTEN   "store_mail_listen"
#define STORE_MAIL_NEXT_DUE "store_mail_next_due"

/* One claimed mail; strings owned (store_mail_claim_clear). */
struct mail_claim {
    char *id;
    char *attempt; /* the claim's number: outcomes are recorded only under it */
    char *recipient;
    char *message;
    char *message_id; /* NULL for mail queued before it was stored */
};

/** Frees what the claim holds; takes storage that was never filled (zeroed). */
void store_mail_claim_clear(struct mail_claim *m);

/**
 * Inserts a message and notifies the senders (NOTIFY annuaire_outbox on commit).
 * @param message_id  its Message-ID header, or NULL
 * @param invite_id   the invitation it is the mail of (annuaire.invites.id), or NULL
 * @return 1, or DB_SOFT / DB_HARD
 */
enum db_status store_mail_queue(struct db_conn *c,
                                const char *recipient,
                                const char *kind,
                                const char *message,
                                const char *message_id,
                                const char *invite_id) ANN_MUST_CHECK;

/**
 * Claims the mail due first that nobody holds, for lease_s seconds.
 * @param[out] out  the mail when 1 is returned
 * @return 1 (claimed), DB_NO_ROWS (nothing due), DB_SOFT / DB_HARD
 */
enum db_status
store_mail_claim(struct db_conn *c, long lease_s, struct mail_claim *out) ANN_MUST_CHECK;

/**
 * Marks a claimed mail sent and forgets its text.
 * @return 1, DB_NO_ROWS when the claim was no longer ours (its lease ran out and
 *         another sender took it, or it was sent already), DB_SOFT / DB_HARD
 */
enum db_status store_mail_sent(struct db_conn *c, const struct mail_claim *m) ANN_MUST_CHECK;

/**
 * Releases a claimed mail after a failed delivery: next attempt after
 * base_delay_s * 2^failures seconds (at most one hour).
 * @param relay_silent  the relay did not answer (no connection, timeout)
 * @return 1, DB_NO_ROWS when the claim was no longer ours, DB_SOFT / DB_HARD
 */
enum db_status store_mail_failed(struct db_conn *c,
                                 const struct mail_claim *m,
                                 const char *error,
                                 long base_delay_s,
                                 bool relay_silent) ANN_MUST_CHECK;

/**
 * After a delivery succeeded: the mails waiting because the relay did not answer
 * are due now, their backoff reset.
 * @return how many, or DB_SOFT / DB_HARD
 */
enum db_status store_mail_relay_back(struct db_conn *c) ANN_MUST_CHECK;

/* ---- Any queue a worker drains ---- */

/**
 * Runs a queue's next-due statement (registered by the queue's module): no
 * parameter, one row with a column due_ms, the milliseconds until its next row
 * is due (NULL when none is queued).
 * @param[out] out_ms  the value (0 when a row is due already), -1 when NULL
 * @return 1, or DB_SOFT / DB_HARD
 */
enum db_status
store_queue_next_due(struct db_conn *c, const char *stmt, long *out_ms) ANN_MUST_CHECK;

/* ---- Shared rate limits (annuaire.rate_buckets) ---- */

/**
 * Takes one token, in one atomic statement, from the bucket of a limit and a key that
 * holds at most burst tokens and gets one back every interval_ms (a new one starts full).
 * @param key_hash_hex  the HMAC-SHA256 of the limit's name and the key, 64 hex digits
 * @param[out] out_granted   whether a token was taken
 * @param[out] out_retry_ms  when refused, the milliseconds until one is back; else 0
 * @return 1, or DB_SOFT / DB_HARD
 */
enum db_status store_rate_take(struct db_conn *c,
                               const char *name,
                               const char *key_hash_hex,
                               long burst,
                               long interval_ms,
                               bool *out_granted,
                               long *out_retry_ms) ANN_MUST_CHECK;

/**
 * Deletes up to batch buckets that are full again, skipping those a take holds (one
 * statement, autocommit). @return how many, or DB_SOFT / DB_HARD
 */
enum db_status store_rate_sweep(struct db_conn *c, long batch) ANN_MUST_CHECK;

/* ---- Schema versions (annuaire.schema_version) ---- */

/**
 * Whether annuaire.schema_version exists (from the catalog: a migrate that has just
 * committed in another session is seen).
 * @return 1, or DB_SOFT / DB_HARD
 */
enum db_status store_schema_exists(struct db_conn *c, bool *out_exists) ANN_MUST_CHECK;

/** The highest version recorded (0 when none). @return 1, or DB_SOFT / DB_HARD */
enum db_status store_schema_version(struct db_conn *c, int *out_version) ANN_MUST_CHECK;

/**
 * Waits for the lock that serialises concurrent migrate runs, held until the
 * transaction ends. @return 1, or DB_SOFT / DB_HARD
 */
enum db_status store_schema_lock(struct db_conn *c) ANN_MUST_CHECK;

/** Records a migration file as applied. @return 1, or DB_SOFT / DB_HARD */
enum db_status store_schema_record(struct db_conn *c, int version, const char *name) ANN_MUST_CHECK;

/* ---- The audit log (core/audit.h writes through these) ---- */

/** One entry; object_kind, object_id and details (a JSON object as text) may be NULL.
 *  @return 1, or DB_SOFT / DB_HARD */
enum db_status store_audit_insert(struct db_conn *c,
                                  const char *actor_kind,
                                  const char *actor,
                                  const char *action,
                                  const char *object_kind,
                                  const char *object_id,
                                  const char *outcome,
                                  const char *details) ANN_MUST_CHECK;

/** Deletes the entries older than retention_days. @return the rows deleted (>= 0 as
 *  db_exec counts them), or DB_SOFT / DB_HARD */
enum db_status store_audit_purge(struct db_conn *c, long retention_days) ANN_MUST_CHECK;

/* Which entries store_audit_list gives: each filter that is not NULL must match. */
struct store_audit_filter {
    const char *action, *actor, *object_kind, *object_id;
    long long since;       /* entries at or after this time (epoch seconds); -1: any */
    const char *before_id; /* entries older than this id (the cursor), or NULL */
    long limit;            /* at most this many */
};

/* One entry as listed; strings borrowed for the call. at: ISO 8601 UTC; object_kind and
 * object_id NULL when the entry has none; details: a JSON object as text. */
struct store_audit_row {
    const char *id, *at, *actor_kind, *actor, *action, *object_kind, *object_id, *outcome;
    const char *details;
};

typedef void (*store_audit_fn)(void *arg, const struct store_audit_row *row);

/** The entries f selects, newest first (by id), fn called for each.
 *  @return how many, or DB_SOFT / DB_HARD */
enum db_status store_audit_list(struct db_conn *c,
                                const struct store_audit_filter *f,
                                store_audit_fn fn,
                                void *arg) ANN_MUST_CHECK;

#endif
