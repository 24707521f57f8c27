/* Private to directory/: one handler per file. */
#ifndef ANN_DIRECTORY_INTERNAL_H
#define ANN_DIRECTORY_INTERNAL_H

#include <jansson.h>

#include "core/db.h"
#include "core/http.h"
#include "directory/directory.h"
#include "directory/search.h"
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

/** GET /_annuaire/internal/v1/leavers?since=&limit= (internal listener): who left. */
int dir_leavers_get(struct http_req *r, const json_t *body);

/** POST /_annuaire/v1/directory/search: the annuaire's own search. */
int dir_search_post(struct http_req *r, const json_t *body);
/** GET /_annuaire/v1/directory/entry?address=|?mxid=: identification. */
int dir_entry_get(struct http_req *r, const json_t *body);
/** Who may search and identify with an access token (search_post.c): refuses with 403 whoever
 *  dir_search_agent_caller refuses, then takes the search quotas of r->user_id.
 *  @return RS_OK, RS_REPLIED or RS_FATAL */
enum reply_status dir_search_admit(struct http_req *r);
/**
 * Whether the user mxid may browse the annuaire's agents (search_caller.c): the one rule of
 * the search, identification and the client path's merge. Its server, the Matrix ID's
 * server name as written (port included; any case), must be a hs or shadow_hs that routes
 * names (routing_has_server) and not an externals' platform (routing_server_external).
 * @return false too when routes is NULL (no routing file), mxid is NULL, or its server is
 *         not a server name
 */
bool dir_search_agent_caller(const struct routing_map *routes, const char *mxid);
struct dir_search_hit;
/** An entry found, as the annuaire's search and identification answer it (a new object:
 *  display_name, entity, ministry, kind, on_tchap; mxid when bound; email when asked). */
json_t *dir_search_hit_json(const struct dir_search_hit *h, bool return_email);
/** POST /_matrix/client/{v3,r0}/user_directory/search: a homeserver's client API, as a
 *  reverse proxy sends it here (the homeserver by the Host header, search.client_hosts). */
int dir_user_directory_client_post(struct http_req *r, const json_t *body);
/** POST /_matrix/identity/api/v1/user_directory/search, X-Matrix signed by a homeserver of
 *  search.delegating_homeservers. */
int dir_user_directory_signed_post(struct http_req *r, const json_t *body);

/* user_directory.c: shared by the two user_directory/search handlers */
#define DIR_USERDIR_DEFAULT_LIMIT 10
/* Their body; search_term borrowed from it. */
struct dir_userdir_in {
    const char *search_term;
    long long limit;
};
/**
 * Reads {search_term (required), limit (default DIR_USERDIR_DEFAULT_LIMIT, over
 * max_limit taken as max_limit)}; other keys are ignored.
 * @return RS_OK, or RS_REPLIED / RS_FATAL with 400 M_MISSING_PARAMS or M_INVALID_PARAM queued
 */
enum reply_status dir_userdir_parse(struct http_req *r,
                                    const json_t *body,
                                    int max_limit,
                                    struct dir_userdir_in *in) ANN_MUST_CHECK;
/**
 * Searches the annuaire for term and appends to results, in rank order, at most want
 * {user_id, display_name} of the hits that have a Matrix ID not yet in seen (a JSON
 * object used as a set of Matrix IDs, to which they are added).
 * @param[out] more  whether there are more such hits than want (or pages not read)
 * @return DIR_SEARCH_OK, or why not (results then hold what was found before)
 */
enum dir_search_status dir_userdir_search(struct db_conn *c,
                                          const char *term,
                                          int want,
                                          json_t *results,
                                          json_t *seen,
                                          bool *more);
/** Queues the error of a failed dir_search (st is not DIR_SEARCH_OK). @return MHD_YES or MHD_NO */
int dir_userdir_reply_status(struct http_req *r, enum dir_search_status st);

/** Per client IP and per user (when authenticated) limits of the lookup endpoints. */
enum reply_status dir_limit_lookup(struct http_req *r);

/* store.c: one named statement each, run inside db_txn_run or alone for reads. */
/** @param[out] pepper  the current pepper, owned by the caller (NULL unless > 0) */
enum db_status dir_store_pepper_get(struct db_conn *c, char **pepper);
/** Stores pepper unless one exists. @return 1 stored, 0 kept, or < 0 */
enum db_status dir_store_pepper_ensure(struct db_conn *c, const char *pepper);
/** Replaces the pepper (or stores the first one). @return 1, or < 0 */
enum db_status dir_store_pepper_replace(struct db_conn *c, const char *pepper);
/** Recomputes every association's lookup hash under pepper. @return rows updated, or < 0 */
enum db_status dir_store_assoc_rehash(struct db_conn *c, const char *pepper);
enum db_status dir_store_assoc_upsert(struct db_conn *c, const struct dir_assoc *a);
enum db_status dir_store_assoc_delete(struct db_conn *c,
                                      const char *medium,
                                      const char *address,
                                      const char *mxid);
enum db_status dir_store_assoc_get(struct db_conn *c,
                                   const char *medium,
                                   const char *address,
                                   struct dir_assoc *out);
/** A match of a lookup: the caller's key (a hash, or the key of a pair) and the Matrix ID
 *  bound to it; both borrowed for the call. */
typedef void (*dir_store_match_fn)(void *arg, const char *key, const char *mxid);
/**
 * The associations whose lookup hash is one of hashes (n of them), in one indexed query
 * that also reads the current pepper, for the caller to check.
 * @param[out] pepper  the current pepper, owned by the caller (NULL unless > 0)
 * @return rows (> 0 whenever a pepper exists; fn is called for each match), DB_NO_ROWS
 *         when there is no pepper, DB_SOFT or DB_HARD
 */
enum db_status dir_store_lookup_hashes(struct db_conn *c,
                                       const char *const *hashes,
                                       size_t n,
                                       char **pepper,
                                       dir_store_match_fn fn,
                                       void *arg);
/** pairs: [[medium, normalised address, key], ...] (borrowed); fn gets each bound pair's
 *  key (as text) and Matrix ID. @return matches, or < 0 */
enum db_status
dir_store_lookup_pairs(struct db_conn *c, const json_t *pairs, dir_store_match_fn fn, void *arg);
/* What internal-info reads of an address, in one round trip. */
struct dir_internal_facts {
    bool invited;   /* a pending invitation, room or VIP, not past its expiry */
    char *mxid;     /* bound to this Matrix ID, or NULL */
    char *ministry; /* a known agent of this ministry (e-mail only), or NULL */
    char *entity;   /* and entity, or NULL */
};
enum db_status dir_store_internal_info(struct db_conn *c,
                                       const char *medium,
                                       const char *address,
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
/** One leaver (leavers_get.c): its cursor id, when (ISO 8601, UTC), why ("removed",
 *  "disabled"), the address and the Matrix ID bound to it; strings borrowed for the call. */
typedef void (*dir_store_leaver_fn)(void *arg,
                                    long long id,
                                    const char *at,
                                    const char *reason,
                                    const char *address,
                                    const char *mxid);
/**
 * The leavers after the cursor since whose address is bound, oldest first, at most limit.
 * @param[out] last_id  the last leaver id recorded (bound or not) in the same snapshot, 0
 *                      when there is none
 * @return leavers listed (fn called for each), DB_SOFT or DB_HARD
 */
enum db_status dir_store_leavers(struct db_conn *c,
                                 long long since,
                                 int limit,
                                 long long *last_id,
                                 dir_store_leaver_fn fn,
                                 void *arg);
extern const struct db_stmt dir_store_stmts[];
extern const size_t dir_store_n_stmts;

#endif
