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
    char *bind_address;  /* admin.bind_address */
    long port;           /* admin.port; 0: no admin listener */
    long threads;        /* admin.threads */
    long retention_days; /* audit.retention_days; 0: kept forever */
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

/** The admin token check of the admin listener (http_set_admin_auth). */
enum reply_status adm_authenticate(struct http_req *r, const char *token, unsigned route_flags);

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
 * Starts the audit log's retention: entries older than audit.retention_days are deleted
 * now and then every hour, by a thread of its own (nothing is started when the retention
 * is 0: kept forever). @return 0, or -1 (logged) when the thread cannot start
 */
int adm_housekeeping_start(const struct cfg *cfg) ANN_MUST_CHECK;

/** Stops that thread and waits for it. Takes a thread that never started. */
void adm_housekeeping_stop(void);

#endif
