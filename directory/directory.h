/*
 * The annuaire and the Matrix identity API it answers: status and versions, the
 * signing key, 3PID associations and the hashed lookup (v2, and the v1 lookups),
 * and the endpoints that answer from the homeserver routing of routing/ (info,
 * internal-info, the enrollment decision). Directory search is not served yet.
 */
#ifndef ANN_DIRECTORY_DIRECTORY_H
#define ANN_DIRECTORY_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/cfg.h"
#include "core/db.h"
#include "core/router.h"

struct cx_ed25519;

/** The configuration sections of this module (invites, keys, lookup, routing), for
 *  cfg_register() before cfg_load(). */
extern const struct cfg_section dir_config_sections[];
extern const size_t dir_config_n_sections;

/** The key id of the long-term signing key. */
#define DIR_SIGNING_KEY_ID "ed25519:0"

/**
 * Writes a new signing key to path (mode 0600); never overwrites a file.
 * @return 0, or -1 with a message in err
 */
int dir_keys_generate(const char *path, char *err, size_t err_size);

/**
 * Loads the signing key that every instance of a deployment shares.
 * @return 0, or -1 with a message in err
 */
int dir_keys_load(const char *path, char *err, size_t err_size);
void dir_keys_unload(void);

/** The loaded signing key (borrowed), or NULL. */
const struct cx_ed25519 *dir_signing_key(void);

/** Its public half as unpadded base64 (borrowed), or NULL. */
const char *dir_public_key_b64(void);

struct db_conn;

/* A 3PID association, as stored and signed. */
struct dir_assoc {
    char *medium;
    char *address;
    char *mxid;
    long long ts, not_before, not_after; /* ms */
};
void dir_assoc_clear(struct dir_assoc *a);

/** Registers the module's statements (once, however often it is called). Call before
 *  serving, and before the pepper functions on a standalone connection. */
void dir_init(void);

/**
 * Records medium/address -> mxid (replacing another mxid), in the caller's
 * transaction. @return 1, or DB_SOFT / DB_HARD
 */
enum db_status dir_assoc_bind(struct db_conn *c, const struct dir_assoc *a) ANN_MUST_CHECK;

/** The association of medium/address, if any.
 *  @return 1 found (out filled, dir_assoc_clear), DB_NO_ROWS, DB_SOFT or DB_HARD */
enum db_status dir_assoc_get(struct db_conn *c,
                             const char *medium,
                             const char *address,
                             struct dir_assoc *out) ANN_MUST_CHECK;

/** Removes medium/address -> mxid, in the caller's transaction.
 *  @return rows removed (DB_NO_ROWS: none), DB_SOFT or DB_HARD */
enum db_status dir_assoc_unbind(struct db_conn *c,
                                const char *medium,
                                const char *address,
                                const char *mxid) ANN_MUST_CHECK;

/**
 * The association as the spec returns it, signed with the long-term key under
 * the configured server name; invites (borrowed, may be NULL) go inside, under
 * the signature, as homeservers expect on the onbind callback.
 * @return a new object owned by the caller, or NULL if signing failed
 */
json_t *dir_assoc_signed(const struct dir_assoc *a, const json_t *invites);

/** A fresh association from now, valid for 100 years (ts = not_before = now). */
void dir_assoc_now(struct dir_assoc *a);

/**
 * Makes sure a lookup pepper exists (a fresh random one on a new database), on a
 * connection of db_conn_open, after dir_init.
 * @return 0, or -1 with a message in err
 */
int dir_pepper_ensure(struct db_conn *c, char *err, size_t err_size) ANN_MUST_CHECK;

/**
 * Rotates the pepper and recomputes every association's hash in one transaction, on a
 * connection of db_conn_open or a serving thread's (outside a transaction), after
 * dir_init; the transaction writes the pepper.rotated audit entry of the actor (never
 * the pepper).
 * @param actor_kind  AUDIT_ADMIN, AUDIT_CLI, ... (core/audit.h)
 * @param actor       the admin token's name, audit_cli_actor(), ...
 * @param[out] n_rehashed  associations updated
 * @return 0, or -1 with a message in err
 */
int dir_pepper_rotate(struct db_conn *c,
                      const char *actor_kind,
                      const char *actor,
                      long long *n_rehashed,
                      char *err,
                      size_t err_size) ANN_MUST_CHECK;

/* What routing says of an address that asks to enroll (requestToken). */
enum dir_enroll {
    DIR_ENROLL_OK,
    DIR_ENROLL_NO_ROUTE,    /* no homeserver takes it */
    DIR_ENROLL_NOT_INVITED, /* its server requires an invitation, and none is pending */
    DIR_ENROLL_NOT_AGENT,   /* its platform takes agents of the annuaire only */
    DIR_ENROLL_ERROR,       /* the database did not answer */
};

/**
 * Whether medium/address (normalised as stored) could register on its homeserver.
 * Always DIR_ENROLL_OK when no routing file is configured.
 */
enum dir_enroll dir_enroll_check(struct db_conn *c, const char *medium, const char *address);

/** Whether address may be bound to mxid: its server is the mapped hs or shadow_hs
 *  (always true when no routing file is configured). */
bool dir_bind_permitted(const char *address, const char *mxid);

/** Whether server is a homeserver of the mapping in force (the hs or shadow_hs of some
 *  entry or pattern); always true when no routing file is configured. */
bool dir_server_known(const char *server);

/* Who may invite whom (store-invite), as routing and the invites section decide. */
enum dir_invite_rule {
    DIR_INVITE_OK,
    DIR_INVITE_NO_ROUTE,            /* routing is on and no homeserver takes the address */
    DIR_INVITE_AGENTS_EXTERNALS,    /* invites.agents_may_invite_externals is off */
    DIR_INVITE_EXTERNALS_EXTERNALS, /* invites.externals_may_invite_externals is off */
};

/**
 * Whether a sender of server sender_server may invite address (canonical): the address
 * is an external when routing maps it to an externals' platform; the sender is on an
 * externals' platform when routing_server_external says its server is (one rule for
 * both sides), else on an agents' one. Always DIR_INVITE_OK when no routing file is
 * configured.
 */
enum dir_invite_rule dir_invite_policy(const char *address, const char *sender_server);

/** The name of a rule for logs and the audit log ("routing", the setting's key, "ok"). */
const char *dir_invite_rule_name(enum dir_invite_rule rule);

/* Leavers: the Matrix IDs bound to addresses whose annuaire owner was removed or
 * disabled, recorded by the database when a sync does it (leavers_get.c). */
#define DIR_LEAVERS_LIMIT_DEFAULT 100
#define DIR_LEAVERS_LIMIT_MAX     1000

/** Reads a leavers cursor (the `next` of a page: decimal digits, at most 18).
 *  @param[out] out  its value @return 0, or -1 when text is not one */
int dir_leavers_cursor(const char *text, long long *out) ANN_MUST_CHECK;

/**
 * A page of leavers after the cursor since (0: from the start), oldest first, at most limit
 * (1 to DIR_LEAVERS_LIMIT_MAX): {"leavers": [{"id", "mxid", "address", "medium", "reason",
 * "at"}], "next"}, next being the cursor to pass back (the same when nothing is new).
 * @param[out] out  the page, owned by the caller (NULL unless >= 0)
 * @return leavers listed, DB_SOFT or DB_HARD
 */
enum db_status
dir_leavers_read(struct db_conn *c, long long since, int limit, json_t **out) ANN_MUST_CHECK;

/** The identity API routes this module serves (static table). */
extern const struct route dir_routes[];
extern const size_t dir_n_routes;

#endif
