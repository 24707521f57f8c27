/*
 * Matching: an address in the form routing matches it (routing_key), then against a
 * mapping: its exact entries, then the patterns that may take it (the tail index's
 * candidates and the patterns without a tail) in file order, each a whole-address,
 * caseless PCRE2 match bounded by the mapping's match limits.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/address.h"
#include "core/log.h"
#include "core/util.h"
#include "routing/internal.h"

int
routing_normalise(const char *address, char **out)
{
    /* The one canonical form (lower case, A-label domain): what sessions, bindings and
     * invitations are keyed by is what routing matches. */
    return addr_email_normalise(address, out);
}

char *
routing_key(const char *address, bool *is_email)
{
    char *key;

    *is_email = routing_normalise(address, &key) == 0;
    if (!*is_email) {
        /* Not an e-mail address: matched as typed, ASCII lower-cased (clients count on
         * the catch-all answering for anything). */
        key = xstrdup(address);
        for (char *c = key; *c != '\0'; c++) {
            if (*c >= 'A' && *c <= 'Z') {
                *c = (char)(*c - 'A' + 'a');
            }
        }
    }
    return key;
}

/* Whether server (any case) is a key of set. */
static bool
server_in(const json_t *set, const char *server)
{
    char lower[256];
    size_t len = strlen(server);

    if (len == 0 || len >= sizeof(lower)) {
        return false;
    }
    for (size_t i = 0; i <= len; i++) {
        lower[i] = (char)tolower((unsigned char)server[i]);
    }
    return json_object_get(set, lower) != NULL;
}

bool
routing_has_server(const struct routing_map *r, const char *server)
{
    return r != NULL && server_in(r->servers, server);
}

bool
routing_server_external(const struct routing_map *r, const char *server)
{
    return r != NULL && server != NULL && server_in(r->external, server);
}

bool
routing_match(const struct routing_map *r, const char *normalised, struct routing_result *out)
{
    json_t *idx;
    pcre2_match_data *md;
    size_t len = strlen(normalised);
    bool found = false;
    struct routing_candidates cand;

    memset(out, 0, sizeof(*out));
    if (r == NULL) {
        return false;
    }
    idx = json_object_get(r->exact, normalised);
    if (idx != NULL) {
        *out = r->rules[json_integer_value(idx)].route;
        out->rule = r->rules[json_integer_value(idx)].text;
        out->exact = true;
        return true;
    }
    /* The candidates, in file order: patterns ending as the address does (see
     * routing_tail_candidates), and those that may end any way. */
    routing_tail_candidates(r, normalised, len, &cand);
    md = pcre2_match_data_create(1, NULL);
    for (size_t c = 0, u = 0; (c < cand.n || u < r->n_untailed) && !found;) {
        size_t i = u == r->n_untailed || (c < cand.n && cand.v[c] < r->untailed[u])
                       ? cand.v[c++]
                       : r->untailed[u++];
        struct routing_rule *rule = &r->rules[i];
        int rc = rule->jit
                     ? pcre2_jit_match(rule->re, (PCRE2_SPTR)normalised, len, 0, 0, md, r->limits)
                     : pcre2_match(rule->re, (PCRE2_SPTR)normalised, len, 0, 0, md, r->limits);

        if (rc >= 0) {
            *out = rule->route;
            out->rule = rule->text;
            found = true;
        } else if (rc != PCRE2_ERROR_NOMATCH && !atomic_exchange(&rule->warned, true)) {
            /* Taken as no match; said once per pattern and mapping. */
            PCRE2_UCHAR msg[120];

            pcre2_get_error_message(rc, msg, sizeof(msg));
            log_warn("routing: pattern '%.200s' (line %ld) could not be tried: %s", rule->text,
                     rule->route.line, (const char *)msg);
        }
    }
    routing_candidates_clear(&cand);
    pcre2_match_data_free(md);
    return found;
}
