/* Private to directory/: one handler per file. */
#ifndef ANN_DIRECTORY_INTERNAL_H
#define ANN_DIRECTORY_INTERNAL_H

#include <jansson.h>

#include "core/db.h"
#include "core/http.h"
#include "directory/directory.h"
#include "routing/routing.h"

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
/* What internal-info reads of an address, in one round trip. */
struct dir_internal_facts {
    bool invited;   /* a pending invitation */
    char *mxid;     /* bound to this Matrix ID, or NULL */
    char *ministry; /* a known agent of this ministry (e-mail only), or NULL */
    char *entity;   /* and entity, or NULL */
};
enum db_status dir_store_internal_info(struct db_conn *c,
                                       const char *medium,
                                       const char *address,
                                       long validity,
                                       struct dir_internal_facts *out);
void dir_internal_facts_clear(struct dir_internal_facts *f);

/**
 * The enrollment decision (enrollment.c), shared by the gate on requestToken and by
 * internal-info so that they cannot disagree: no route; an invitation required and
 * none pending; an annuaire platform (a pattern, not an exact entry) and not an enabled
 * agent; else OK. route: NULL when nothing matched.
 */
enum dir_enroll dir_enroll_decide(const struct routing_result *route,
                                  const struct dir_internal_facts *facts);
extern const struct db_stmt dir_store_stmts[];
extern const size_t dir_store_n_stmts;

#endif
