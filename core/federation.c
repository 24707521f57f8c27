/*
 * Matrix server names (parsing, the server of a Matrix ID) and the base URL of a homeserver's
 * federation API: account.homeservers first, else an IP literal or explicit port, else
 * /.well-known/matrix/server delegation, else port 8448 (SRV records are not consulted).
 */
#include "core/federation.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

#define FED_DEFAULT_PORT 8448

static bool
dns_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 255) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.')) {
            return false;
        }
    }
    return s[0] != '.' && s[0] != '-';
}

int
fed_parse_server_name(const char *name, struct fed_server *out)
{
    const char *port = NULL;
    size_t host_len;
    unsigned char buf[16];

    memset(out, 0, sizeof(*out));
    if (name == NULL || strlen(name) > 255 || name[0] == '\0') {
        return -1;
    }
    if (name[0] == '[') {
        const char *end = strchr(name, ']');

        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            return -1;
        }
        host_len = (size_t)(end - name - 1);
        if (host_len == 0 || host_len >= 46) {
            return -1;
        }
        memcpy(out->host, name + 1, host_len);
        out->host[host_len] = '\0';
        if (inet_pton(AF_INET6, out->host, buf) != 1) {
            return -1;
        }
        out->ip_literal = out->ipv6 = true;
        port = end[1] == ':' ? end + 2 : NULL;
    } else {
        const char *colon = strchr(name, ':');

        host_len = colon ? (size_t)(colon - name) : strlen(name);
        if (!dns_name_ok(name, host_len)) {
            return -1;
        }
        memcpy(out->host, name, host_len);
        out->host[host_len] = '\0';
        out->ip_literal = inet_pton(AF_INET, out->host, buf) == 1;
        port = colon ? colon + 1 : NULL;
    }
    if (port != NULL) {
        long p = 0;

        if (strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
            util_parse_long(port, 1, 65535, &p) != 0) {
            return -1;
        }
        out->port = (int)p;
    }
    return 0;
}

static char *
https_url(const struct fed_server *s, int port)
{
    return xasprintf(s->ipv6 ? "https://[%s]:%d" : "https://%s:%d", s->host, port);
}

/* The delegated server name from a .well-known reply, or NULL. */
static char *
well_known(const struct fed_server *s, const struct fetch_opts *opts)
{
    struct fetch_opts wk = *opts;
    struct fetch_result res;
    char *url = xasprintf("https://%s/.well-known/matrix/server", s->host);
    char *out = NULL;
    json_t *j = NULL;

    wk.max_body = 65536;
    if (fetch_request(url, NULL, NULL, &wk, &res) == FETCH_OK && res.status == 200) {
        const char *v;

        j = json_loadb(res.body, res.len, 0, NULL);
        v = json_string_value(json_object_get(j, "m.server"));
        if (v != NULL) {
            out = xstrdup(v);
        }
    }
    json_decref(j);
    fetch_result_clear(&res);
    free(url);
    return out;
}

enum fetch_status
fed_base_url(const char *server_name,
             const json_t *mapped,
             const struct fetch_opts *opts,
             char **url,
             bool *trusted)
{
    const char *m = json_string_value(json_object_get(mapped, server_name));
    struct fed_server s;
    struct fed_server d;
    char *delegated;

    *url = NULL;
    *trusted = false;
    if (m != NULL) {
        size_t len = strlen(m);

        while (len > 0 && m[len - 1] == '/') {
            len--;
        }
        *url = xstrndup(m, len);
        *trusted = true;
        return FETCH_OK;
    }
    if (fed_parse_server_name(server_name, &s) != 0) {
        return FETCH_UNREACHABLE;
    }
    if (s.ip_literal || s.port != 0) {
        *url = https_url(&s, s.port ? s.port : FED_DEFAULT_PORT);
        return FETCH_OK;
    }
    delegated = well_known(&s, opts);
    if (delegated != NULL && fed_parse_server_name(delegated, &d) == 0) {
        *url = https_url(&d, d.port ? d.port : FED_DEFAULT_PORT);
    } else {
        /* SRV records (_matrix-fed._tcp) are not consulted: port 8448 on the name itself. */
        *url = https_url(&s, FED_DEFAULT_PORT);
    }
    free(delegated);
    return FETCH_OK;
}

enum fetch_status
fed_prepare_call(const char *server_name,
                 const struct cfg_account *acc,
                 struct fetch_opts *opts,
                 char **base)
{
    bool trusted = false;
    enum fetch_status st;

    opts->verify_tls = acc->tls_verify != 0;
    opts->allow_private = acc->allow_private_addresses != 0;
    opts->timeout_s = acc->request_timeout;
    opts->max_body = 65536;
    st = fed_base_url(server_name, acc->homeservers, opts, base, &trusted);
    if (st == FETCH_OK && trusted) {
        opts->allow_private = true; /* an operator's mapping is taken as written */
    }
    return st;
}

const char *
fed_mxid_server(const char *mxid)
{
    const char *colon = strchr(mxid, ':');

    return colon != NULL && colon[1] != '\0' ? colon + 1 : NULL;
}

bool
fed_server_name_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}
