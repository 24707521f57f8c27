/*
 * Outbound mail: messages are queued in annuaire.mail_outbox inside the
 * caller's transaction, then delivered over SMTP (libcurl) by a sender
 * thread that is woken at once in-process and by NOTIFY across instances,
 * and retries with backoff: an SMTP outage delays mail, it loses none.
 */
#ifndef ANN_CORE_MAIL_H
#define ANN_CORE_MAIL_H

#include <stddef.h>

#include "core/cfg.h"
#include "core/db.h"
#include "core/util.h"

/**
 * Renders a whole-message template (headers, blank line, body): replaces
 * {{name}} placeholders, writes CRLF line ends, encodes header lines that are
 * not ASCII (RFC 2047) and adds Date, Message-ID and MIME headers. No line of the
 * message passes 998 octets (997 when it starts with a dot, which SMTP doubles): a
 * longer body line is broken after its last space within the limit (the space ends
 * the first line), else before the UTF-8 character that would not fit whole.
 *
 * @param from_domain  for the Message-ID (NULL, or not printable ASCII: "localhost")
 * @return the message, owned by the caller; NULL when a value holds a line break
 *         (it could forge headers), the template has no header/body split,
 *         a line of its headers is not a header (no name, or one not printable ASCII)
 *         or a header line, encoded and folded, would pass 998 octets
 */
char *
mail_render(const char *tmpl, const struct util_var *vars, size_t n_vars, const char *from_domain);

/** Registers the outbox statements (core/store.c); call before any connection. */
void mail_init(void);

/**
 * Queues a message for delivery, in the caller's transaction (commit sends it). Its
 * Message-ID header is kept beside it: a resend carries the same one, and the logs
 * name it.
 * @return 1, or DB_SOFT / DB_HARD
 */
enum db_status mail_queue(struct db_conn *c,
                          const char *recipient,
                          const char *kind,
                          const char *message) ANN_MUST_CHECK;

/**
 * As mail_queue, for the mail of invitation invite_id (annuaire.invites.id, as text):
 * once it is sent, the invitation's mailed_count grows and the audit log says so
 * (invitation.mailed), in the transaction that records the sending.
 * @return 1, or DB_SOFT / DB_HARD
 */
enum db_status mail_queue_invite(struct db_conn *c,
                                 const char *recipient,
                                 const char *kind,
                                 const char *message,
                                 const char *invite_id) ANN_MUST_CHECK;

/** Wakes the sender after a commit that queued mail. */
void mail_wake(void);

/** Starts the sender thread (conf borrowed for its life). @return 0 or -1 (logged) */
int mail_sender_start(const struct cfg *conf) ANN_MUST_CHECK;

/** Stops the sender thread; mail still queued stays for the next start. */
void mail_sender_stop(void);

/** The address inside "Name <addr>" or a bare address; NULL if none. Owned by the caller. */
char *mail_address_of(const char *from);

#endif
