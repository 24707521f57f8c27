/* Private to admin/: the handlers (one per file) and the module's store (admin/store.c). */
#ifndef ANN_ADMIN_INTERNAL_H
#define ANN_ADMIN_INTERNAL_H

#include <jansson.h>

#include "admin/admin.h"
#include "core/db.h"
#include "core/http.h"

#define ADM_V1 "/_annuaire/admin/v1"

/* ---- Handlers ---- */

/** GET /_annuaire/admin/v1/whoami: the token's name and scopes. */
int adm_whoami_get(struct http_req *r, const json_t *body);

/** POST /_annuaire/admin/v1/invitations: a VIP invitation, mailed. */
int adm_invitations_post(struct http_req *r, const json_t *body);
/** GET /_annuaire/admin/v1/invitations: the invitations, newest first, filtered, by pages. */
int adm_invitations_get(struct http_req *r, const json_t *body);
/** GET /_annuaire/admin/v1/invitations/{id}: one invitation. */
int adm_invitation_get(struct http_req *r, const json_t *body);
/** POST /_annuaire/admin/v1/invitations/{id}/resend: its mail again (VIP, pending). */
int adm_invitation_resend_post(struct http_req *r, const json_t *body);
/** DELETE /_annuaire/admin/v1/invitations/{id}: revokes a pending invitation. */
int adm_invitation_delete(struct http_req *r, const json_t *body);

/**
 * Answers what an invitation action came to: ok_status with out, or the error of st (409
 * with the pending invitation's id, or with the state of one not pending). Steals out.
 * @return MHD_YES, or MHD_NO when no reply could be queued
 */
int adm_invitation_reply(struct http_req *r,
                         enum adm_inv_status st,
                         json_t *out,
                         const char *why,
                         unsigned ok_status);

/* ---- The sync, the annuaire, the pepper, the audit log ---- */

/** GET /_annuaire/admin/v1/sync/sources: each source, its last run, entries, conflicts. */
int adm_sync_sources_get(struct http_req *r, const json_t *body);

/** GET /_annuaire/admin/v1/sync/runs (?source=, limit, from): the runs, newest first. */
int adm_sync_runs_get(struct http_req *r, const json_t *body);

/** GET /_annuaire/admin/v1/entries?address=: the directory entries holding an address. */
int adm_entries_get(struct http_req *r, const json_t *body);

/** POST /_annuaire/admin/v1/pepper/rotate: a new lookup pepper, every hash recomputed. */
int adm_pepper_rotate_post(struct http_req *r, const json_t *body);

/** GET /_annuaire/admin/v1/audit (?action=, actor=, object_kind=, object_id=, since=,
 *  limit, from): the audit log, newest first. */
int adm_audit_get(struct http_req *r, const json_t *body);

/* A list's page (admin/paging.c): ?limit= (1 to ADM_PAGE_MAX, default ADM_PAGE_DEFAULT)
 * and ?from=, the cursor a previous page gave as next (NULL for the first page). */
#define ADM_PAGE_DEFAULT 50
#define ADM_PAGE_MAX     500
struct adm_page {
    long limit;
    const char *from; /* borrowed from the query string */
};

/** Reads ?limit= and ?from=; a bad one is answered 400 M_INVALID_PARAM.
 *  @return RS_OK, RS_REPLIED or RS_FATAL */
enum reply_status adm_page_parse(struct http_req *r, struct adm_page *out) ANN_MUST_CHECK;

/**
 * The answer of a list read with one row more than the page (limit + 1): {key: items
 * (stolen), "next": the cursor} where the extra row, dropped, says there is a next page;
 * the cursor is the id (a JSON integer) of the page's last item.
 */
json_t *adm_page_answer(const char *key, json_t *items, long limit);

/* ---- store.c: admin tokens ---- */

/* An admin token found by its hash; strings owned (adm_token_row_clear). */
struct adm_token_row {
    char *name;
    char *token_hash;
    char *scopes; /* a JSON array of texts */
    bool allowed; /* it holds the scope asked for, or "all" */
};
void adm_token_row_clear(struct adm_token_row *t);

/**
 * The token whose hash is token_hash, and whether it holds scope (NULL: any token).
 * @return 1, DB_NO_ROWS (no such token), or DB_SOFT / DB_HARD
 */
enum db_status adm_store_token_auth(struct db_conn *c,
                                    const char *token_hash,
                                    const char *scope,
                                    struct adm_token_row *out) ANN_MUST_CHECK;

/** The scopes of the token named name, as a JSON array (owned) in *scopes.
 *  @return 1, DB_NO_ROWS, or DB_SOFT / DB_HARD */
enum db_status
adm_store_token_scopes(struct db_conn *c, const char *name, char **scopes) ANN_MUST_CHECK;

/** A new token; scopes as a text[] literal (db_text_array).
 *  @return 1, DB_NO_ROWS when the name or the hash exists, or DB_SOFT / DB_HARD */
enum db_status adm_store_token_insert(struct db_conn *c,
                                      const char *name,
                                      const char *token_hash,
                                      const char *scopes) ANN_MUST_CHECK;

/** Called per token: its name, scopes (JSON array), created_at and last_used_at (ISO
 *  8601 UTC; last_used_at NULL when never). */
typedef void (*adm_token_fn)(void *arg,
                             const char *name,
                             const char *scopes,
                             const char *created_at,
                             const char *last_used_at);

/** Every token, by name. @return rows, or DB_SOFT / DB_HARD */
enum db_status adm_store_token_list(struct db_conn *c, adm_token_fn fn, void *arg) ANN_MUST_CHECK;

/** Deletes the token named name. @return 1, DB_NO_ROWS (none), or DB_SOFT / DB_HARD */
enum db_status adm_store_token_delete(struct db_conn *c, const char *name) ANN_MUST_CHECK;

/** Records that the token was used now (at most once a minute per token).
 *  @return rows updated, or DB_SOFT / DB_HARD */
enum db_status adm_store_token_used(struct db_conn *c, const char *name) ANN_MUST_CHECK;

/* ---- store.c: invitations (annuaire.invites) ---- */

/* An invitation as the admin API shows it: texts borrowed from the result, NULL where the
 * column is; times in ISO 8601 UTC; state "expired" for a pending one past expires_at. */
struct adm_invitation {
    const char *id, *kind, *address, *homeserver, *state, *created_at, *expires_at, *inviter;
    const char *note, *created_by, *lang, *mailed_count, *last_mailed_at, *used_at, *used_by;
    const char *revoked_at, *revoked_by, *room_id, *sender;
    long long expires_epoch; /* expires_at in seconds since the epoch; 0 when never */
};

/** Called per invitation (inv and its strings borrowed for the call only). */
typedef void (*adm_invitation_fn)(void *arg, const struct adm_invitation *inv);

/**
 * Stores a pending VIP invitation to an e-mail address (canonical) for homeserver (NULL
 * when routing is off), expiring expires_in seconds from now; token is a random key the
 * row is stored under (invites.token), never shown.
 * @return 1 (fn called with the row), DB_NO_ROWS on a unique violation, DB_SOFT / DB_HARD
 */
enum db_status adm_store_invitation_insert(struct db_conn *c,
                                           const char *token,
                                           const char *address,
                                           const char *homeserver,
                                           long long expires_in,
                                           const char *inviter,
                                           const char *note,
                                           const char *created_by,
                                           const char *lang,
                                           adm_invitation_fn fn,
                                           void *arg) ANN_MUST_CHECK;

/** The id of the VIP invitation pending (unexpired) for address, if any, in *id (owned).
 *  @return 1, DB_NO_ROWS, or DB_SOFT / DB_HARD */
enum db_status
adm_store_invitation_pending_vip(struct db_conn *c, const char *address, char **id) ANN_MUST_CHECK;

/** The invitation id (decimal text), locked for an update when lock.
 *  @return 1 (fn called), DB_NO_ROWS, or DB_SOFT / DB_HARD */
enum db_status adm_store_invitation_get(struct db_conn *c,
                                        const char *id,
                                        bool lock,
                                        adm_invitation_fn fn,
                                        void *arg) ANN_MUST_CHECK;

/** Revokes invitation id if it is pending and unexpired, by revoked_by.
 *  @return 1 (fn called with the row as revoked), DB_NO_ROWS (none such), DB_SOFT / DB_HARD */
enum db_status adm_store_invitation_revoke(struct db_conn *c,
                                           const char *id,
                                           const char *revoked_by,
                                           adm_invitation_fn fn,
                                           void *arg) ANN_MUST_CHECK;

/* Which invitations a list shows (NULL: any). */
struct adm_invitation_filter {
    const char *state;   /* pending, used, expired, revoked (as shown) */
    const char *kind;    /* room, vip */
    const char *address; /* canonical */
    const char *before;  /* ids below this one (decimal text); NULL: from the newest */
    long limit;          /* rows at most */
};

/** The invitations f selects, newest first (id DESC), through fn.
 *  @return rows, or DB_SOFT / DB_HARD */
enum db_status adm_store_invitation_list(struct db_conn *c,
                                         const struct adm_invitation_filter *f,
                                         adm_invitation_fn fn,
                                         void *arg) ANN_MUST_CHECK;

#endif
