#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "core/cfg.h"
#include "ldap-sync/internal.h"

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

static const char *
text(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Integers and booleans come as text from YAML, as such from JSON (environment). */
static int
number(const json_t *obj, const char *key, int def)
{
    const json_t *v = json_object_get(obj, key);

    if (json_is_integer(v)) {
        return (int)json_integer_value(v);
    }
    return json_is_string(v) ? atoi(json_string_value(v)) : def; /* range checked at load */
}

static bool
flag(const json_t *obj, const char *key)
{
    return cfg_json_true(json_object_get(obj, key));
}

/* One name or a list of names into a fixed array. */
static void
names(const json_t *v, const char **out, size_t max, size_t *n)
{
    size_t i;
    json_t *item;

    if (json_is_string(v)) {
        out[0] = json_string_value(v);
        *n = 1;
        return;
    }
    *n = 0;
    json_array_foreach (v, i, item) {
        if (*n < max) {
            out[(*n)++] = json_string_value(item);
        }
    }
}

static void
attrs_from_json(const json_t *j, struct lsync_attrs *a)
{
    const char *key = text(j, "key");

    if (key != NULL) {
        a->key = key;
        a->key_kind = strcasecmp(key, "entryUUID") == 0    ? LSYNC_KEY_ENTRYUUID
                      : strcasecmp(key, "objectGUID") == 0 ? LSYNC_KEY_OBJECTGUID
                      : strcasecmp(key, "dn") == 0         ? LSYNC_KEY_DN
                                                           : LSYNC_KEY_OTHER;
    }
    if (json_object_get(j, "mail") != NULL) {
        names(json_object_get(j, "mail"), a->mail, LSYNC_MAX_MAIL_ATTRS, &a->n_mail);
    }
    if (json_object_get(j, "entity") != NULL) {
        names(json_object_get(j, "entity"), a->entity, LSYNC_MAX_ENTITY_ATTRS, &a->n_entity);
    }
    a->display_name = text(j, "display_name") ? text(j, "display_name") : a->display_name;
    a->given_name = text(j, "given_name") ? text(j, "given_name") : a->given_name;
    a->surname = text(j, "surname") ? text(j, "surname") : a->surname;
    a->title = text(j, "title") ? text(j, "title") : a->title;
    a->mobile = text(j, "mobile") ? text(j, "mobile") : a->mobile;
    a->hidden = text(j, "hidden") ? text(j, "hidden") : a->hidden;
    a->disabled = text(j, "disabled") ? text(j, "disabled") : a->disabled;
}

void
lsync_source_from_json(const json_t *j, struct lsync_source *s)
{
    const json_t *ldap = json_object_get(j, "ldap");
    const char *schema = text(j, "schema");
    const char *scope;

    memset(s, 0, sizeof(*s));
    s->name = text(j, "name");
    s->ministry = text(j, "ministry");
    s->priority = number(j, "priority", 100);
    s->ldif = text(j, "ldif");
    s->grace_runs = number(j, "removal_grace_runs", -1);
    s->grace_seconds = number(j, "removal_grace_seconds", -1);
    s->min_entries = number(j, "min_entries", 0);
    s->max_shrink = number(j, "max_shrink", -1);
    s->attrs = schema && strcmp(schema, "ad") == 0 ? active_directory : inetorgperson;
    if (json_object_get(j, "attributes") != NULL) {
        attrs_from_json(json_object_get(j, "attributes"), &s->attrs);
    }
    if (ldap == NULL) {
        return;
    }
    names(json_object_get(ldap, "urls"), s->ldap.urls, LSYNC_MAX_URLS, &s->ldap.n_urls);
    names(json_object_get(ldap, "base_dns"), s->ldap.bases, LSYNC_MAX_BASES, &s->ldap.n_bases);
    s->ldap.starttls = flag(ldap, "starttls");
    s->ldap.ca_file = text(ldap, "ca_file");
    s->ldap.bind_dn = text(ldap, "bind_dn");
    s->ldap.password_file = text(ldap, "bind_password_file");
    s->ldap.password_env = text(ldap, "bind_password_env");
    scope = text(ldap, "scope");
    s->ldap.scope = scope && strcmp(scope, "base") == 0  ? LDAP_SCOPE_BASE
                    : scope && strcmp(scope, "one") == 0 ? LDAP_SCOPE_ONELEVEL
                                                         : LDAP_SCOPE_SUBTREE;
    s->ldap.filter = text(ldap, "filter") ? text(ldap, "filter") : "(objectClass=*)";
    s->ldap.page_size = number(ldap, "page_size", 1000);
    s->ldap.connect_timeout = number(ldap, "connect_timeout", 5);
    s->ldap.timeout = number(ldap, "timeout", 60);
    s->ldap.poll_attribute = text(ldap, "poll_attribute");
    s->ldap.poll_overlap = number(ldap, "poll_overlap", 300);
    s->ldap.full_every_hours = number(ldap, "full_every_hours", 24);
    s->attrs.poll = s->ldap.poll_attribute;
    s->ldap.content_sync = flag(ldap, "content_sync");
}
