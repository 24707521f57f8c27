/*
 * Outbound HTTP with libcurl (GET, or POST of JSON): http(s) only, no redirects, no proxy,
 * bounded time and reply size, private addresses refused at connect time unless allowed; and
 * the slots that bound calls in flight, in all and per destination.
 */
#include "core/fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "core/log.h"
#include "core/net.h"

struct call {
    const struct fetch_opts *opts;
    struct fetch_result *res;
    bool refused;
    bool too_large;
};

/* The calls in flight, in all and per destination: a fixed table with one entry per
 * destination that has calls in flight (at most as many as the global bound). */
struct dest_calls {
    char name[FETCH_DEST_MAX];
    long n;
};

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static long max_calls;    /* 0 = no bound */
static long calls_in_use; /* slots taken */
static struct dest_calls *dests;
static size_t n_dests, dests_cap;

void
fetch_set_max_calls(long n)
{
    pthread_mutex_lock(&calls_lock);
    max_calls = n > 0 ? n : 0;
    pthread_mutex_unlock(&calls_lock);
}

/* At most FETCH_MAX_PER_DEST per destination, and always fewer than the global bound
 * (when it allows more than one): one destination cannot take every slot. */
static long
per_dest_max(void)
{
    if (max_calls == 0 || max_calls > FETCH_MAX_PER_DEST) {
        return FETCH_MAX_PER_DEST;
    }
    return max_calls > 1 ? max_calls - 1 : 1;
}

static struct dest_calls *
dest_find(const char *destination)
{
    for (size_t i = 0; i < n_dests; i++) {
        if (strcasecmp(dests[i].name, destination) == 0) {
            return &dests[i];
        }
    }
    return NULL;
}

bool
fetch_slot_take(const char *destination)
{
    struct dest_calls *d;
    bool taken = false;

    if (strlen(destination) >= FETCH_DEST_MAX) {
        return false;
    }
    pthread_mutex_lock(&calls_lock);
    d = dest_find(destination);
    if ((max_calls > 0 && calls_in_use >= max_calls) || (d != NULL && d->n >= per_dest_max())) {
        goto cleanup;
    }
    if (d == NULL) {
        if (n_dests == dests_cap) {
            dests_cap = dests_cap ? 2 * dests_cap : 16;
            dests = xrealloc(dests, dests_cap * sizeof(*dests));
        }
        d = &dests[n_dests++];
        snprintf(d->name, sizeof(d->name), "%s", destination);
        d->n = 0;
    }
    d->n++;
    calls_in_use++;
    taken = true;
cleanup:
    pthread_mutex_unlock(&calls_lock);
    return taken;
}

void
fetch_slot_release(const char *destination)
{
    struct dest_calls *d;

    pthread_mutex_lock(&calls_lock);
    d = dest_find(destination);
    if (d == NULL) {
        log_bug("an outbound call slot given back for a destination that holds none");
    } else {
        calls_in_use--;
        if (--d->n == 0) {
            *d = dests[--n_dests];
        }
    }
    pthread_mutex_unlock(&calls_lock);
}

void
fetch_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
fetch_global_cleanup(void)
{
    curl_global_cleanup();
}

static bool
sockaddr_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return !net_addr_is_global(
            AF_INET,
            (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        return !net_addr_is_global(
            AF_INET6,
            (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
    }
    return true;
}

bool
fetch_address_is_private(const char *addr)
{
    return !net_text_is_global(addr);
}

/* Called by curl just before it connects: the place to refuse an address. */
static curl_socket_t
open_socket(void *p, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct call *c = p;

    if (purpose != CURLSOCKTYPE_IPCXN ||
        (!c->opts->allow_private && sockaddr_private(&addr->addr))) {
        c->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static size_t
on_data(char *data, size_t size, size_t n, void *p)
{
    struct call *c = p;
    size_t len = size * n;

    if (c->res->len + len > c->opts->max_body) {
        c->too_large = true;
        return 0; /* abort the transfer */
    }
    c->res->body = xrealloc(c->res->body, c->res->len + len + 1);
    memcpy(c->res->body + c->res->len, data, len);
    c->res->len += len;
    c->res->body[c->res->len] = '\0';
    return len;
}

enum fetch_status
fetch_request(const char *url,
              const char *json_body,
              const char *const *headers,
              const struct fetch_opts *opts,
              struct fetch_result *res)
{
    struct call c = { .opts = opts, .res = res };
    struct curl_slist *list = NULL;
    CURL *h = curl_easy_init();
    enum fetch_status st = FETCH_UNREACHABLE;
    CURLcode rc;

    memset(res, 0, sizeof(*res));
    if (h == NULL) {
        snprintf(res->error, sizeof(res->error), "out of memory");
        return FETCH_UNREACHABLE;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, opts->timeout_s);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, opts->timeout_s);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, opts->verify_tls ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, opts->verify_tls ? 2L : 0L);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "annuaire/" ANNUAIRE_VERSION);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* no proxy from the environment */
    list = curl_slist_append(list, "Accept: application/json");
    if (json_body != NULL) {
        list = curl_slist_append(list, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        list = curl_slist_append(list, headers[i]);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
        if (res->body == NULL) {
            res->body = xstrdup("");
        }
        st = FETCH_OK;
    } else if (c.refused) {
        snprintf(res->error, sizeof(res->error), "refused: private or loopback address");
        st = FETCH_REFUSED;
    } else if (c.too_large) {
        snprintf(res->error, sizeof(res->error), "reply larger than %zu bytes", opts->max_body);
        st = FETCH_TOO_LARGE;
    } else {
        snprintf(res->error, sizeof(res->error), "%s", curl_easy_strerror(rc));
    }
    if (st != FETCH_OK) {
        free(res->body);
        res->body = NULL;
        res->len = 0;
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return st;
}

void
fetch_result_clear(struct fetch_result *res)
{
    free(res->body);
    memset(res, 0, sizeof(*res));
}

char *
fetch_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *out;

    if (e == NULL) {
        abort();
    }
    out = xstrdup(e);
    curl_free(e);
    return out;
}
