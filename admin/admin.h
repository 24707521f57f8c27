/*
 * Administration: the admin API on a listener of its own (admin.bind_address,
 * admin.port; never the public or internal one), its tokens (annuaire.admin_tokens:
 * a name, scopes, the SHA-256 of the token), and the admin's actions: VIP invitations,
 * the sync's state, the annuaire's view of a person, the pepper's rotation, the audit
 * log. The same actions are offered on the command line (cmd/admin.c, cmd/invite.c,
 * cmd/audit.c).
 */
#ifndef ANN_ADMIN_ADMIN_H
#define ANN_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/cfg.h"
#include "core/db.h"
#include "core/http.h"
#include "core/router.h"

/* The admin and audit sections (stored in blocks: adm_config()). */
struct adm_config {
    char *bind_address;        /* admin.bind_address */
    long port;                 /* admin.port; 0: no admin listener */
    long threads;              /* admin.threads */
    long retention_days;       /* audit.retention_days; 0: kept forever */
    char *web_client_location; /* admin.web_client_location: shown in VIP mails; NULL: none */
};

/** The configuration sections of this module (admin, audit), for cfg_register(). */
extern const struct cfg_section adm_config_sections[];
extern const size_t adm_config_n_sections;

/** The admin and audit settings of cfg (borrowed from it). */
struct adm_config adm_config(const struct cfg *cfg);

/* Scopes an admin token may hold. */
#define ADM_SCOPE_INVITATIONS "invitations"
#define ADM_SCOPE_DIRECTORY   "directory"
#define ADM_SCOPE_SYNC        "sync"
#define ADM_SCOPE_AUDIT       "audit"
#define ADM_SCOPE_ALL         "all"

/** Whether s is one of the scopes above. */
bool adm_scope_known(const char *s);

/** The admin API's routes (ROUTE_ADMIN, each with its ROUTE_SCOPE_*). */
extern const struct route adm_routes[];
extern const size_t adm_n_routes;

/** Registers the module's statements (once, however often it is called). */
void adm_init(void);

/** The admin token check of the admin listener (http_set_admin_auth): a refusal's audit
 *  entry names the route (object_id its pattern, details its method and the scope). */
enum reply_status
adm_authenticate(struct http_req *r, const char *token, const struct route *route);

/* ---- Invitations (admin/invitations.c), for the admin API and cmd/invite.c ---- */

struct routing_map;

/* Who acts: an admin token (AUDIT_ADMIN, its name) or a command line (AUDIT_CLI, the
 * name of audit_cli_actor). Both borrowed. */
struct adm_actor {
    const char *kind;
    const char *name;
};

/* What an invitation action came to. */
enum adm_inv_status {
    ADM_INV_OK,
    ADM_INV_BAD_EMAIL,   /* not an e-mail address (why says how) */
    ADM_INV_BAD_PARAM,   /* why names the parameter and what it takes */
    ADM_INV_NO_ROUTE,    /* no homeserver of the routing takes the address */
    ADM_INV_BOUND,       /* the address is bound to a Matrix ID already */
    ADM_INV_PENDING,     /* a VIP invitation is pending for the address: out is {"id"} */
    ADM_INV_NOT_FOUND,   /* no such invitation (also an id that is not a positive integer) */
    ADM_INV_NOT_PENDING, /* it is used, expired or revoked: out is the invitation */
    ADM_INV_ROOM,        /* a room invitation cannot be resent: out is the invitation */
    ADM_INV_DB,          /* the database did not answer */
};

/* A VIP invitation to create (strings borrowed; NULL: the default). */
struct adm_invite_in {
    const char *address;  /* as typed: stored in its canonical form */
    const char *note;     /* at most 500 characters */
    const char *inviter;  /* as the mail shows it; default: the actor's name */
    const char *lang;     /* "fr" (default) or "en" */
    long long expires_in; /* seconds, at most a year; 0: 30 days */
};

/* A list to show (strings borrowed, as given in a query string; NULL: any, or the
 * default). */
struct adm_invite_query {
    const char *state;   /* pending, used, expired, revoked */
    const char *kind;    /* room, vip */
    const char *address; /* any form of it */
    const char *from;    /* the cursor of a previous answer ("next") */
    const char *limit;   /* 1 to 500, default 50 */
};

/**
 * Creates a pending VIP invitation (kind vip, verified_by admin) for the canonical form
 * of in->address and the homeserver routing maps it to (routing may be NULL: routing is
 * off), queues its mail to that address and writes invitation.created, in one transaction.
 * The templates must be loaded (enr_init, enr_templates_use).
 * @param[out] out  the invitation (ADM_INV_OK) or {"id"} of the pending one
 *                  (ADM_INV_PENDING), owned by the caller; NULL otherwise
 * @param[out] why  a static reason for ADM_INV_BAD_EMAIL, _BAD_PARAM, _NO_ROUTE
 * @return ADM_INV_OK, _BAD_EMAIL, _BAD_PARAM, _NO_ROUTE, _BOUND, _PENDING or _DB
 */
enum adm_inv_status adm_invitation_create(struct db_conn *c,
                                          const struct routing_map *routing,
                                          const struct adm_actor *who,
                                          const struct adm_invite_in *in,
                                          json_t **out,
                                          const char **why) ANN_MUST_CHECK;

/**
 * The invitations of q, newest first: {"invitations": [...], "next": cursor when there
 * are more}, in *out (owned).
 * @return ADM_INV_OK, _BAD_PARAM (a bad filter, limit or cursor), _BAD_EMAIL or _DB
 */
enum adm_inv_status adm_invitation_list(struct db_conn *c,
                                        const struct adm_invite_query *q,
                                        json_t **out,
                                        const char **why) ANN_MUST_CHECK;

/** Invitation id, in *out (owned). @return ADM_INV_OK, _NOT_FOUND or _DB */
enum adm_inv_status
adm_invitation_find(struct db_conn *c, const char *id, json_t **out) ANN_MUST_CHECK;

/**
 * Queues the mail of pending VIP invitation id again (rendered anew, to its stored
 * address) and writes invitation.resent, in one transaction.
 * @param[out] out  the invitation (owned), unless _NOT_FOUND or _DB
 * @return ADM_INV_OK, _NOT_FOUND, _NOT_PENDING, _ROOM or _DB
 */
enum adm_inv_status adm_invitation_resend(struct db_conn *c,
                                          const struct adm_actor *who,
                                          const char *id,
                                          json_t **out) ANN_MUST_CHECK;

/**
 * Revokes pending invitation id, a room or a VIP one (revoked_at, revoked_by: who's name),
 * and writes invitation.revoked, in one transaction.
 * @param[out] out  the invitation (owned), unless _NOT_FOUND or _DB
 * @return ADM_INV_OK, _NOT_FOUND, _NOT_PENDING or _DB
 */
enum adm_inv_status adm_invitation_revoke(struct db_conn *c,
                                          const struct adm_actor *who,
                                          const char *id,
                                          json_t **out) ANN_MUST_CHECK;

/* ---- Admin tokens (admin/tokens.c), for cmd/admin.c ---- */

enum adm_token_status {
    ADM_TOKEN_OK,
    ADM_TOKEN_TAKEN,   /* create: the name is another token's */
    ADM_TOKEN_UNKNOWN, /* revoke: no token has that name */
    ADM_TOKEN_DB,      /* the database did not answer (db_conn_error says why) */
};

/** A token name: 1 to 64 of [A-Za-z0-9._-]. */
bool adm_token_name_ok(const char *s);

/**
 * Creates a token with scopes (each adm_scope_known): stores its SHA-256 and writes
 * admin.token.created, in one transaction.
 * @param[out] out_token  the token, shown once: the caller cleanses and frees it
 * @return ADM_TOKEN_OK, _TAKEN or _DB
 */
enum adm_token_status adm_token_create(struct db_conn *c,
                                       const struct adm_actor *who,
                                       const char *name,
                                       const char *const *scopes,
                                       size_t n_scopes,
                                       char **out_token) ANN_MUST_CHECK;

/** Deletes the token named name and writes admin.token.revoked, in one transaction.
 *  @return ADM_TOKEN_OK, _UNKNOWN or _DB */
enum adm_token_status
adm_token_revoke(struct db_conn *c, const struct adm_actor *who, const char *name) ANN_MUST_CHECK;

/** Every token by name: [{name, scopes, created_at, last_used_at}] (never a hash), in
 *  *out (owned). @return ADM_TOKEN_OK or _DB */
enum adm_token_status adm_token_list(struct db_conn *c, json_t **out) ANN_MUST_CHECK;

/** Whether s is an id of the admin's lists (an invitation's, a cursor): a positive
 *  decimal integer of at most 18 digits, without a leading zero; s may be NULL. */
bool adm_id_ok(const char *s);

/** A duration: "3600" or "3600s", "90m", "12h", "30d", of at most a year.
 *  @return seconds, or -1 when s is none of these */
long long adm_duration_parse(const char *s);
/* ---- The audit log's reading and retention (admin/audit_read.c, admin/housekeeping.c),
 * for GET .../audit, serve and `annuaire audit` ---- */

struct store_audit_filter;

/**
 * A since argument: an ISO 8601 time (2026-12-01, 2026-12-01T10:00:00Z, with an offset
 * such as +01:00, or without a zone for UTC) or a duration before now (90s, 30m, 24h,
 * 7d, 2w).
 * @param now       epoch seconds
 * @param[out] out  epoch seconds
 * @return 0, or -1 when text is neither
 */
int adm_audit_since(const char *text, long long now, long long *out) ANN_MUST_CHECK;

/**
 * The entries f selects (at most f->limit), newest first, as a JSON array of objects
 * (owned, in *out): id, at, actor_kind, actor, action, object_kind, object_id, outcome,
 * details.
 * @return rows read, or DB_SOFT / DB_HARD (*out NULL)
 */
enum db_status
adm_audit_list(struct db_conn *c, const struct store_audit_filter *f, json_t **out) ANN_MUST_CHECK;

/**
 * Starts serve's housekeeping, a thread of its own: the shared rate-limit buckets full
 * again are deleted now and then every minute; the audit log's entries older than
 * audit.retention_days now and then every hour (none when the retention is 0: kept
 * forever). @return 0, or -1 (logged) when the thread cannot start
 */
int adm_housekeeping_start(const struct cfg *cfg) ANN_MUST_CHECK;

/** Stops that thread and waits for it. Takes a thread that never started. */
void adm_housekeeping_stop(void);

#endif
