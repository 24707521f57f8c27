/*
 * The audit log (annuaire.audit_log): who did what, on which object, with what outcome.
 * Every admin action, invitation event, sync run and pepper rotation writes one entry
 * on the connection of the action, inside its transaction, so the entry and the action
 * are committed or rolled back together. An entry never holds a secret or a token.
 */
#ifndef ANN_CORE_AUDIT_H
#define ANN_CORE_AUDIT_H

#include <jansson.h>

#include "core/db.h"

/* Who acted (actor_kind). */
#define AUDIT_ADMIN      "admin"      /* an admin token: its name */
#define AUDIT_HOMESERVER "homeserver" /* a homeserver: its server name */
#define AUDIT_USER       "user"       /* a Matrix user: its Matrix ID */
#define AUDIT_SYSTEM     "system"     /* the service itself: "system" */
#define AUDIT_CLI        "cli"        /* a command line: "cli:<login name>" */

/* Outcomes. */
#define AUDIT_OK      "ok"
#define AUDIT_REFUSED "refused"
#define AUDIT_FAILED  "failed"

struct audit_entry {
    const char *actor_kind;  /* AUDIT_ADMIN, ... */
    const char *actor;       /* its name, as above */
    const char *action;      /* "invitation.created", "sync.run", ... */
    const char *object_kind; /* "invitation", "admin_token", "sync_source", ...; or NULL */
    const char *object_id;   /* or NULL */
    const char *outcome;     /* AUDIT_OK, AUDIT_REFUSED, AUDIT_FAILED */
    const json_t *details;   /* an object, or NULL; never a secret */
};

/**
 * Writes one entry on c (in the caller's transaction, when there is one).
 * @return 1, or DB_SOFT / DB_HARD
 */
enum db_status audit_record(struct db_conn *c, const struct audit_entry *e) ANN_MUST_CHECK;

/** The actor of a command line run: "cli:<login name>" (or "cli:uid<N>"), in out. */
void audit_cli_actor(char *out, size_t size);

#endif
