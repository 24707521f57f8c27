/*
 * HTTP front: libmicrohttpd with a thread pool, the router, body limits,
 * JSON replies and Matrix error bodies, CORS, access log, graceful stop.
 */
#ifndef ANN_CORE_HTTP_H
#define ANN_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/cfg.h"
#include "core/ratelimit.h"
#include "core/router.h"
#include "core/util.h"

enum err_code {
#define X(name, status, errcode, message) name,
#include "core/errors.def"
#undef X
    E__COUNT
};

struct db_conn;
struct jx_spec;

/* Outcome of a step that may already have queued a reply. */
enum reply_status {
    RS_OK,      /* go on (not R_OK: unistd.h owns that name) */
    RS_REPLIED, /* an error reply is queued: return MHD_YES */
    RS_FATAL,   /* not even an error could be queued: return MHD_NO */
};

/* One request, made on MHD's first call and freed when MHD reports completion. */
struct http_req {
    struct MHD_Connection *conn;
    const char *method; /* borrowed from MHD */
    const char *url;    /* path only, borrowed from MHD */
    uint64_t id;
    long long start_ns;
    size_t route_index; /* SIZE_MAX when no route matched */
    enum router_result route_result;
    struct router_match match;
    char *body;
    size_t body_len, body_cap;
    size_t body_declared; /* Content-Length, 0 when none */
    bool has_body;        /* a Content-Length over 0, or a Transfer-Encoding */
    bool too_large;
    bool bad_framing; /* ambiguous Content-Length / Transfer-Encoding: 400, then closed */
    bool bad_text;    /* the path or the query string decodes to non-UTF-8 or a NUL: 400 */
    bool close;       /* reply with Connection: close */
    bool dispatched;
    unsigned status;          /* status of the queued reply, 0 before */
    struct db_conn *db;       /* this worker thread's connection */
    char *user_id;            /* the authenticated Matrix user (ROUTE_AUTH), owned */
    const char *access_token; /* the token it presented (ROUTE_AUTH), borrowed from MHD */
    char *admin;              /* the admin token's name (ROUTE_ADMIN), owned */
    void *ctx;                /* handler state, freed by cleanup_fn on completion */
    void (*cleanup_fn)(void *ctx);
};

/**
 * Queues a JSON reply and steals body.
 * @return MHD_YES, or MHD_NO when the reply could not be queued
 */
int http_reply_json(struct http_req *r, unsigned status, json_t *body);

/**
 * Queues the Matrix error {"errcode", "error"} of ec; detail, when given, is
 * appended to the message (it is sent to the client: no secrets).
 * @return MHD_YES or MHD_NO
 */
int http_reply_ec(struct http_req *r, enum err_code ec, const char *detail);

/** As http_reply_ec, with the members of extra (stolen) added to the error body. */
int http_reply_ec_extra(struct http_req *r, enum err_code ec, const char *detail, json_t *extra);

/** Queues a reply with a body copied from data. @return MHD_YES or MHD_NO */
int http_reply_raw(struct http_req *r,
                   unsigned status,
                   const char *content_type,
                   const void *data,
                   size_t len);

/** Queues a 302 to url (which must be http(s), checked by the caller). @return MHD_YES or MHD_NO */
int http_reply_redirect(struct http_req *r, const char *url);

/**
 * Checks the body against a spec (core/json.h) and fills out; on bad input
 * queues 400 M_MISSING_PARAMS or M_INVALID_PARAM naming the field.
 * @return RS_OK, RS_REPLIED or RS_FATAL
 */
enum reply_status http_unpack(struct http_req *r,
                              const json_t *body,
                              const struct jx_spec *spec,
                              void *out) ANN_MUST_CHECK;

/**
 * Takes a token of limit for key (NULL key: allowed; an IPv6 address counts for its
 * /64, an IPv4-mapped one for its IPv4 address) in this instance's memory: a budget per
 * instance. When none is left, queues 429 M_LIMIT_EXCEEDED with retry_after_ms.
 * @return RS_OK, RS_REPLIED or RS_FATAL
 */
enum reply_status
http_rate_limit(struct http_req *r, const struct rl_limit *limit, const char *key) ANN_MUST_CHECK;

/**
 * As http_rate_limit, with the bucket in PostgreSQL (rl_take_shared on r->db, after
 * this instance's bucket): one budget for every instance on the database. When the
 * database does not answer, queues 503 M_UNKNOWN (E_DB_UNAVAILABLE) under
 * RL_OUTAGE_REFUSE; under RL_OUTAGE_LOCAL this instance's bucket decided.
 * @return RS_OK, RS_REPLIED or RS_FATAL
 */
enum reply_status http_rate_limit_shared(struct http_req *r,
                                         const struct rl_limit *limit,
                                         const char *key,
                                         enum rl_outage outage) ANN_MUST_CHECK;

/** A query string argument (borrowed), or NULL. */
const char *http_query(const struct http_req *r, const char *name);

/** What http_client_ip gives for a client behind a trusted proxy whose address cannot be
 * read: in no network, and one rate-limit bucket for all such clients. */
#define HTTP_CLIENT_UNKNOWN "unknown"

/**
 * The client's IP address: the peer, or, when the peer is one of
 * http.trusted_proxies, the nearest entry of its X-Forwarded-For headers (all of them,
 * in order) that is not; HTTP_CLIENT_UNKNOWN when an entry on the way is not a bare
 * address or the headers are over 4 KiB.
 * @return buf
 */
const char *http_client_ip(const struct http_req *r, char *buf, size_t size);

/** A request header (borrowed), or NULL. */
const char *http_header(const struct http_req *r, const char *name);

/**
 * Checks an identity access token for a ROUTE_AUTH route: sets r->user_id, or
 * queues 401 M_UNAUTHORIZED / 403 M_TERMS_NOT_SIGNED (when check_terms).
 */
typedef enum reply_status (*http_auth_fn)(struct http_req *r, const char *token, bool check_terms);

/** Installs the token checker (before http_start). */
void http_set_auth(http_auth_fn fn);

/**
 * Checks an admin token for a ROUTE_ADMIN route (borrowed; its ROUTE_SCOPE_* flags say
 * what the token must hold): sets r->admin, or queues 401 M_UNAUTHORIZED / 403 M_FORBIDDEN.
 */
typedef enum reply_status (*http_admin_auth_fn)(struct http_req *r,
                                                const char *token,
                                                const struct route *route);

/** Installs the admin token checker (before the admin listener starts). */
void http_set_admin_auth(http_admin_auth_fn fn);

/* What a listener serves. */
enum http_listener {
    HTTP_PUBLIC,   /* every route but ROUTE_INTERNAL and ROUTE_ADMIN ones (ROUTE_OPS with
                    * http.public_metrics) */
    HTTP_INTERNAL, /* ROUTE_INTERNAL and ROUTE_OPS routes */
    HTTP_ADMIN,    /* ROUTE_ADMIN routes */
};

struct http_server;

/**
 * Starts listening and serving with a thread pool.
 *
 * @param conf    listener settings (borrowed for the life of the server)
 * @param router  routes (borrowed)
 * @return a running server, or NULL (logged) when it cannot listen
 */
struct http_server *http_start(const struct cfg_http *conf, const struct router *router);
/** Like http_start (which is HTTP_PUBLIC), for a listener of the given kind: it serves
 *  the routes of its kind only (enum http_listener). */
struct http_server *http_start_listener(const struct cfg_http *conf,
                                        const struct router *router,
                                        enum http_listener kind);

/**
 * Stops accepting connections, lets in-flight requests finish for at most
 * timeout_s seconds, then stops the threads and frees the server. Takes NULL.
 */
void http_stop(struct http_server *srv, long timeout_s);

/** The port actually bound (useful with port 0). */
uint16_t http_port(const struct http_server *srv);

/* ---- Shared by the handlers of several modules ---- */

/** The reply_status of a reply just queued (the MHD_YES / MHD_NO of http_reply_*): for a
 *  step that may reply. @return RS_REPLIED, or RS_FATAL when it could not be queued */
enum reply_status http_reply_status(int mhd_ret);

/** The credentials of "Authorization: Bearer <credentials>" (the scheme in any case,
 *  spaces after it skipped; "" when there are none), borrowed from MHD; NULL when the
 *  request has no such header. */
const char *http_bearer_token(const struct http_req *r);

#endif
