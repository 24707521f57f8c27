/* Private to directory/: one handler per file. */
#ifndef ANN_DIRECTORY_INTERNAL_H
#define ANN_DIRECTORY_INTERNAL_H

#include <jansson.h>

#include "core/db.h"
#include "core/http.h"
#include "directory/directory.h"

struct http_req;

/** GET /_matrix/identity/v2 and /_matrix/identity/api/v1: the spec's status check. */
int dir_status_get(struct http_req *r, const json_t *body);

/** GET /_matrix/identity/versions */
int dir_versions_get(struct http_req *r, const json_t *body);

/** GET .../pubkey/{keyId}: the long-term public key. */
int dir_pubkey_get(struct http_req *r, const json_t *body);

/** GET .../pubkey/isvalid?public_key=: whether it is our long-term key. */
int dir_pubkey_isvalid_get(struct http_req *r, const json_t *body);

/** GET /_matrix/identity/v2/hash_details */
int dir_hash_details_get(struct http_req *r, const json_t *body);
/** POST /_matrix/identity/v2/lookup */
int dir_lookup_post(struct http_req *r, const json_t *body);
/** GET /_matrix/identity/api/v1/lookup?medium=&address= */
int dir_lookup_v1_get(struct http_req *r, const json_t *body);
/** POST /_matrix/identity/api/v1/bulk_lookup */
int dir_bulk_lookup_v1_post(struct http_req *r, const json_t *body);

/** GET /_matrix/identity/api/v1/info?medium=&address=: where to register or log in. */
int dir_info_get(struct http_req *r, const json_t *body);
/** GET /_matrix/identity/api/v1/internal-info (internal listener): may it register here? */
int dir_internal_info_get(struct http_req *r, const json_t *body);

/** Per client IP and per user (when authenticated) limits of the lookup endpoints. */
enum reply_status dir_limit_lookup(struct http_req *r);

/* store.c */
enum db_status dir_store_pepper_get(struct db_conn *c, char **pepper);
enum db_status dir_store_assoc_upsert(struct db_conn *c, const struct dir_assoc *a);
enum db_status dir_store_assoc_delete(struct db_conn *c,
                                      const char *medium,
                                      const char *address,
                                      const char *mxid);
enum db_status dir_store_assoc_get(struct db_conn *c,
                                   const char *medium,
                                   const char *address,
                                   struct dir_assoc *out);
/** hashes_array: a PostgreSQL text[] literal of hashes (URL-safe base64 only).
 *  Rows: the current pepper, the matched hash or NULL, the mxid. */
enum db_status dir_store_lookup_hashes(struct db_conn *c, const char *hashes_array, PGresult **out);
/** pairs: [[medium, normalised address, key], ...] (borrowed). Rows: key, mxid. */
enum db_status dir_store_lookup_pairs(struct db_conn *c, const json_t *pairs, PGresult **out);
/** Whether a pending (undelivered, unexpired) invitation exists. @return 1 yes,
 *  DB_NO_ROWS no, or < 0 */
enum db_status
dir_store_invited(struct db_conn *c, const char *medium, const char *address, long validity);
/** The enabled agent owning a (normalised) address: ministry, entity (may be NULL),
 *  owned. @return 1, DB_NO_ROWS, or < 0 */
enum db_status
dir_store_agent(struct db_conn *c, const char *address, char **ministry, char **entity);
extern const struct db_stmt dir_store_stmts[];
extern const size_t dir_store_n_stmts;

#endif
