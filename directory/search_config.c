/*
 * The search section (search.*) of directory search: the shortest term, what results
 * carry, the hourly quotas, the client-API hosts of the client-compatible path and the
 * homeservers allowed on the signed v1 path; stored in a block of its own, read with
 * dir_search_config().
 */
#include <stddef.h>
#include <string.h>

#include "core/federation.h"
#include "directory/search.h"

struct search_block {
    json_t *client_hosts;
    json_t *delegating_homeservers;
    bool include_externals;
    long min_term;
    long per_homeserver_per_hour;
    long per_ip_per_hour;
    long per_token_per_hour;
    bool return_email;
};

#define SEARCH_QUOTA_MAX 10000000

static bool
server_name_ok(const char *s)
{
    struct fed_server srv;

    return fed_parse_server_name(s, &srv) == 0;
}

/* An http(s) URL of one line, without blanks or control characters. */
static bool
client_url_ok(const char *s)
{
    return (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) &&
           strchr(s, ' ') == NULL && !util_has_control(s);
}

/* {Host: URL}: each Host a host name (with a port or not), each URL http(s). */
static const char *
client_hosts_check(const json_t *v)
{
    const char *host;
    json_t *url;
    const char *why = cfg_check_string_map(v);

    json_object_foreach ((json_t *)v, host, url) {
        if (why != NULL) {
            break;
        }
        if (!server_name_ok(host)) {
            why = "every key must be a host name, with a port or not";
        } else if (!client_url_ok(json_string_value(url))) {
            why = "every value must be an http(s) URL without blanks or control characters";
        }
    }
    return why;
}

/* [server name, ...] */
static const char *
server_list_check(const json_t *v)
{
    size_t i;
    json_t *item;
    const char *why = cfg_check_string_list(v);

    json_array_foreach (v, i, item) {
        if (why == NULL && !server_name_ok(json_string_value(item))) {
            why = "every item must be a Matrix server name";
        }
    }
    return why;
}

static const struct cfg_row search_rows[] = {
    { "search.client_hosts", CFG_JSON, CFG_FIELD(struct search_block, client_hosts), "{}", 0, 0, 0,
      client_hosts_check },
    { "search.delegating_homeservers", CFG_JSON,
      CFG_FIELD(struct search_block, delegating_homeservers), "[]", 0, 0, 0, server_list_check },
    { "search.include_externals", CFG_BOOL, CFG_FIELD(struct search_block, include_externals),
      "false", 0, 0, 0, NULL },
    { "search.min_term", CFG_INT, CFG_FIELD(struct search_block, min_term), "2", 1, 32, 0, NULL },
    { "search.per_homeserver_per_hour", CFG_INT,
      CFG_FIELD(struct search_block, per_homeserver_per_hour), "36000", 0, SEARCH_QUOTA_MAX, 0,
      NULL },
    { "search.per_ip_per_hour", CFG_INT, CFG_FIELD(struct search_block, per_ip_per_hour), "1200", 0,
      SEARCH_QUOTA_MAX, 0, NULL },
    { "search.per_token_per_hour", CFG_INT, CFG_FIELD(struct search_block, per_token_per_hour),
      "300", 0, SEARCH_QUOTA_MAX, 0, NULL },
    { "search.return_email", CFG_BOOL, CFG_FIELD(struct search_block, return_email), "false", 0, 0,
      0, NULL },
};

const struct cfg_section dir_search_config_sections[] = {
    { "search", search_rows, ANN_ARRAY_LEN(search_rows), sizeof(struct search_block), NULL },
};
const size_t dir_search_config_n_sections = ANN_ARRAY_LEN(dir_search_config_sections);

struct dir_search_config
dir_search_config(const struct cfg *cfg)
{
    const struct search_block *b = cfg_section_get(cfg, &dir_search_config_sections[0]);
    struct dir_search_config out = {
        .min_term = 2,
        .per_token_per_hour = 300,
        .per_server_per_hour = 36000,
        .per_ip_per_hour = 1200,
    };

    if (b != NULL) {
        out.min_term = b->min_term;
        out.return_email = b->return_email;
        out.include_externals = b->include_externals;
        out.per_token_per_hour = b->per_token_per_hour;
        out.per_server_per_hour = b->per_homeserver_per_hour;
        out.per_ip_per_hour = b->per_ip_per_hour;
        out.client_hosts = b->client_hosts;
        out.delegating_hs = b->delegating_homeservers;
    }
    return out;
}
