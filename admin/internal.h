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

#endif
