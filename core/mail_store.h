/*
 * The outbox table (annuaire.mail_outbox), for core/mail.c only: every
 * statement the mail queue and its sender run, as named prepared statements.
 */
#ifndef ANN_CORE_MAIL_STORE_H
#define ANN_CORE_MAIL_STORE_H

#include <stdbool.h>

#include "core/db.h"

/* One claimed mail; strings owned (mail_claim_clear). */
struct mail_claim {
    char *id;
    char *attempt; /* the claim's number: outcomes are recorded only under it */
    char *recipient;
    char *message;
    char *message_id; /* NULL for mail queued before it was stored */
};

/** Frees what the claim holds; takes storage that was never filled (zeroed). */
void mail_claim_clear(struct mail_claim *m);

/** Registers the statements below (on every connection). */
void mail_store_init(void);

/**
 * Inserts a message and notifies the senders (NOTIFY annuaire_outbox on commit).
 * @param message_id  its Message-ID header, or NULL
 * @return 1, or DB_SOFT / DB_HARD
 */
enum db_status mail_store_queue(struct db_conn *c,
                                const char *recipient,
                                const char *kind,
                                const char *message,
                                const char *message_id) ANN_MUST_CHECK;

/**
 * Claims the mail due first that nobody holds, for lease_s seconds.
 * @param[out] out  the mail when 1 is returned
 * @return 1 (claimed), DB_NO_ROWS (nothing due), DB_SOFT / DB_HARD
 */
enum db_status
mail_store_claim(struct db_conn *c, long lease_s, struct mail_claim *out) ANN_MUST_CHECK;

/**
 * Marks a claimed mail sent and forgets its text.
 * @return 1, DB_NO_ROWS when the claim was no longer ours (its lease ran out and
 *         another sender took it, or it was sent already), DB_SOFT / DB_HARD
 */
enum db_status mail_store_sent(struct db_conn *c, const struct mail_claim *m) ANN_MUST_CHECK;

/**
 * Releases a claimed mail after a failed delivery: next attempt after
 * base_delay_s * 2^failures seconds (at most one hour).
 * @param relay_silent  the relay did not answer (no connection, timeout)
 * @return 1, DB_NO_ROWS when the claim was no longer ours, DB_SOFT / DB_HARD
 */
enum db_status mail_store_failed(struct db_conn *c,
                                 const struct mail_claim *m,
                                 const char *error,
                                 long base_delay_s,
                                 bool relay_silent) ANN_MUST_CHECK;

/**
 * After a delivery succeeded: the mails waiting because the relay did not answer
 * are due now, their backoff reset.
 * @return how many, or DB_SOFT / DB_HARD
 */
enum db_status mail_store_relay_back(struct db_conn *c) ANN_MUST_CHECK;

/**
 * Milliseconds until the next mail nobody holds is due (0 if one is due), or -1 if none.
 * @return 1, or DB_HARD / DB_SOFT
 */
enum db_status mail_store_next_due(struct db_conn *c, long *out_ms) ANN_MUST_CHECK;

#endif
