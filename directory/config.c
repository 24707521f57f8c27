/*
 * The directory's configuration sections: invites, keys, lookup and routing, their
 * keys with types, bounds and defaults (read by core/cfg.c's loader).
 */
#include <stdio.h>

#include "core/cfg.h"
#include "core/net.h"
#include "directory/directory.h"

static const struct cfg_row invites_rows[] = {
    { "invites.agents_may_invite_externals", CFG_BOOL,
      CFG_FIELD(struct cfg, invites.agents_may_invite_externals), "true", 0, 0, 0, NULL },
    { "invites.daily_per_homeserver", CFG_INT, CFG_FIELD(struct cfg, invites.daily_per_homeserver),
      "0", 0, 100000000, 0, NULL },
    { "invites.daily_per_sender", CFG_INT, CFG_FIELD(struct cfg, invites.daily_per_sender), "50", 0,
      100000000, 0, NULL },
    { "invites.display_domain_chars", CFG_INT, CFG_FIELD(struct cfg, invites.display_domain_chars),
      "3", 1, 64, 0, NULL },
    { "invites.display_user_chars", CFG_INT, CFG_FIELD(struct cfg, invites.display_user_chars), "3",
      1, 64, 0, NULL },
    { "invites.externals_may_invite_externals", CFG_BOOL,
      CFG_FIELD(struct cfg, invites.externals_may_invite_externals), "false", 0, 0, 0, NULL },
    { "invites.validity", CFG_INT, CFG_FIELD(struct cfg, invites.validity), "0", 0, 315360000, 0,
      NULL },
};

static const struct cfg_row keys_rows[] = {
    { "keys.signing_key_file", CFG_STRING, CFG_FIELD(struct cfg, keys.signing_key_file),
      "annuaire.signing.key", 1, 4096, 0, NULL },
};

static const struct cfg_row lookup_rows[] = {
    { "lookup.allow_plain", CFG_BOOL, CFG_FIELD(struct cfg, lookup.allow_plain), "true", 0, 0, 0,
      NULL },
    { "lookup.max_addresses", CFG_INT, CFG_FIELD(struct cfg, lookup.max_addresses), "10000", 1,
      1000000, 0, NULL },
};

static const struct cfg_row routing_rows[] = {
    { "routing.annuaire_servers", CFG_JSON, CFG_FIELD(struct cfg, routing.annuaire_servers), "[]",
      0, 0, 0, cfg_check_string_list },
    { "routing.enrollment_gate", CFG_BOOL, CFG_FIELD(struct cfg, routing.enrollment_gate), "true",
      0, 0, 0, NULL },
    { "routing.external_servers", CFG_JSON, CFG_FIELD(struct cfg, routing.external_servers), "[]",
      0, 0, 0, cfg_check_string_list },
    { "routing.info_file", CFG_STRING, CFG_FIELD(struct cfg, routing.info_file), NULL, 1, 4096, 0,
      NULL },
    { "routing.internal_bind_address", CFG_STRING,
      CFG_FIELD(struct cfg, routing.internal_bind_address), "127.0.0.1", 1, 255, 0,
      cfg_check_bind_address },
    { "routing.internal_port", CFG_INT, CFG_FIELD(struct cfg, routing.internal_port), "0", 0, 65535,
      0, NULL },
    { "routing.internal_threads", CFG_INT, CFG_FIELD(struct cfg, routing.internal_threads), "0", 0,
      1024, 0, NULL },
    { "routing.internal_secret", CFG_STRING, CFG_FIELD(struct cfg, routing.internal_secret), NULL,
      16, 1024, CFG_SECRET, NULL },
    { "routing.nonshadow", CFG_JSON, CFG_FIELD(struct cfg, routing.nonshadow), "[]", 0, 0, 0,
      net_check_cidr_list },
    { "routing.reveal_requires_invite", CFG_BOOL,
      CFG_FIELD(struct cfg, routing.reveal_requires_invite), "false", 0, 0, 0, NULL },
};

/* Bytes of a lookup body per sha256 hash: 43 characters of base64, quotes, a comma. */
#define LOOKUP_BYTES_PER_HASH 47

/* The largest lookup must fit in a request body. */
static const char *
check_lookup(const struct cfg *c, const char **key)
{
    static char why[160];
    long need = c->lookup.max_addresses * LOOKUP_BYTES_PER_HASH + 1024;

    if (c->http.max_body_bytes >= need) {
        return NULL;
    }
    *key = "http.max_body_bytes";
    snprintf(why, sizeof(why),
             "%ld bytes cannot hold a lookup of lookup.max_addresses (%ld) hashes: at least %ld",
             c->http.max_body_bytes, c->lookup.max_addresses, need);
    return why;
}

/* The internal listener is a listener of its own: serve could not open both. */
static const char *
check_routing(const struct cfg *c, const char **key)
{
    if (c->routing.internal_port == 0 || c->routing.internal_port != c->http.port) {
        return NULL;
    }
    *key = "routing.internal_port";
    return "must differ from http.port: the internal listener has a port of its own";
}

const struct cfg_section dir_config_sections[] = {
    { "invites", invites_rows, ANN_ARRAY_LEN(invites_rows), 0, NULL },
    { "keys", keys_rows, ANN_ARRAY_LEN(keys_rows), 0, NULL },
    { "lookup", lookup_rows, ANN_ARRAY_LEN(lookup_rows), 0, check_lookup },
    { "routing", routing_rows, ANN_ARRAY_LEN(routing_rows), 0, check_routing },
};

const size_t dir_config_n_sections = ANN_ARRAY_LEN(dir_config_sections);
