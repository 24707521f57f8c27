/* Private to enroll/: one handler per file, the store, shared helpers. */
#ifndef ANN_ENROLL_INTERNAL_H
#define ANN_ENROLL_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "core/db.h"

struct http_req;

#define ENR_TOKEN_HASH_LEN 64

/** Hex SHA-256 of an access token, as stored. */
void enr_token_hash(const char *token, char out[ENR_TOKEN_HASH_LEN + 1]);

/** The current policies' URLs as [[urls of policy 1], ...] (borrowed; [] when no terms). */
const char *enr_terms_required_json(void);
/** Whether url belongs to a current policy. */
bool enr_terms_is_policy_url(const char *url);

/* store.c: one statement each, run inside db_txn_run or alone for reads. */
enum db_status
enr_store_account_insert(struct db_conn *c, const char *token_hash, const char *user_id);
/** @param[out] user_id owned; @param[out] terms_ok whether every policy is accepted */
enum db_status
enr_store_account_auth(struct db_conn *c, const char *token_hash, char **user_id, bool *terms_ok);
enum db_status enr_store_account_delete(struct db_conn *c, const char *token_hash);
/** urls_json: a JSON array of URLs to record as accepted by user_id. */
enum db_status
enr_store_terms_accept(struct db_conn *c, const char *user_id, const char *urls_json);
extern const struct db_stmt enr_store_stmts[];
extern const size_t enr_store_n_stmts;

/* Handlers */
int enr_account_register_post(struct http_req *r, const json_t *body);
int enr_account_get(struct http_req *r, const json_t *body);
int enr_account_logout_post(struct http_req *r, const json_t *body);
int enr_terms_get(struct http_req *r, const json_t *body);
int enr_terms_post(struct http_req *r, const json_t *body);

#endif
