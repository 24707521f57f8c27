/*
 * ldap-sync's configuration: the sync section and its sources (a ministry's LDAP
 * directory or LDIF export), each source key one row with its bounds and default,
 * checked when the configuration loads and read into struct lsync_source.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "core/cfg.h"
#include "ldap-sync/internal.h"
#include "ldap-sync/ldap_sync.h"

static const char *check_sync_sources(const json_t *v);

static const struct cfg_row sync_rows[] = {
    { "sync.max_delete_percent", CFG_INT, CFG_FIELD(struct cfg, sync.max_delete_percent), "10", 0,
      100, 0, NULL },
    { "sync.purge_after_days", CFG_INT, CFG_FIELD(struct cfg, sync.purge_after_days), "30", 0, 3650,
      0, NULL },
    { "sync.removal_grace_runs", CFG_INT, CFG_FIELD(struct cfg, sync.grace_runs), "1", 0, 1000, 0,
      NULL },
    { "sync.removal_grace_seconds", CFG_INT, CFG_FIELD(struct cfg, sync.grace_seconds), "3600", 0,
      31536000, 0, NULL },
    { "sync.sources", CFG_JSON, CFG_FIELD(struct cfg, sync.sources), "[]", 0, 0, 0,
      check_sync_sources },
};

CFG_COUNT_FOLLOWS(struct lsync_source, ldap.urls, ldap.n_urls);
CFG_COUNT_FOLLOWS(struct lsync_source, ldap.bases, ldap.n_bases);
CFG_COUNT_FOLLOWS(struct lsync_source, attrs.mail, attrs.n_mail);
CFG_COUNT_FOLLOWS(struct lsync_source, attrs.entity, attrs.n_entity);

/* The keys of one source, with their defaults. The attributes' defaults are the
 * schema's (inetorgperson or ad, below); an ldap mapping's apply to LDAP sources. */
static const struct cfg_row source_rows[] = {
    { "name", CFG_STRING, CFG_FIELD(struct lsync_source, name), NULL, 1, 64, 0, NULL },
    { "ministry", CFG_STRING, CFG_FIELD(struct lsync_source, ministry), NULL, 1, 255, 0, NULL },
    { "priority", CFG_INT, CFG_FIELD(struct lsync_source, priority), "100", 0, 1000000, 0, NULL },
    { "ldif", CFG_STRING, CFG_FIELD(struct lsync_source, ldif), NULL, 1, 4096, 0, NULL },
    { "schema", CFG_STRING, CFG_FIELD(struct lsync_source, schema), NULL, 1, 32, 0, NULL },
    { "removal_grace_runs", CFG_INT, CFG_FIELD(struct lsync_source, grace_runs), "-1", 0, 1000, 0,
      NULL },
    { "removal_grace_seconds", CFG_INT, CFG_FIELD(struct lsync_source, grace_seconds), "-1", 0,
      31536000, 0, NULL },
    { "min_entries", CFG_INT, CFG_FIELD(struct lsync_source, min_entries), "0", 0, 100000000, 0,
      NULL },
    { "max_shrink", CFG_INT, CFG_FIELD(struct lsync_source, max_shrink), "-1", 0, 100, 0, NULL },
    { "ldap.urls", CFG_LIST, CFG_FIELD(struct lsync_source, ldap.urls), NULL, 1, 2048, 0, NULL },
    { "ldap.starttls", CFG_BOOL, CFG_FIELD(struct lsync_source, ldap.starttls), NULL, 0, 0, 0,
      NULL },
    { "ldap.ca_file", CFG_STRING, CFG_FIELD(struct lsync_source, ldap.ca_file), NULL, 1, 4096, 0,
      NULL },
    { "ldap.bind_dn", CFG_STRING, CFG_FIELD(struct lsync_source, ldap.bind_dn), NULL, 1, 1024, 0,
      NULL },
    { "ldap.bind_password_file", CFG_STRING, CFG_FIELD(struct lsync_source, ldap.password_file),
      NULL, 1, 4096, 0, NULL },
    { "ldap.bind_password_env", CFG_STRING, CFG_FIELD(struct lsync_source, ldap.password_env), NULL,
      1, 255, 0, NULL },
    { "ldap.base_dns", CFG_LIST, CFG_FIELD(struct lsync_source, ldap.bases), NULL, 1, 1024, 0,
      NULL },
    { "ldap.scope", CFG_STRING, CFG_FIELD(struct lsync_source, ldap.scope_name), NULL, 1, 8, 0,
      NULL },
    { "ldap.filter", CFG_STRING, CFG_FIELD(struct lsync_source, ldap.filter), "(objectClass=*)", 1,
      4096, 0, NULL },
    { "ldap.page_size", CFG_INT, CFG_FIELD(struct lsync_source, ldap.page_size), "1000", 1, 10000,
      0, NULL },
    { "ldap.connect_timeout", CFG_INT, CFG_FIELD(struct lsync_source, ldap.connect_timeout), "5", 1,
      300, 0, NULL },
    { "ldap.timeout", CFG_INT, CFG_FIELD(struct lsync_source, ldap.timeout), "60", 1, 3600, 0,
      NULL },
    { "ldap.content_sync", CFG_BOOL, CFG_FIELD(struct lsync_source, ldap.content_sync), NULL, 0, 0,
      0, NULL },
    { "ldap.poll_attribute", CFG_STRING, CFG_FIELD(struct lsync_source, ldap.poll_attribute), NULL,
      1, 64, 0, NULL },
    { "ldap.poll_overlap", CFG_INT, CFG_FIELD(struct lsync_source, ldap.poll_overlap), "300", 0,
      86400, 0, NULL },
    { "ldap.full_every_hours", CFG_INT, CFG_FIELD(struct lsync_source, ldap.full_every_hours), "24",
      1, 8760, 0, NULL },
    { "attributes.key", CFG_STRING, CFG_FIELD(struct lsync_source, attrs.key), NULL, 1, 64, 0,
      NULL },
    { "attributes.mail", CFG_TEXT_OR_LIST, CFG_FIELD(struct lsync_source, attrs.mail), NULL, 1, 64,
      0, NULL },
    { "attributes.display_name", CFG_STRING, CFG_FIELD(struct lsync_source, attrs.display_name),
      NULL, 1, 64, 0, NULL },
    { "attributes.given_name", CFG_STRING, CFG_FIELD(struct lsync_source, attrs.given_name), NULL,
      1, 64, 0, NULL },
    { "attributes.surname", CFG_STRING, CFG_FIELD(struct lsync_source, attrs.surname), NULL, 1, 64,
      0, NULL },
    { "attributes.entity", CFG_TEXT_OR_LIST, CFG_FIELD(struct lsync_source, attrs.entity), NULL, 1,
      64, 0, NULL },
    { "attributes.title", CFG_STRING, CFG_FIELD(struct lsync_source, attrs.title), NULL, 1, 64, 0,
      NULL },
    { "attributes.mobile", CFG_STRING, CFG_FIELD(struct lsync_source, attrs.mobile), NULL, 1, 64, 0,
      NULL },
    { "attributes.hidden", CFG_STRING, CFG_FIELD(struct lsync_source, attrs.hidden), NULL, 1, 64, 0,
      NULL },
    { "attributes.disabled", CFG_STRING, CFG_FIELD(struct lsync_source, attrs.disabled), NULL, 1,
      64, 0, NULL },
};

static const struct lsync_attrs inetorgperson = {
    .key_kind = LSYNC_KEY_ENTRYUUID,
    .key = "entryUUID",
    .mail = { "mail" },
    .n_mail = 1,
    .display_name = "displayName",
    .given_name = "givenName",
    .surname = "sn",
    .title = "title",
    .mobile = "mobile",
    .entity = { "ou" },
    .n_entity = 1,
    .hidden = "supannListeRouge",
};

static const struct lsync_attrs active_directory = {
    .key_kind = LSYNC_KEY_OBJECTGUID,
    .key = "objectGUID",
    .mail = { "mail", "proxyAddresses" },
    .n_mail = 2,
    .display_name = "displayName",
    .given_name = "givenName",
    .surname = "sn",
    .title = "title",
    .mobile = "mobile",
    .entity = { "department" },
    .n_entity = 1,
    .disabled = "userAccountControl",
};

static char source_err[256];

/* A list of sources: each by the rows above, then what rows cannot say. */
static const char *
check_sync_sources(const json_t *v)
{
    size_t i;
    json_t *src;

    if (!json_is_array(v)) {
        return "expected a list of sources";
    }
    json_array_foreach (v, i, src) {
        char path[64];
        const json_t *ldap = json_object_get(src, "ldap");
        const char *name = json_string_value(json_object_get(src, "name"));
        const char *schema = json_string_value(json_object_get(src, "schema"));
        const char *why;

        snprintf(path, sizeof(path), "sources[%zu]", i);
        if ((why = cfg_record_check(source_rows, ANN_ARRAY_LEN(source_rows), src, "", path,
                                    source_err, sizeof(source_err))) != NULL) {
            return why;
        }
        if (name == NULL ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(name) ||
            json_object_get(src, "ministry") == NULL) {
            snprintf(source_err, sizeof(source_err), "%s: needs a name ([a-z0-9_-]) and a ministry",
                     path);
            return source_err;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_object_get(json_array_get(v, j), "name")), name) ==
                0) {
                snprintf(source_err, sizeof(source_err), "%s: name '%s' is used twice", path, name);
                return source_err;
            }
        }
        if ((ldap == NULL) == (json_object_get(src, "ldif") == NULL)) {
            snprintf(source_err, sizeof(source_err), "%s: needs exactly one of ldap or ldif", path);
            return source_err;
        }
        if (schema != NULL && strcmp(schema, "inetorgperson") != 0 && strcmp(schema, "ad") != 0) {
            snprintf(source_err, sizeof(source_err), "%s.schema: inetorgperson or ad", path);
            return source_err;
        }
        if (json_object_get(src, "attributes") != NULL) {
            char apath[80];

            snprintf(apath, sizeof(apath), "%s.attributes", path);
            if ((why = cfg_record_check(source_rows, ANN_ARRAY_LEN(source_rows),
                                        json_object_get(src, "attributes"), "attributes.", apath,
                                        source_err, sizeof(source_err))) != NULL) {
                return why;
            }
        }
        if (ldap != NULL) {
            char lpath[80];
            size_t k;
            json_t *url;

            snprintf(lpath, sizeof(lpath), "%s.ldap", path);
            if ((why = cfg_record_check(source_rows, ANN_ARRAY_LEN(source_rows), ldap, "ldap.",
                                        lpath, source_err, sizeof(source_err))) != NULL) {
                return why;
            }
            if (json_object_get(ldap, "scope") != NULL &&
                strcmp(json_string_value(json_object_get(ldap, "scope")), "base") != 0 &&
                strcmp(json_string_value(json_object_get(ldap, "scope")), "one") != 0 &&
                strcmp(json_string_value(json_object_get(ldap, "scope")), "sub") != 0) {
                snprintf(source_err, sizeof(source_err), "%s.scope: base, one or sub", lpath);
                return source_err;
            }
            if (json_object_get(ldap, "urls") == NULL ||
                json_object_get(ldap, "base_dns") == NULL) {
                snprintf(source_err, sizeof(source_err), "%s: needs urls and base_dns", lpath);
                return source_err;
            }
            if (cfg_json_true(json_object_get(ldap, "content_sync")) &&
                json_object_get(ldap, "poll_attribute") != NULL) {
                snprintf(source_err, sizeof(source_err),
                         "%s: content_sync or poll_attribute, not both", lpath);
                return source_err;
            }
            json_array_foreach (json_object_get(ldap, "urls"), k, url) {
                if (strncmp(json_string_value(url), "ldap://", 7) != 0 &&
                    strncmp(json_string_value(url), "ldaps://", 8) != 0) {
                    snprintf(source_err, sizeof(source_err), "%s.urls: ldap:// or ldaps:// only",
                             lpath);
                    return source_err;
                }
            }
        }
    }
    return NULL;
}

const struct cfg_section lsync_config_sections[] = {
    { "sync", sync_rows, ANN_ARRAY_LEN(sync_rows), 0, NULL },
};
const size_t lsync_config_n_sections = ANN_ARRAY_LEN(lsync_config_sections);

void
lsync_source_from_json(const json_t *j, struct lsync_source *s)
{
    const char *schema = json_string_value(json_object_get(j, "schema"));
    const char *key = json_string_value(json_object_get(json_object_get(j, "attributes"), "key"));
    const char *scope;

    memset(s, 0, sizeof(*s));
    s->attrs = schema && strcmp(schema, "ad") == 0 ? active_directory : inetorgperson;
    cfg_record_fill(source_rows, ANN_ARRAY_LEN(source_rows), j, s);
    if (key != NULL) {
        s->attrs.key_kind = strcasecmp(key, "entryUUID") == 0    ? LSYNC_KEY_ENTRYUUID
                            : strcasecmp(key, "objectGUID") == 0 ? LSYNC_KEY_OBJECTGUID
                            : strcasecmp(key, "dn") == 0         ? LSYNC_KEY_DN
                                                                 : LSYNC_KEY_OTHER;
    }
    if (json_object_get(j, "ldap") == NULL) {
        return;
    }
    scope = s->ldap.scope_name;
    s->ldap.scope = scope && strcmp(scope, "base") == 0  ? LDAP_SCOPE_BASE
                    : scope && strcmp(scope, "one") == 0 ? LDAP_SCOPE_ONELEVEL
                                                         : LDAP_SCOPE_SUBTREE;
    s->attrs.poll = s->ldap.poll_attribute;
}
