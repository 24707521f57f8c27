/*
 * Enrollment's configuration sections: legacy (v1 callers), terms and validation,
 * their keys with types, bounds and defaults (read by core/cfg.c's loader).
 */
#include <string.h>
#include <sys/socket.h>

#include "core/cfg.h"
#include "core/net.h"
#include "enroll/enroll.h"

static const char *check_legacy_homeservers(const json_t *v);
static const char *check_policies(const json_t *v);

static const struct cfg_row legacy_rows[] = {
    { "legacy.homeservers", CFG_JSON, CFG_FIELD(struct cfg, legacy.homeservers), "{}", 0, 0, 0,
      check_legacy_homeservers },
};

static const struct cfg_row terms_rows[] = {
    { "terms.policies", CFG_JSON, CFG_FIELD(struct cfg, terms.policies), "{}", 0, 0, 0,
      check_policies },
};

static const struct cfg_row validation_rows[] = {
    { "validation.max_token_tries", CFG_INT, CFG_FIELD(struct cfg, validation.max_token_tries), "5",
      1, 100, 0, NULL },
    { "validation.next_link_domains", CFG_JSON, CFG_FIELD(struct cfg, validation.next_link_domains),
      "[]", 0, 0, 0, cfg_check_string_list },
    { "validation.session_lifetime", CFG_INT, CFG_FIELD(struct cfg, validation.session_lifetime),
      "86400", 60, 2592000, 0, NULL },
};

/* {server name: [CIDR, ...]}: each homeserver with the networks it calls from. */
static const char *
check_legacy_homeservers(const json_t *v)
{
    const char *key;
    json_t *item;

    if (!json_is_object(v)) {
        return "expected a mapping of homeserver names to lists of CIDR ranges";
    }
    json_object_foreach ((json_t *)v, key, item) {
        if (key[0] == '\0' || strlen(key) > 255 || strpbrk(key, " \t@/") != NULL) {
            return "every key must be a homeserver name";
        }
        if (json_array_size(item) == 0) {
            return "every homeserver needs a non-empty list of CIDR ranges";
        }
        if (net_check_cidr_list(item) != NULL) {
            return net_check_cidr_list(item);
        }
        for (size_t i = 0; i < json_array_size(item); i++) {
            struct net_cidr cidr;

            /* A homeserver calls from its own hosts: a range as wide as /0 would hand
             * its users' invitations and bindings to anyone. */
            if (net_cidr_parse(json_string_value(json_array_get(item, i)), &cidr) != 0 ||
                cidr.prefix < (cidr.family == AF_INET ? 8 : 32)) {
                return "a homeserver's network must be at most a /8 (IPv4) or a /32 (IPv6)";
            }
        }
        for (const char *c = key; *c != '\0'; c++) {
            if (*c >= 'A' && *c <= 'Z') {
                return "homeserver names are written in lower case, as in Matrix IDs";
            }
        }
    }
    return NULL;
}

/* {id: {"version": "1.0", "en": {"name": "...", "url": "https://..."}, ...}} */
static const char *
check_policies(const json_t *v)
{
    const char *id;
    json_t *policy;

    if (!json_is_object(v)) {
        return "expected a mapping of policy ids";
    }
    json_object_foreach ((json_t *)v, id, policy) {
        const char *lang;
        json_t *item;
        size_t n_langs = 0;

        if (!json_is_object(policy) || !json_is_string(json_object_get(policy, "version"))) {
            return "each policy needs a version and at least one language";
        }
        json_object_foreach (policy, lang, item) {
            const char *url;

            if (strcmp(lang, "version") == 0) {
                continue;
            }
            url = json_string_value(json_object_get(item, "url"));
            if (!json_is_object(item) || !json_is_string(json_object_get(item, "name")) ||
                url == NULL ||
                (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
                json_object_size(item) != 2) {
                return "each language of a policy needs exactly a name and an http(s) url";
            }
            n_langs++;
        }
        if (n_langs == 0) {
            return "each policy needs a version and at least one language";
        }
    }
    return NULL;
}

const struct cfg_section enr_config_sections[] = {
    { "legacy", legacy_rows, ANN_ARRAY_LEN(legacy_rows), 0, NULL },
    { "terms", terms_rows, ANN_ARRAY_LEN(terms_rows), 0, NULL },
    { "validation", validation_rows, ANN_ARRAY_LEN(validation_rows), 0, NULL },
};

const size_t enr_config_n_sections = ANN_ARRAY_LEN(enr_config_sections);
