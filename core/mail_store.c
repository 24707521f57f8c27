#include "core/mail_store.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"

static const struct db_stmt mail_store_stmts[] = {
    { "mail_store_queue",
      "WITH q AS (INSERT INTO annuaire.mail_outbox (recipient, kind, message, message_id)"
      " VALUES ($1, $2, $3, $4) RETURNING id)"
      " SELECT pg_notify('annuaire_outbox', ''), id FROM q" },
    /* One mail at a time: a sender holds only what it is sending. The lease moves the
     * next attempt past the longest a send can take, so nobody else takes it meanwhile. */
    { "mail_store_claim", "UPDATE annuaire.mail_outbox SET attempts = attempts + 1,"
                          " claimed_until = now() + make_interval(secs => $1::float8),"
                          " next_attempt_at = now() + make_interval(secs => $1::float8)"
                          " WHERE id = (SELECT id FROM annuaire.mail_outbox"
                          "  WHERE sent_at IS NULL AND next_attempt_at <= now()"
                          "  ORDER BY next_attempt_at"
                          "  LIMIT 1 FOR UPDATE SKIP LOCKED)"
                          " RETURNING id, attempts, recipient, message, message_id" },
    { "mail_store_sent", "UPDATE annuaire.mail_outbox SET sent_at = now(), message = NULL,"
                         " last_error = NULL, claimed_until = NULL, waiting_for_relay = false"
                         " WHERE id = $1"
                         " AND attempts = $2"
                         " AND sent_at IS NULL" },
    { "mail_store_failed",
      "UPDATE annuaire.mail_outbox SET failures = failures + 1, last_error = $3,"
      " claimed_until = NULL, waiting_for_relay = $5::boolean,"
      " next_attempt_at = now() + make_interval(secs =>"
      "  least(3600, $4::float8 * power(2, least(failures, 20))))"
      " WHERE id = $1"
      " AND attempts = $2"
      " AND sent_at IS NULL" },
    { "mail_store_relay_back", "UPDATE annuaire.mail_outbox SET failures = 0,"
                               " waiting_for_relay = false, next_attempt_at = now()"
                               " WHERE sent_at IS NULL"
                               " AND waiting_for_relay"
                               " AND claimed_until IS NULL" },
    { "mail_store_next_due", "SELECT greatest(0, ceil(extract(epoch FROM"
                             "  min(next_attempt_at) - now()) * 1000))"
                             " FROM annuaire.mail_outbox"
                             " WHERE sent_at IS NULL" },
};

void
mail_claim_clear(struct mail_claim *m)
{
    free(m->id);
    free(m->attempt);
    free(m->recipient);
    free(m->message);
    free(m->message_id);
    *m = (struct mail_claim){ 0 };
}

void
mail_store_init(void)
{
    db_register(mail_store_stmts, ANN_ARRAY_LEN(mail_store_stmts));
}

enum db_status
mail_store_queue(struct db_conn *c,
                 const char *recipient,
                 const char *kind,
                 const char *message,
                 const char *message_id)
{
    const char *params[] = { recipient, kind, message, message_id };

    return db_exec(c, "mail_store_queue", 4, params, NULL);
}

enum db_status
mail_store_claim(struct db_conn *c, long lease_s, struct mail_claim *out)
{
    char lease[24];
    const char *params[] = { lease };
    PGresult *res = NULL;
    enum db_status st;

    snprintf(lease, sizeof(lease), "%ld", lease_s);
    st = db_exec(c, "mail_store_claim", 1, params, &res);
    if (st > 0) {
        out->id = xstrdup(PQgetvalue(res, 0, 0));
        out->attempt = xstrdup(PQgetvalue(res, 0, 1));
        out->recipient = xstrdup(PQgetvalue(res, 0, 2));
        out->message = PQgetisnull(res, 0, 3) ? NULL : xstrdup(PQgetvalue(res, 0, 3));
        out->message_id = PQgetisnull(res, 0, 4) ? NULL : xstrdup(PQgetvalue(res, 0, 4));
    }
    PQclear(res);
    return st;
}

enum db_status
mail_store_sent(struct db_conn *c, const struct mail_claim *m)
{
    const char *params[] = { m->id, m->attempt };

    return db_exec(c, "mail_store_sent", 2, params, NULL);
}

enum db_status
mail_store_failed(struct db_conn *c,
                  const struct mail_claim *m,
                  const char *error,
                  long base_delay_s,
                  bool relay_silent)
{
    char delay[24];
    const char *params[] = { m->id, m->attempt, error, delay, relay_silent ? "true" : "false" };

    snprintf(delay, sizeof(delay), "%ld", base_delay_s);
    return db_exec(c, "mail_store_failed", 5, params, NULL);
}

enum db_status
mail_store_relay_back(struct db_conn *c)
{
    return db_exec(c, "mail_store_relay_back", 0, NULL, NULL);
}

enum db_status
mail_store_next_due(struct db_conn *c, long *out_ms)
{
    PGresult *res = NULL;
    enum db_status st = db_exec(c, "mail_store_next_due", 0, NULL, &res);

    *out_ms = -1;
    if (st > 0 && !PQgetisnull(res, 0, 0)) {
        *out_ms = atol(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return st;
}
