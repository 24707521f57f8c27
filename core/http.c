/*
 * The HTTP front on libmicrohttpd: the public, internal and admin listeners, dispatch through the
 * router (method, access token, terms, body cap, JSON syntax), replies and Matrix error
 * bodies, CORS, the client IP behind trusted proxies, rate-limit replies, refusal of ambiguous
 * framing, a sweeper for requests past http.request_timeout, and graceful stop.
 */
#include "core/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/net.h"
#include "core/ratelimit.h"

/*
 * One open connection, from MHD's NOTIFY_CONNECTION STARTED to CLOSED. MHD's own
 * timeout restarts with every byte, so a client trickling a request would hold its
 * slot forever: the sweeper closes a connection whose request head and body have not
 * arrived by its deadline, however many bytes keep coming.
 */
struct conn_track {
    struct conn_track *prev, *next;
    MHD_socket fd;                 /* valid until CLOSED, which unlinks under the lock */
    _Atomic long long deadline_ns; /* 0 while a request is being answered */
    bool cut;                      /* shut down by the sweeper, MHD closes it next */
    bool bad_text;                 /* the request's path or query string decodes to bytes
                                    * that are not UTF-8, or to a NUL (unescape) */
};

struct http_server {
    struct MHD_Daemon *daemon;
    const struct cfg_http *conf;
    const struct router *router;
    atomic_long active; /* requests between first call and completion */
    atomic_bool stopping;
    uint16_t port;
    enum http_listener kind; /* which routes it serves */
    pthread_mutex_t conns_lock;
    struct conn_track *conns; /* every open connection */
    pthread_t sweeper;
    bool sweeping;
    atomic_bool sweeper_stop;
};

struct ec_entry {
    unsigned status;
    const char *errcode;
    const char *message;
    const char *name;
};

static const struct ec_entry ec_table[] = {
#define X(name, status, errcode, message) { status, errcode, message, #name },
#include "core/errors.def"
#undef X
};

static atomic_uint_fast64_t next_request_id = 1;
static void client_address(struct MHD_Connection *conn, char *buf, size_t size);
static http_auth_fn authenticator;
static http_admin_auth_fn admin_authenticator;

static const char cors_methods[] = "GET, POST, PUT, DELETE, OPTIONS";
static const char cors_headers[] = "Origin, X-Requested-With, Content-Type, Accept, Authorization";

static int
queue(struct http_req *r, unsigned status, struct MHD_Response *resp, const char *content_type)
{
    const struct cfg *cfg = cfg_get();
    enum MHD_Result ok;

    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN,
                            cfg ? cfg->http.cors_origin : "*");
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", cors_methods);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", cors_headers);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && r->match.allow[0] != '\0') {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->match.allow);
    }
    if (r->close) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) {
        r->status = status;
    }
    return ok;
}

int
http_reply_raw(struct http_req *r,
               unsigned status,
               const char *content_type,
               const void *data,
               size_t len)
{
    return queue(r, status,
                 MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY),
                 content_type);
}

int
http_reply_redirect(struct http_req *r, const char *url)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);

    if (resp != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, url);
    }
    return queue(r, MHD_HTTP_FOUND, resp, "text/plain");
}

int
http_reply_json(struct http_req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t len = text ? strlen(text) : 0;

    json_decref(body);
    if (text == NULL) {
        log_bug("reply body could not be encoded");
        text = strdup("{\"errcode\":\"M_UNKNOWN\",\"error\":\"Internal server error\"}");
        if (text == NULL) {
            return MHD_NO;
        }
        len = strlen(text);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    return queue(r, status, MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE),
                 "application/json");
}

int
http_reply_ec(struct http_req *r, enum err_code ec, const char *detail)
{
    return http_reply_ec_extra(r, ec, detail, NULL);
}

int
http_reply_ec_extra(struct http_req *r, enum err_code ec, const char *detail, json_t *extra)
{
    const struct ec_entry *e = &ec_table[ec];
    json_t *body;

    if (detail != NULL) {
        char *msg = xasprintf("%s: %s", e->message, detail);

        body = json_pack("{s:s, s:s}", "errcode", e->errcode, "error", msg);
        free(msg);
    } else {
        body = json_pack("{s:s, s:s}", "errcode", e->errcode, "error", e->message);
    }
    if (extra != NULL) {
        json_object_update_missing(body, extra);
        json_decref(extra);
    }
    if (e->status >= 500 && ec != E_DB_UNAVAILABLE) {
        log_warn("req=%llu %s", (unsigned long long)r->id, e->name);
    } else if (log_enabled(LOG_LEVEL_DEBUG)) {
        /* A database outage is logged once by core/db.c, not once per refused request. */
        char esc[LOG_ESC_SIZE];

        log_debug("req=%llu %s %s", (unsigned long long)r->id, e->name, log_esc(detail, esc));
    }
    return http_reply_json(r, e->status, body);
}

enum reply_status
http_unpack(struct http_req *r, const json_t *body, const struct jx_spec *spec, void *out)
{
    struct jx_error err;
    int ok;

    if (jx_unpack(body, spec, out, &err) == 0) {
        return RS_OK;
    }
    ok = http_reply_ec(r, err.kind == JX_ERR_MISSING ? E_MISSING_PARAMS : E_INVALID_PARAM, err.msg);
    return ok == MHD_YES ? RS_REPLIED : RS_FATAL;
}

/* The bucket of a rate-limit key: an IPv6 address counts for its /64 (a host is often
 * given a whole /64, and could take a new address for each request), an IPv4-mapped one
 * for its IPv4 address; any other key is itself. @return key or buf */
static const char *
rate_bucket(const char *key, char *buf, size_t size)
{
    unsigned char a[16];
    size_t n;

    if (key == NULL || strchr(key, ':') == NULL || inet_pton(AF_INET6, key, a) != 1 ||
        size < INET6_ADDRSTRLEN + 4) {
        return key;
    }
    if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a)) {
        return inet_ntop(AF_INET, a + 12, buf, (socklen_t)size) ? buf : key;
    }
    memset(a + 8, 0, 8);
    if (inet_ntop(AF_INET6, a, buf, (socklen_t)size) == NULL) {
        return key;
    }
    n = strlen(buf);
    snprintf(buf + n, size - n, "/64");
    return buf;
}

/* The 429 of a refused take. */
static enum reply_status
reply_limited(struct http_req *r, long retry)
{
    return http_reply_status(http_reply_ec_extra(
        r, E_LIMIT_EXCEEDED, NULL, json_pack("{s:I}", "retry_after_ms", (json_int_t)retry)));
}

enum reply_status
http_rate_limit(struct http_req *r, const struct rl_limit *limit, const char *key)
{
    char bucket[INET6_ADDRSTRLEN + 4];
    long retry = 0;

    if (rl_take(limit, rate_bucket(key, bucket, sizeof(bucket)), &retry)) {
        return RS_OK;
    }
    return reply_limited(r, retry);
}

enum reply_status
http_rate_limit_shared(struct http_req *r,
                       const struct rl_limit *limit,
                       const char *key,
                       enum rl_outage outage)
{
    char bucket[INET6_ADDRSTRLEN + 4];
    const char *k = rate_bucket(key, bucket, sizeof(bucket));
    long retry = 0;

    switch (rl_take_shared(r->db, limit, k, outage, &retry)) {
    case RL_ALLOWED:
        return RS_OK;
    case RL_REFUSED:
        return reply_limited(r, retry);
    case RL_UNAVAILABLE:
        break;
    }
    /* Refused: the limit needs the database, as the request does. */
    return http_reply_status(http_reply_ec(r, E_DB_UNAVAILABLE, NULL));
}

const char *
http_query(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Every X-Forwarded-For header, joined in the order received ("a, b" and two headers
 * "a" then "b" mean the same): a proxy may append its own header line rather than
 * extend the client's. */
struct xff_join {
    char text[4096];
    size_t len;
    bool seen;
    bool overflow;
};

static enum MHD_Result
xff_append(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct xff_join *j = cls;
    size_t n = strlen(value);

    (void)kind;
    if (strcasecmp(key, "X-Forwarded-For") != 0) {
        return MHD_YES;
    }
    if (j->seen) {
        if (j->len + 1 >= sizeof(j->text)) {
            j->overflow = true;
            return MHD_NO;
        }
        j->text[j->len++] = ',';
    }
    j->seen = true;
    if (j->len + n + 1 >= sizeof(j->text)) {
        j->overflow = true;
        return MHD_NO;
    }
    memcpy(j->text + j->len, value, n + 1);
    j->len += n;
    return MHD_YES;
}

static bool
bare_address(const char *text)
{
    unsigned char a[16];

    return inet_pton(AF_INET, text, a) == 1 || inet_pton(AF_INET6, text, a) == 1;
}

const char *
http_client_ip(const struct http_req *r, char *buf, size_t size)
{
    const json_t *trusted = cfg_get() ? cfg_get()->http.trusted_proxies : NULL;
    struct xff_join j = { .len = 0 };
    char *p;

    client_address(r->conn, buf, size);
    if (json_array_size(trusted) == 0 || !net_in_list(buf, trusted)) {
        return buf;
    }
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, xff_append, &j);
    if (!j.seen) {
        return buf; /* no header: the proxy's own request (or a host beside it) */
    }
    /* Right to left: each hop we trust vouches for the one before it. An entry we
     * cannot read (too long, a port, a name, a range) leaves the client unknown: the
     * proxy's own address would hand its networks' rights to whoever sent it. */
    snprintf(buf, size, "%s", HTTP_CLIENT_UNKNOWN);
    if (j.overflow) {
        return buf;
    }
    for (;;) {
        char *comma = strrchr(j.text, ',');

        p = comma ? comma + 1 : j.text;
        p += strspn(p, " \t");
        p[strcspn(p, " \t")] = '\0';
        if (!bare_address(p)) {
            snprintf(buf, size, "%s", HTTP_CLIENT_UNKNOWN);
            break;
        }
        snprintf(buf, size, "%s", p);
        if (!net_in_list(buf, trusted) || comma == NULL) {
            break;
        }
        *comma = '\0';
    }
    return buf;
}

const char *
http_header(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void
http_set_auth(http_auth_fn fn)
{
    authenticator = fn;
}

void
http_set_admin_auth(http_admin_auth_fn fn)
{
    admin_authenticator = fn;
}

/* The access token from "Authorization: Bearer", else from ?access_token= (which
 * homeservers still send on /hash_details). NULL when absent. */
static const char *
access_token(const struct http_req *r)
{
    const char *token = http_bearer_token(r);

    if (token != NULL) {
        return *token ? token : NULL;
    }
    return http_query(r, "access_token");
}

static int
dispatch(struct http_server *srv, struct http_req *r)
{
    const struct route *route;
    json_t *body = NULL;
    json_error_t jerr;
    int ret;

    if (strcmp(r->method, MHD_HTTP_METHOD_OPTIONS) == 0) {
        return http_reply_json(r, MHD_HTTP_OK, json_object()); /* CORS preflight */
    }
    if (r->too_large) {
        return http_reply_ec(r, E_TOO_LARGE, NULL);
    }
    if (r->route_result == ROUTER_NOT_FOUND) {
        return http_reply_ec(r, E_NOT_FOUND, NULL);
    }
    if (r->route_result == ROUTER_METHOD_NOT_ALLOWED) {
        return http_reply_ec(r, E_METHOD_NOT_ALLOWED, NULL);
    }
    route = router_at(srv->router, r->route_index);
    r->db = db_thread_conn();
    db_read_begin();
    if (route->flags & ROUTE_AUTH) {
        const char *token = access_token(r);
        enum reply_status rs;

        if (token == NULL || strlen(token) > 512 || authenticator == NULL) {
            return http_reply_ec(r, E_UNAUTHORIZED, NULL);
        }
        r->access_token = token;
        rs = authenticator(r, token, !(route->flags & ROUTE_NO_TERMS));
        if (rs != RS_OK) {
            return rs == RS_REPLIED ? MHD_YES : MHD_NO;
        }
    }
    /* Admin routes take their token from the Authorization header only (never the query
     * string, which proxies log). */
    if (route->flags & ROUTE_ADMIN) {
        const char *token = http_bearer_token(r);
        enum reply_status rs;

        if (token == NULL || *token == '\0' || strlen(token) > 512 || admin_authenticator == NULL) {
            return http_reply_ec(r, E_ADMIN_UNAUTHORIZED, NULL);
        }
        rs = admin_authenticator(r, token, route);
        if (rs != RS_OK) {
            return rs == RS_REPLIED ? MHD_YES : MHD_NO;
        }
    }
    if (route->flags & ROUTE_JSON_BODY) {
        if (r->body_len == 0 && (route->flags & ROUTE_BODY_OPTIONAL)) {
            body = json_object();
        } else {
            body = json_loadb(r->body ? r->body : "", r->body_len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
            if (body == NULL) {
                /* Duplicate keys are well-formed JSON with an ambiguous meaning. */
                return http_reply_ec(
                    r, json_error_code(&jerr) == json_error_duplicate_key ? E_BAD_JSON : E_NOT_JSON,
                    NULL);
            }
            if (!json_is_object(body)) {
                json_decref(body);
                return http_reply_ec(r, E_BAD_JSON, NULL);
            }
        }
    }
    ret = route->handler(r, body);
    json_decref(body);
    if (r->status == 0 && ret == MHD_YES) {
        log_bug("handler returned without a reply");
        ret = http_reply_ec(r, E_INTERNAL, NULL);
    }
    return ret;
}

/* Buffers a piece of the body: at most max bytes in all, in a buffer of exactly the
 * declared Content-Length (+1 for the NUL), else grown but never over max + 1. */
static bool
append_body(struct http_req *r, const char *data, size_t len, size_t max)
{
    if (r->too_large || r->body_len + len > max) {
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        return false;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t want = r->body_len + len + 1;
        size_t cap = r->body_cap ? 2 * r->body_cap : r->body_declared ? r->body_declared + 1 : 1024;

        cap = cap < want ? want : cap;
        cap = cap > max + 1 ? max + 1 : cap;
        r->body = xrealloc(r->body, cap);
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return true;
}

/* Whether the request may come with a body: a route that reads a JSON one. A body
 * anywhere else (404, 405, OPTIONS, a GET) is refused before it is read. */
static bool
body_wanted(const struct http_server *srv, const struct http_req *r)
{
    return r->route_result == ROUTER_FOUND &&
           (router_at(srv->router, r->route_index)->flags & ROUTE_JSON_BODY) &&
           strcmp(r->method, MHD_HTTP_METHOD_OPTIONS) != 0;
}

struct framing {
    int n_length;   /* Content-Length headers */
    int n_coding;   /* Transfer-Encoding headers */
    bool chunked;   /* the last Transfer-Encoding is exactly "chunked" */
    bool malformed; /* a header line a proxy may read otherwise than MHD does */
};

/* RFC 9110 5.6.2: tchar. */
static bool
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
is_token(const char *s, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* Whether name starts with prefix (any case) and goes on past it. */
static bool
extends_name(const char *name, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len > n && strncasecmp(name, prefix, n) == 0;
}

static enum MHD_Result
count_framing(void *cls,
              enum MHD_ValueKind kind,
              const char *key,
              size_t key_size,
              const char *value,
              size_t value_size)
{
    struct framing *f = cls;

    (void)kind;
    /* MHD 0.9.75 keeps a blank before the colon in the name ("Transfer-Encoding "), glues
     * a folded line onto the name before it ("Transfer-Encodingchunked", "X-AContent-
     * Length: 40") and lets a bare CR through inside a line: a proxy in front may read
     * any of these as a framing header MHD does not see. (A NUL ends the value as MHD
     * stores it: what follows cannot be seen here.) */
    if (key == NULL || !is_token(key, key_size) ||
        extends_name(key, key_size, MHD_HTTP_HEADER_CONTENT_LENGTH) ||
        extends_name(key, key_size, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->malformed = true;
        return MHD_NO;
    }
    for (size_t i = 0; value != NULL && i < value_size; i++) {
        unsigned char c = (unsigned char)value[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            f->malformed = true;
            return MHD_NO;
        }
    }
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->n_length++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        /* Exactly as MHD reads it: "chunked " is no coding MHD knows, so not allowed. */
        f->n_coding++;
        f->chunked = value != NULL && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

/*
 * Whether the body's length is ambiguous: two Content-Length headers (even equal
 * ones), Content-Length with Transfer-Encoding, or any transfer coding but a lone
 * "chunked"; or whether a header line is malformed (a name that is not a token, or
 * that extends Content-Length or Transfer-Encoding, a control character in a value).
 * A proxy in front may read such a request otherwise than we do (request smuggling):
 * it is refused, and the connection closed.
 */
static bool
framing_ambiguous(struct MHD_Connection *conn)
{
    struct framing f = { 0 };

    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_framing, &f);
    return f.malformed || f.n_length > 1 || f.n_coding > 1 ||
           (f.n_coding == 1 && (!f.chunked || f.n_length > 0));
}

/* Whether this listener serves route: ROUTE_ADMIN only on the admin one, which serves
 * nothing else; ROUTE_INTERNAL only on the internal one; ROUTE_OPS there and, with
 * http.public_metrics, on the public one too; the others on the public one. */
static bool
route_here(const struct route *route, const void *cls)
{
    const struct http_server *srv = cls;

    if (srv->kind == HTTP_ADMIN || (route->flags & ROUTE_ADMIN)) {
        return srv->kind == HTTP_ADMIN && (route->flags & ROUTE_ADMIN);
    }
    if (route->flags & ROUTE_INTERNAL) {
        return srv->kind == HTTP_INTERNAL;
    }
    if (route->flags & ROUTE_OPS) {
        return srv->kind == HTTP_INTERNAL || srv->conf->public_metrics;
    }
    return srv->kind == HTTP_PUBLIC;
}

static struct conn_track *
conn_track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static struct http_req *
req_new(struct http_server *srv, struct MHD_Connection *conn, const char *url, const char *method)
{
    struct http_req *r = xcalloc(1, sizeof(*r));
    struct conn_track *t;
    const char *clen;

    r->conn = conn;
    r->url = url;
    r->method = method;
    r->id = atomic_fetch_add_explicit(&next_request_id, 1, memory_order_relaxed);
    r->start_ns = util_now_ns();
    r->route_index = SIZE_MAX;
    /* The other listener's routes are not there at all: 404 whatever the method, never a
     * 405 whose Allow would reveal them. */
    r->route_result = router_match_where(srv->router, method, url, route_here, srv, &r->match);
    if (r->route_result == ROUTER_FOUND) {
        r->route_index = r->match.index;
    }
    clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (clen != NULL) {
        long n = 0;

        if (util_parse_long(clen, 0, srv->conf->max_body_bytes, &n) != 0) {
            r->too_large = true;
        } else {
            r->body_declared = (size_t)n;
        }
        r->has_body = n != 0 || r->too_large;
    }
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) !=
        NULL) {
        r->has_body = true;
    }
    if (framing_ambiguous(conn)) {
        r->bad_framing = true;
        r->close = true;
    }
    t = conn_track_of(conn);
    if (t != NULL) {
        r->bad_text = t->bad_text;
        t->bad_text = false; /* MHD reads the next request line only after this one is done */
    }
    atomic_fetch_add(&srv->active, 1);
    return r;
}

/*
 * MHD's own decoding of %XX in the path and in the query string's names and values
 * (MHD_http_unescape), noting on the connection a result that is not UTF-8 or holds a
 * NUL: such a request is refused (400) before any route sees it. No text of ours holds
 * such bytes, PostgreSQL refuses them, and a NUL would cut a value short unseen.
 */
static size_t
unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    size_t n = MHD_http_unescape(s);
    struct conn_track *t;

    (void)cls;
    if (!util_utf8_ok(s, n) && (t = conn_track_of(conn)) != NULL) {
        t->bad_text = true;
    }
    return n;
}

/* now + http.request_timeout, or none (0) when there is no such timeout. */
static long long
deadline_from_now(const struct http_server *srv)
{
    return srv->conf->request_timeout > 0
               ? util_now_ns() + srv->conf->request_timeout * 1000000000LL
               : 0;
}

/* Moves a connection's deadline: now + http.request_timeout, or none (0). */
static void
conn_set_deadline(struct http_server *srv, struct MHD_Connection *conn, bool armed)
{
    struct conn_track *t = conn_track_of(conn);

    if (t != NULL && srv->conf->request_timeout > 0) {
        atomic_store(&t->deadline_ns, armed ? deadline_from_now(srv) : 0);
    }
}

static enum MHD_Result
on_request(void *cls,
           struct MHD_Connection *conn,
           const char *url,
           const char *method,
           const char *version,
           const char *upload_data,
           size_t *upload_data_size,
           void **con_cls)
{
    struct http_server *srv = cls;
    struct http_req *r = *con_cls;

    if (r == NULL) {
        r = req_new(srv, conn, url, method);
        *con_cls = r;
        if (r->bad_framing) {
            r->dispatched = true;
            conn_set_deadline(srv, conn, false);
            return (enum MHD_Result)http_reply_ec(r, E_BAD_FRAMING, NULL);
        }
        if (r->too_large) {
            /* Refuse before reading the body: MHD closes the connection after. */
            r->dispatched = true;
            return (enum MHD_Result)http_reply_ec(r, E_TOO_LARGE, NULL);
        }
        if (r->bad_text) {
            /* Answered before the body (if any) is read, and the connection closed then. */
            r->dispatched = true;
            r->close = r->has_body;
            conn_set_deadline(srv, conn, false);
            return (enum MHD_Result)http_reply_ec(
                r, E_INVALID_PARAM, "the path or the query string is not UTF-8 text without NUL");
        }
        if (r->has_body && !body_wanted(srv, r)) {
            /* Answered before the body is read (413 on a route that takes none, else
             * 404, 405 or the preflight as usual), and the connection closed. */
            r->dispatched = true;
            r->close = true;
            conn_set_deadline(srv, conn, false);
            if (r->route_result == ROUTER_FOUND &&
                strcmp(r->method, MHD_HTTP_METHOD_OPTIONS) != 0) {
                return (enum MHD_Result)http_reply_ec(r, E_TOO_LARGE, "this route takes no body");
            }
            return (enum MHD_Result)dispatch(srv, r);
        }
        return MHD_YES;
    }
    if (r->dispatched) {
        *upload_data_size = 0; /* discard whatever else arrives */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        append_body(r, upload_data, *upload_data_size, (size_t)srv->conf->max_body_bytes);
        *upload_data_size = 0;
        return MHD_YES;
    }
    r->dispatched = true;
    conn_set_deadline(srv, conn, false); /* the whole request is in: no deadline while answering */
    if (atomic_load(&srv->stopping)) {
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 1);
    }
    return (enum MHD_Result)dispatch(srv, r);
}

static void
client_address(struct MHD_Connection *conn, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(buf, size, "-");
    if (size < INET6_ADDRSTRLEN) {
        return;
    }
    if (sa != NULL && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)size);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)size);
    }
}

static void
on_completed(void *cls,
             struct MHD_Connection *conn,
             void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_req *r = *con_cls;
    long long dur;

    if (r == NULL) {
        return;
    }
    *con_cls = NULL;
    conn_set_deadline(srv, conn, true); /* the next request on this connection */
    dur = util_now_ns() - r->start_ns;
    metrics_observe_request(r->route_index, r->status, dur);
    if (log_enabled(LOG_LEVEL_INFO)) {
        char esc[LOG_ESC_SIZE];
        char ip[INET6_ADDRSTRLEN];

        http_client_ip(r, ip, sizeof(ip));
        log_info("req=%llu %s %s %u %.3fms %s%s", (unsigned long long)r->id, r->method,
                 log_esc(r->url, esc), r->status, (double)dur / 1e6, ip,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
    }
    if (r->cleanup_fn != NULL) {
        r->cleanup_fn(r->ctx);
    }
    free(r->user_id);
    free(r->admin);
    free(r->body);
    free(r);
    atomic_fetch_sub(&srv->active, 1);
}

static void
on_connection(void *cls,
              struct MHD_Connection *conn,
              void **socket_context,
              enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    struct conn_track *t = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        t = xcalloc(1, sizeof(*t));
        t->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
        atomic_store(&t->deadline_ns, deadline_from_now(srv));
        pthread_mutex_lock(&srv->conns_lock);
        t->next = srv->conns;
        if (srv->conns != NULL) {
            srv->conns->prev = t;
        }
        srv->conns = t;
        pthread_mutex_unlock(&srv->conns_lock);
        *socket_context = t;
    } else if (t != NULL) {
        /* MHD closes the descriptor after this: unlinked, the sweeper cannot touch it. */
        pthread_mutex_lock(&srv->conns_lock);
        if (t->prev != NULL) {
            t->prev->next = t->next;
        } else {
            srv->conns = t->next;
        }
        if (t->next != NULL) {
            t->next->prev = t->prev;
        }
        pthread_mutex_unlock(&srv->conns_lock);
        free(t);
        *socket_context = NULL;
    }
}

/* Four times a second, shuts down the connections past their deadline; MHD sees the
 * socket end and closes the connection in its own thread. */
static void *
sweep(void *p)
{
    struct http_server *srv = p;

    while (!atomic_load(&srv->sweeper_stop)) {
        struct timespec ts = { 0, 250 * 1000 * 1000 };
        long long now;

        nanosleep(&ts, NULL);
        now = util_now_ns();
        pthread_mutex_lock(&srv->conns_lock);
        for (struct conn_track *t = srv->conns; t != NULL; t = t->next) {
            long long deadline = atomic_load(&t->deadline_ns);

            if (!t->cut && deadline != 0 && now >= deadline && t->fd != MHD_INVALID_SOCKET) {
                t->cut = true;
                shutdown(t->fd, SHUT_RDWR);
                log_debug("http: a connection did not send its request within %lds: closed",
                          srv->conf->request_timeout);
            }
        }
        pthread_mutex_unlock(&srv->conns_lock);
    }
    return NULL;
}

static void
on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_warn("http: %s", msg);
}

static int
parse_bind(const char *addr, long port, struct sockaddr_storage *ss, unsigned *flags)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    return -1;
}

struct http_server *
http_start(const struct cfg_http *conf, const struct router *router)
{
    return http_start_listener(conf, router, HTTP_PUBLIC);
}

struct http_server *
http_start_listener(const struct cfg_http *conf,
                    const struct router *router,
                    enum http_listener kind)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    /* Handlers block on PostgreSQL: four threads a CPU keep the CPUs busy meanwhile. */
    unsigned threads = conf->threads > 0 ? (unsigned)conf->threads : 4 * (unsigned)util_cpu_count();
    const union MHD_DaemonInfo *di;

    srv->conf = conf;
    srv->router = router;
    srv->kind = kind;
    pthread_mutex_init(&srv->conns_lock, NULL);
    if (parse_bind(conf->bind_address, conf->port, &ss, &flags) != 0) {
        log_err("http.bind_address %s is not a numeric IPv4 or IPv6 address", conf->bind_address);
        pthread_mutex_destroy(&srv->conns_lock);
        free(srv);
        return NULL;
    }
    /* No MHD_OPTION_LISTENING_ADDRESS_REUSE (SO_REUSEPORT): a second instance on a taken
     * port must fail to start, not share the port and half of the connections. */
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)conf->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_error, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)conf->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)conf->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)conf->connection_timeout, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
        srv, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        log_err("cannot listen on %s port %ld: is another process using it?", conf->bind_address,
                conf->port);
        pthread_mutex_destroy(&srv->conns_lock);
        free(srv);
        return NULL;
    }
    if (conf->request_timeout > 0) {
        if (pthread_create(&srv->sweeper, NULL, sweep, srv) != 0) {
            log_err("cannot start the connection sweeper");
            MHD_stop_daemon(srv->daemon);
            pthread_mutex_destroy(&srv->conns_lock);
            free(srv);
            return NULL;
        }
        srv->sweeping = true;
    }
    /* With port 0 the system picks one: the log line says which (the tests read it). */
    di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : (uint16_t)conf->port;
    log_info("listening on %s port %u with %u threads%s", conf->bind_address, srv->port, threads,
             kind == HTTP_INTERNAL ? " (internal listener)"
             : kind == HTTP_ADMIN  ? " (admin listener)"
                                   : "");
    return srv;
}

uint16_t
http_port(const struct http_server *srv)
{
    return srv->port;
}

void
http_stop(struct http_server *srv, long timeout_s)
{
    MHD_socket fd;
    long long deadline;

    if (srv == NULL) {
        return;
    }
    atomic_store(&srv->stopping, true);
    fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET) {
        /* Stop listening at once (new connections are refused), but keep the descriptor
         * open until the threads, which drop it from their epoll sets lazily, are gone. */
        shutdown(fd, SHUT_RDWR);
    }
    deadline = util_now_ns() + timeout_s * 1000000000LL;
    while (atomic_load(&srv->active) > 0 && util_now_ns() < deadline) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };

        nanosleep(&ts, NULL);
    }
    if (atomic_load(&srv->active) > 0) {
        log_warn("stopping with %ld requests still in flight", atomic_load(&srv->active));
    }
    MHD_stop_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
    }
    if (srv->sweeping) {
        atomic_store(&srv->sweeper_stop, true);
        pthread_join(srv->sweeper, NULL);
    }
    pthread_mutex_destroy(&srv->conns_lock);
    free(srv);
}

/* ---- Shared by the handlers of several modules ---- */

enum reply_status
http_reply_status(int mhd_ret)
{
    return mhd_ret == MHD_YES ? RS_REPLIED : RS_FATAL;
}

const char *
http_bearer_token(const struct http_req *r)
{
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        return NULL;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    return h;
}
