/*
 * The search section (search.*): the shortest term, what results carry, the hourly
 * quotas, the client-API hosts of the client-compatible path and the homeservers allowed
 * on the signed v1 path; a block of its own, read with dir_search_config().
 */
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

static const struct cfg_row search_rows[] = {
    { "search.client_hosts", CFG_JSON, CFG_FIELD(struct search_block, client_hosts), "{}", 0, 0, 0,
      cfg_check_string_map },
    { "search.delegating_homeservers", CFG_JSON,
      CFG_FIELD(struct search_block, delegating_homeservers), "[]", 0, 0, 0,
      cfg_check_string_list },
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
    struct dir_search_config out = { .min_term = 2,
                                     .per_token_per_hour = 300,
                                     .per_server_per_hour = 36000,
                                     .per_ip_per_hour = 1200 };

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
