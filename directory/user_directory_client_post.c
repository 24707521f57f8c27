/*
 * POST /_matrix/client/v3/user_directory/search and /_matrix/client/r0/user_directory/search:
 * the client-server API's user directory of a homeserver, which a reverse proxy in front
 * of it sends here. The homeserver is the one search.client_hosts maps the request's Host
 * to (its client-API URL, the only place this handler calls). The caller's access token is
 * checked with that homeserver (account/whoami), the same search is forwarded to it, and
 * the answer is its results first, in its order, then the annuaire's hits that have a
 * Matrix ID not listed yet, up to limit. When the homeserver's search fails, the
 * annuaire's alone, limited, with "fr.annuaire.homeserver_failed": true. A caller that is
 * not a user of an agents' homeserver of the routing map (dir_search_agent_caller: an
 * externals' platform, a server the map does not name) gets the homeserver's answer alone.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "core/cfg.h"
#include "core/federation.h"
#include "core/fetch.h"
#include "core/log.h"
#include "directory/internal.h"
#include "directory/search.h"
#include "routing/routing.h"

#define CLIENT_MAX_LIMIT 50
#define TOKEN_MAX        4096
#define MXID_MAX         255
#define WHOAMI_MAX_BODY  (64 * 1024)
#define SEARCH_MAX_BODY  (1024 * 1024)
#define LANG_MAX         256
#define FLAG_HS_FAILED   "fr.annuaire.homeserver_failed"
#define WHOAMI_PATH      "/_matrix/client/v3/account/whoami"
#define SEARCH_PATH_V3   "/_matrix/client/v3/user_directory/search"
#define SEARCH_PATH_R0   "/_matrix/client/r0/user_directory/search"

/* The homeserver of this request, from search.client_hosts. */
struct client_hs {
    char *host; /* the map's key: names the destination of fetch_slot_take */
    char *url;  /* its client-API base URL, without a trailing slash */
};

static void
client_hs_clear(struct client_hs *hs)
{
    free(hs->host);
    free(hs->url);
}

/* The entry of client_hosts for host (any case), or NULL. */
static const json_t *
host_lookup(const json_t *hosts, const char *host, size_t len, const char **key)
{
    const char *k;
    json_t *v;

    json_object_foreach ((json_t *)hosts, k, v) {
        if (strlen(k) == len && strncasecmp(k, host, len) == 0 && json_is_string(v)) {
            *key = k;
            return v;
        }
    }
    return NULL;
}

/* The Host header's homeserver: the map's entry for it, else for it without its port.
 * @return 0, or -1 when there is none */
static int
find_homeserver(const struct http_req *r, struct client_hs *out)
{
    const json_t *hosts = dir_search_config(cfg_get()).client_hosts;
    const char *host = http_header(r, MHD_HTTP_HEADER_HOST);
    const json_t *url = NULL;
    const char *key = NULL;
    const char *colon;
    size_t n;

    if (host == NULL || hosts == NULL || strlen(host) > 300) {
        return -1;
    }
    url = host_lookup(hosts, host, strlen(host), &key);
    colon = strrchr(host, ':');
    if (url == NULL && colon != NULL && host[0] != '[') {
        url = host_lookup(hosts, host, (size_t)(colon - host), &key);
    } else if (url == NULL && host[0] == '[' && (colon = strstr(host, "]:")) != NULL) {
        url = host_lookup(hosts, host, (size_t)(colon - host) + 1, &key);
    }
    if (url == NULL) {
        return -1;
    }
    out->host = xstrdup(key);
    out->url = xstrdup(json_string_value(url));
    n = strlen(out->url);
    while (n > 0 && out->url[n - 1] == '/') {
        out->url[--n] = '\0';
    }
    return 0;
}

/* A header value we may put on a line of our own: printable ASCII, bounded. */
static bool
header_value_ok(const char *s, size_t max)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (n == max || (unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e) {
            return false;
        }
    }
    return n > 0;
}

/* The caller's access token: Authorization: Bearer, else the access_token query
 * parameter (borrowed), or NULL. */
static const char *
caller_token(const struct http_req *r)
{
    const char *t = http_bearer_token(r);

    if (t == NULL || t[0] == '\0') {
        t = http_query(r, "access_token");
    }
    return t != NULL && header_value_ok(t, TOKEN_MAX) ? t : NULL;
}

/* One call to the homeserver, with the caller's token (and language); nothing else of the
 * request goes with it. The token is wiped from our copy after the call. */
static enum fetch_status
call_hs(const struct client_hs *hs,
        const char *path,
        const char *token,
        const char *lang,
        const char *json_body,
        size_t max_body,
        struct fetch_result *res)
{
    const struct cfg_account *acc = &cfg_get()->account;
    /* An operator's URL, taken as written (a private address too), as account.homeservers */
    struct fetch_opts opts = { .verify_tls = acc->tls_verify != 0,
                               .allow_private = true,
                               .timeout_s = acc->request_timeout,
                               .max_body = max_body };
    char *auth = xasprintf("Authorization: Bearer %s", token);
    char *accept = lang != NULL ? xasprintf("Accept-Language: %s", lang) : NULL;
    const char *headers[] = { auth, accept, NULL };
    char *url = xasprintf("%s%s", hs->url, path);
    enum fetch_status st;

    if (!fetch_slot_take(hs->host)) {
        st = FETCH_REFUSED;
        snprintf(res->error, sizeof(res->error), "every slot for homeserver calls is taken");
    } else {
        st = fetch_request(url, json_body, headers, &opts, res);
        fetch_slot_release(hs->host);
    }
    OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
    free(accept);
    free(url);
    return st;
}

/* "@localpart:server", bounded. */
static bool
mxid_ok(const char *s)
{
    return s != NULL && s[0] == '@' && strlen(s) <= MXID_MAX && fed_mxid_server(s) != NULL &&
           header_value_ok(s, MXID_MAX);
}

/* The token's user, from the homeserver. @return RS_OK with *user_id (owned); else 401
 * M_UNKNOWN_TOKEN (refused by the homeserver), 502 (unreachable or a bad answer) or 503
 * (no slot) queued */
static enum reply_status
whoami(struct http_req *r, const struct client_hs *hs, const char *token, char **user_id)
{
    struct fetch_result res = { 0 };
    enum fetch_status st = call_hs(hs, WHOAMI_PATH, token, NULL, NULL, WHOAMI_MAX_BODY, &res);
    enum reply_status rs = RS_OK;
    json_t *j = NULL;
    const char *uid;

    if (st == FETCH_REFUSED) {
        rs = http_reply_status(
            http_reply_ec_extra(r, E_HS_BUSY, NULL, json_pack("{s:i}", "retry_after_ms", 1000)));
    } else if (st == FETCH_OK && (res.status == 401 || res.status == 403)) {
        rs = http_reply_status(http_reply_ec(r, E_USERDIR_UNKNOWN_TOKEN, NULL));
    } else if (st != FETCH_OK || res.status != 200 ||
               (j = json_loadb(res.body, res.len, 0, NULL)) == NULL ||
               !mxid_ok(uid = json_string_value(json_object_get(j, "user_id")))) {
        log_warn("req=%llu whoami at %s failed: status %ld %s", (unsigned long long)r->id, hs->host,
                 res.status, res.error);
        rs = http_reply_status(http_reply_ec(r, E_USERDIR_HS_UNREACHABLE, NULL));
    } else {
        *user_id = xstrdup(uid);
    }
    json_decref(j);
    fetch_result_clear(&res);
    return rs;
}

/* The homeserver's answer, checked: at most limit results [{user_id, display_name?,
 * avatar_url?}] (nothing else of them kept), and whether it is limited.
 * @return 0, or -1 when it failed (no answer, not 200, not that shape) */
static int
forward_search(struct http_req *r,
               const struct client_hs *hs,
               const char *token,
               const json_t *body,
               int limit,
               json_t *results,
               json_t *seen,
               bool *limited)
{
    const char *path =
        strncmp(r->url, "/_matrix/client/r0/", 19) == 0 ? SEARCH_PATH_R0 : SEARCH_PATH_V3;
    const char *lang = http_header(r, MHD_HTTP_HEADER_ACCEPT_LANGUAGE);
    struct fetch_result res = { 0 };
    char *json_body = json_dumps(body, JSON_COMPACT);
    json_t *j = NULL;
    const json_t *list;
    enum fetch_status st;
    size_t i;
    json_t *v;
    int ret = -1;

    if (lang != NULL && !header_value_ok(lang, LANG_MAX)) {
        lang = NULL;
    }
    st = call_hs(hs, path, token, lang, json_body, SEARCH_MAX_BODY, &res);
    if (st != FETCH_OK || res.status != 200 ||
        (j = json_loadb(res.body, res.len, 0, NULL)) == NULL ||
        !json_is_array(list = json_object_get(j, "results")) ||
        !json_is_boolean(json_object_get(j, "limited"))) {
        log_warn("req=%llu user_directory/search at %s failed: status %ld %s",
                 (unsigned long long)r->id, hs->host, res.status, res.error);
        goto cleanup;
    }
    *limited = json_is_true(json_object_get(j, "limited"));
    json_array_foreach (list, i, v) {
        const char *uid = json_string_value(json_object_get(v, "user_id"));
        const json_t *name = json_object_get(v, "display_name");
        const json_t *avatar = json_object_get(v, "avatar_url");
        json_t *item;

        if (!mxid_ok(uid) || json_object_get(seen, uid) != NULL) {
            continue;
        }
        if (json_array_size(results) == (size_t)limit) {
            *limited = true;
            break;
        }
        item = json_pack("{s:s}", "user_id", uid);
        if (json_is_string(name)) {
            json_object_set(item, "display_name", (json_t *)name);
        }
        if (json_is_string(avatar)) {
            json_object_set(item, "avatar_url", (json_t *)avatar);
        }
        json_array_append_new(results, item);
        json_object_set_new(seen, uid, json_true());
    }
    ret = 0;
cleanup:
    json_decref(j);
    fetch_result_clear(&res);
    free(json_body);
    return ret;
}

int
dir_user_directory_client_post(struct http_req *r, const json_t *body)
{
    struct client_hs hs = { 0 };
    struct dir_userdir_in in;
    char *user_id = NULL;
    json_t *results = NULL;
    json_t *seen = NULL;
    json_t *out = NULL;
    struct routing_map *routes = NULL;
    const char *token;
    enum reply_status rs;
    enum dir_search_status st = DIR_SEARCH_OK;
    bool hs_limited = false;
    bool more = false;
    bool agent;
    int hs_failed;
    int ret;

    if (find_homeserver(r, &hs) != 0) {
        return http_reply_ec(r, E_USERDIR_UNKNOWN_HOST, NULL);
    }
    token = caller_token(r);
    if (token == NULL) {
        ret = http_reply_ec(r, E_USERDIR_MISSING_TOKEN, NULL);
        goto cleanup;
    }
    rs = dir_userdir_parse(r, body, CLIENT_MAX_LIMIT, &in);
    if (rs == RS_OK) {
        /* The client IP's quota before the homeserver is called: a flood of made-up
         * tokens costs no whoami past it. */
        rs = dir_limit_search(r, "ip", NULL);
    }
    if (rs == RS_OK) {
        rs = whoami(r, &hs, token, &user_id);
    }
    if (rs == RS_OK) {
        rs = dir_limit_search(r, "user", user_id);
    }
    if (rs != RS_OK) {
        ret = rs == RS_REPLIED ? MHD_YES : MHD_NO;
        goto cleanup;
    }
    routes = routing_acquire();
    agent = dir_search_agent_caller(routes, user_id);
    results = json_array();
    seen = json_object();
    hs_failed = forward_search(r, &hs, token, body, (int)in.limit, results, seen, &hs_limited);
    if (!agent) {
        /* Only users of an agents' homeserver browse the agents: the others (externals,
         * servers the routing map does not name) get the homeserver's answer alone. */
        if (hs_failed != 0) {
            ret = http_reply_ec(r, E_USERDIR_HS_UNREACHABLE, NULL);
            goto cleanup;
        }
    } else {
        st =
            dir_userdir_search(db_thread_read_conn(), in.search_term,
                               (int)in.limit - (int)json_array_size(results), results, seen, &more);
    }
    if (st == DIR_SEARCH_SHORT || (st == DIR_SEARCH_DB && hs_failed == 0)) {
        more = st == DIR_SEARCH_DB; /* the homeserver's answer alone; limited if incomplete */
    } else if (st != DIR_SEARCH_OK) {
        ret = dir_userdir_reply_status(r, st);
        goto cleanup;
    }
    out = json_pack("{s:O, s:b}", "results", results, "limited",
                    hs_failed != 0 || hs_limited || more);
    if (hs_failed != 0) {
        json_object_set_new(out, FLAG_HS_FAILED, json_true());
    }
    ret = http_reply_json(r, MHD_HTTP_OK, out);
cleanup:
    routing_release(routes);
    json_decref(seen);
    json_decref(results);
    free(user_id);
    client_hs_clear(&hs);
    return ret;
}
