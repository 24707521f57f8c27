/* Private to enroll/: one handler per file, the store, shared helpers. */
#ifndef ANN_ENROLL_INTERNAL_H
#define ANN_ENROLL_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "core/db.h"
#include "core/http.h"
#include "directory/directory.h"

struct http_req;

#define ENR_TOKEN_HASH_LEN 64

/** Hex SHA-256 of an access token, as stored. */
void enr_token_hash(const char *token, char out[ENR_TOKEN_HASH_LEN + 1]);

/** The current policies' URLs as [[urls of policy 1], ...] (borrowed; [] when no terms). */
const char *enr_terms_required_json(void);
/** Whether url belongs to a current policy. */
bool enr_terms_is_policy_url(const char *url);

/* templates.c: templates, languages, input checks */
enum enr_template {
    ENR_TPL_VERIFICATION, /* the mail with the validation link */
    ENR_TPL_VALIDATION_OK,
    ENR_TPL_VALIDATION_FAILED,
    ENR_TPL_INVITE, /* the mail to an invited address */
    ENR_TPL_VIP,    /* the mail of a VIP invitation (admin/) */
    ENR_TPL__COUNT
};
enum enr_lang {
    ENR_LANG_FR,
    ENR_LANG_EN,
    ENR_LANG__COUNT
};
int enr_templates_load(char *err, size_t err_size);
void enr_templates_free(void);
const char *enr_template(enum enr_template t, enum enr_lang lang);
/** From an Accept-Language header (may be NULL); French unless English is preferred. */
enum enr_lang enr_lang_pick(const char *accept_language);
/** The spec's client_secret alphabet [0-9a-zA-Z.=_-], 1..255. */
bool enr_client_secret_ok(const char *s);
/** An http(s) URL without blanks or control characters. */
bool enr_next_link_ok(const char *s);
/** Whether an http(s) next_link points to a host of validation.next_link_domains (any
 *  when the list is empty). */
bool enr_next_link_allowed(const char *url);
/** What to tell someone whom the enrollment gate turns away. */
const char *enr_enroll_refusal(enum dir_enroll verdict);

/* legacy.c: v1 calls that act for a user without its access token */
/** Whether legacy.homeservers lists any homeserver (else v1 store-invite and bind are off). */
bool enr_legacy_enabled(void);
/**
 * Whether this v1 call may act for mxid: legacy.homeservers lists mxid's homeserver
 * with a network that holds the client's address (http_client_ip).
 * @return RS_OK when it may; else E_LEGACY_DISABLED or E_LEGACY_FORBIDDEN is queued:
 *         RS_REPLIED, or RS_FATAL when it could not be
 */
enum reply_status enr_legacy_check(struct http_req *r, const char *mxid) ANN_MUST_CHECK;

/* bind_post.c */
/** "@localpart:server.name", at most 255 bytes. */
bool enr_mxid_ok(const char *s);

/* xmatrix.c */
/**
 * Checks a homeserver's X-Matrix signature on an unbind request, and that mxid
 * belongs to the signing server. The server's keys are fetched (within a
 * fetch_slot_take slot) unless cached from an earlier fetch, for their validity.
 * @return RS_OK when valid; else the refusal is queued (403 E_UNBIND_FORBIDDEN, or 503
 *         E_HS_BUSY when no slot is free): RS_REPLIED, or RS_FATAL when it could not be
 */
enum reply_status
enr_xmatrix_check(struct http_req *r, const json_t *body, const char *mxid) ANN_MUST_CHECK;

/* limits.c */
/** The limits of endpoints that send mail to address. @return RS_OK or replied */
enum reply_status enr_limit_mail(struct http_req *r, const char *address);
/** The per-IP limit of account/register. @return RS_OK, RS_REPLIED or RS_FATAL */
enum reply_status enr_limit_register(struct http_req *r) ANN_MUST_CHECK;
/** The per-IP limit of 3pid/unbind. @return RS_OK, RS_REPLIED or RS_FATAL */
enum reply_status enr_limit_unbind(struct http_req *r) ANN_MUST_CHECK;
/** 503 M_UNKNOWN with retry_after_ms: every slot for homeserver calls is taken
 *  (fetch_slot_take). @return MHD_YES or MHD_NO */
int enr_reply_hs_busy(struct http_req *r);

/* session.c: validation sessions shared by the submitToken and bind handlers */
struct enr_session {
    char *sid;
    char *medium;
    char *address;
    char *next_link;
    long long validated_at_ms; /* 0 when not validated */
    bool expired;
};
void enr_session_clear(struct enr_session *s);

enum enr_submit_result {
    ENR_SUBMIT_OK,
    ENR_SUBMIT_NO_SESSION, /* unknown sid or wrong client_secret */
    ENR_SUBMIT_EXPIRED,
    ENR_SUBMIT_BAD_TOKEN,
    ENR_SUBMIT_TOO_MANY_TRIES,
    ENR_SUBMIT_NEXT_LINK_CHANGED, /* validated already, with another next_link */
};
/**
 * Checks a validation token and marks the session validated.
 * @param[out] s  the session (for next_link), filled unless NO_SESSION
 * @return < 0 on a database failure, else 0 with *result set
 */
int enr_session_submit(struct db_conn *c,
                       const char *sid,
                       const char *client_secret,
                       const char *token,
                       enum enr_submit_result *result,
                       struct enr_session *s);

/**
 * Finds the session sid whose client_secret matches (not locked).
 * @return 1 found, 0 not found (or wrong secret), < 0 database failure
 */
enum db_status enr_session_find(struct db_conn *c,
                                const char *sid,
                                const char *client_secret,
                                struct enr_session *s);

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
/** The session holding (medium, address, secret), locked. @param[out] sid, send_attempt */
enum db_status enr_store_session_by_secret(struct db_conn *c,
                                           const char *medium,
                                           const char *address,
                                           const char *secret_hash,
                                           char **sid,
                                           long long *send_attempt);
enum db_status enr_store_session_insert(struct db_conn *c,
                                        const char *sid,
                                        const char *medium,
                                        const char *address,
                                        const char *secret_hash,
                                        long long send_attempt,
                                        const char *token_hash,
                                        const char *next_link);
enum db_status enr_store_session_new_token(struct db_conn *c,
                                           const char *sid,
                                           long long send_attempt,
                                           const char *token_hash,
                                           const char *next_link);
/* A validation session as stored. */
struct enr_session_row {
    struct enr_session s; /* what the handlers see */
    char *client_secret_hash;
    char *token_hash;
    long token_tries;
    char *next_link_used; /* the next_link it was validated with, or NULL */
};
void enr_session_row_clear(struct enr_session_row *row);
/** The session sid (expired: older than validation.session_lifetime); lock: FOR UPDATE.
 *  @param[out] out  filled when 1 (enr_session_row_clear)
 *  @return 1, DB_NO_ROWS, DB_SOFT or DB_HARD */
enum db_status enr_store_session_get(struct db_conn *c,
                                     const char *sid,
                                     bool lock,
                                     struct enr_session_row *out) ANN_MUST_CHECK;
enum db_status enr_store_session_failed_try(struct db_conn *c, const char *sid);
enum db_status enr_store_session_validate(struct db_conn *c, const char *sid);
/* A room invitation as store-invite stores it (strings borrowed). */
struct enr_invite_row {
    const char *token;
    const char *medium;
    const char *address; /* canonical */
    const char *room_id;
    const char *sender;
    const char *sender_server; /* the sender's server name, lower case */
    const char *ephemeral_public_key;
    const char *details;     /* the request as JSON text */
    const char *verified_by; /* how the sender was vouched for: "token" (v2), "legacy" (v1) */
    long validity;           /* seconds until it expires; 0: never */
};
/**
 * Stores a room invitation, pending.
 * @param[out] out_id  its id (annuaire.invites.id) as text, owned, when 1
 * @return 1, DB_NO_ROWS (a token or key already taken), DB_SOFT or DB_HARD
 */
enum db_status enr_store_invite_insert(struct db_conn *c,
                                       const struct enr_invite_row *row,
                                       char **out_id) ANN_MUST_CHECK;
/** The sender of the room invitation token, while its key is valid (enr_store_ephemeral_pending).
 *  @param[out] sender owned, when 1 */
enum db_status enr_store_invite_sender(struct db_conn *c, const char *token, char **sender);
/** Whether public_key is the ephemeral key of a room invitation that is pending, or used by a
 *  binding whose onbind callback is not delivered yet. @return 1, 0 or < 0 */
enum db_status enr_store_ephemeral_pending(struct db_conn *c, const char *public_key);
/* An invitation a binding has just used (strings borrowed for the call). */
struct enr_used_invite {
    const char *id;
    const char *kind; /* "room" or "vip" */
    const char *token;
    const char *room_id; /* NULL for a VIP invitation */
    const char *sender;  /* NULL for a VIP invitation */
};
typedef void (*enr_store_invite_fn)(void *arg, const struct enr_used_invite *u);
/** Every invitation pending for medium/address (room and VIP: pending, not past its expiry,
 *  by a verified sender) becomes used by mxid, now; fn is called for each, oldest first.
 *  @return how many, DB_NO_ROWS, DB_SOFT or DB_HARD */
enum db_status enr_store_invites_use(struct db_conn *c,
                                     const char *medium,
                                     const char *address,
                                     const char *mxid,
                                     enr_store_invite_fn fn,
                                     void *arg) ANN_MUST_CHECK;
/** One more invitation today (UTC) for subject ("sender:<mxid>", "server:<name>"), unless
 *  limit are counted already. @return 1 counted, DB_NO_ROWS over the limit, DB_SOFT or DB_HARD */
enum db_status
enr_store_quota_take(struct db_conn *c, const char *subject, long limit) ANN_MUST_CHECK;
/** Gives back what enr_store_quota_take counted today, in the same transaction.
 *  @return 1, DB_NO_ROWS, DB_SOFT or DB_HARD */
enum db_status enr_store_quota_release(struct db_conn *c, const char *subject) ANN_MUST_CHECK;
/** An invitation the expiry sweep has just expired (strings borrowed for the call). */
typedef void (*enr_store_expired_fn)(void *arg,
                                     const char *id,
                                     const char *kind,
                                     const char *address);
/** Expires at most batch pending invitations past their expiry that no other transaction
 *  holds; fn is called for each. @return how many, DB_NO_ROWS, DB_SOFT or DB_HARD */
enum db_status enr_store_invites_expire(struct db_conn *c,
                                        long batch,
                                        enr_store_expired_fn fn,
                                        void *arg) ANN_MUST_CHECK;
/** Queues a callback to destination and wakes workers on commit; tokens (n_tokens): the
 *  invites it carries, marked delivered once it is. */
enum db_status enr_store_onbind_queue(struct db_conn *c,
                                      const char *destination,
                                      const char *body,
                                      const char *const *tokens,
                                      size_t n_tokens) ANN_MUST_CHECK;

/** A claimed onbind callback (owned strings). */
struct enr_onbind_claim {
    char *id;
    char *destination; /* the server name of the bound Matrix ID */
    char *body;        /* JSON text */
    char *tokens;      /* text[] literal: the invites to mark delivered once it is */
};

/* Callbacks one step of the onbind worker claims: one (enr_store_onbind_claim's LIMIT), so
 * that the lease of a claim covers one call. */
#define ENR_ONBIND_BATCH 1

void enr_onbind_claim_clear(struct enr_onbind_claim *cl);
/**
 * Claims the next due callback for lease_s seconds (or its backoff when longer).
 * @param[out] out  filled when one was claimed
 * @return 1 claimed, DB_NO_ROWS none due, < 0 database failure
 */
enum db_status enr_store_onbind_claim(struct db_conn *c,
                                      long lease_s,
                                      struct enr_onbind_claim *out) ANN_MUST_CHECK;
/** Delivered: marked done, its invites' delivered_at set (the rows are kept). */
enum db_status enr_store_onbind_done(struct db_conn *c,
                                     const struct enr_onbind_claim *cl) ANN_MUST_CHECK;
/** Refused by the homeserver for good: not retried. */
enum db_status enr_store_onbind_gave_up(struct db_conn *c,
                                        const struct enr_onbind_claim *cl,
                                        const char *error) ANN_MUST_CHECK;
/** Failed: retried after its backoff. */
enum db_status enr_store_onbind_retry(struct db_conn *c,
                                      const struct enr_onbind_claim *cl,
                                      const char *error) ANN_MUST_CHECK;
extern const struct db_stmt enr_store_stmts[];
extern const size_t enr_store_n_stmts;

/* Handlers */
int enr_account_register_post(struct http_req *r, const json_t *body);
int enr_account_get(struct http_req *r, const json_t *body);
int enr_account_logout_post(struct http_req *r, const json_t *body);
int enr_terms_get(struct http_req *r, const json_t *body);
int enr_terms_post(struct http_req *r, const json_t *body);
int enr_email_request_token_post(struct http_req *r, const json_t *body);
int enr_email_submit_token_post(struct http_req *r, const json_t *body);
int enr_email_submit_token_get(struct http_req *r, const json_t *body);
int enr_validated3pid_get(struct http_req *r, const json_t *body);
/** POST /v2/3pid/bind: the token's user binds its own Matrix ID. */
int enr_bind_post(struct http_req *r, const json_t *body);
/** POST /api/v1/3pid/bind: a listed homeserver binds one of its users (legacy.c). */
int enr_bind_v1_post(struct http_req *r, const json_t *body);
/** POST /v2/store-invite: the token's user invites, as sender. */
int enr_store_invite_post(struct http_req *r, const json_t *body);
/** POST /api/v1/store-invite: a listed homeserver invites for one of its users. */
int enr_store_invite_v1_post(struct http_req *r, const json_t *body);
int enr_sign_ed25519_post(struct http_req *r, const json_t *body);
int enr_ephemeral_isvalid_get(struct http_req *r, const json_t *body);

/* store_invite_post.c */
/** "Carol@Example.org" -> "Car...@Exa..." (as sydent shows invited addresses). Owned. */
char *enr_redact_address(const char *address, long user_chars, long domain_chars);

/* onbind.c: the homeserver callback once an invited address is bound */
struct dir_assoc;
/* The invitations a new binding carries. */
struct enr_bind_invites {
    json_t *invites; /* [{medium, address, mxid, room_id, sender, signed}, ...] */
    char **tokens;   /* their tokens, n of them */
    size_t n;
};
void enr_bind_invites_clear(struct enr_bind_invites *b);
/**
 * In the bind transaction: every invitation pending for the new binding (room and VIP)
 * becomes used by its Matrix ID, each with an invitation.used audit entry; the room ones
 * are given back, each with its "signed" {mxid, token}, to carry in the association.
 * @param[out] out  filled unless < 0 (maybe none); enr_bind_invites_clear
 * @return invitations used, DB_NO_ROWS, DB_SOFT or DB_HARD
 */
enum db_status enr_invites_for_bind(struct db_conn *c,
                                    const struct dir_assoc *a,
                                    struct enr_bind_invites *out) ANN_MUST_CHECK;
void enr_onbind_wake(void);
int enr_unbind_post(struct http_req *r, const json_t *body);

#endif
