/*
 * The admin module's configuration sections: admin (its listener) and audit (the
 * audit log's retention), their keys with types, bounds and defaults, each stored in a
 * block of its own (read with adm_config()).
 */
#include <stddef.h>
#include <string.h>

#include "admin/admin.h"

struct admin_block {
    char *bind_address;
    long port;
    long threads;
    char *web_client_location;
};

struct audit_block {
    long retention_days;
};

/* The web client's URL shown in VIP mails: http(s), one line. */
static const char *
web_client_check(const json_t *v)
{
    const char *s = json_string_value(v);

    if (s == NULL || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)) {
        return "must be an http(s) URL";
    }
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            return "must be a URL without blanks or control characters";
        }
    }
    return NULL;
}

static const struct cfg_row admin_rows[] = {
    { "admin.bind_address", CFG_STRING, CFG_FIELD(struct admin_block, bind_address), "127.0.0.1", 1,
      64, 0, cfg_check_bind_address },
    { "admin.port", CFG_INT, CFG_FIELD(struct admin_block, port), "0", 0, 65535, 0, NULL },
    { "admin.threads", CFG_INT, CFG_FIELD(struct admin_block, threads), "2", 1, 64, 0, NULL },
    { "admin.web_client_location", CFG_STRING, CFG_FIELD(struct admin_block, web_client_location),
      NULL, 1, 255, 0, web_client_check },
};

static const struct cfg_row audit_rows[] = {
    { "audit.retention_days", CFG_INT, CFG_FIELD(struct audit_block, retention_days), "365", 0,
      36500, 0, NULL },
};

static const char *admin_check(const struct cfg *cfg, const char **key);

const struct cfg_section adm_config_sections[] = {
    { "admin", admin_rows, ANN_ARRAY_LEN(admin_rows), sizeof(struct admin_block), admin_check },
    { "audit", audit_rows, ANN_ARRAY_LEN(audit_rows), sizeof(struct audit_block), NULL },
};
const size_t adm_config_n_sections = ANN_ARRAY_LEN(adm_config_sections);

/* The admin listener is a listener of its own: never the public or the internal one. */
static const char *
admin_check(const struct cfg *cfg, const char **key)
{
    const struct admin_block *a = cfg_section_get(cfg, &adm_config_sections[0]);

    if (a == NULL || a->port == 0) {
        return NULL;
    }
    *key = "admin.port";
    if (a->port == cfg->http.port) {
        return "must differ from http.port: the admin API has a listener of its own";
    }
    if (a->port == cfg->routing.internal_port) {
        return "must differ from routing.internal_port: the admin API has a listener of its own";
    }
    return NULL; /* admin.bind_address is checked by its row */
}

struct adm_config
adm_config(const struct cfg *cfg)
{
    const struct admin_block *a = cfg_section_get(cfg, &adm_config_sections[0]);
    const struct audit_block *u = cfg_section_get(cfg, &adm_config_sections[1]);
    struct adm_config out = { 0 };

    if (a != NULL) {
        out.bind_address = a->bind_address;
        out.port = a->port;
        out.threads = a->threads;
        out.web_client_location = a->web_client_location;
    }
    out.retention_days = u != NULL ? u->retention_days : 365;
    return out;
}

bool
adm_scope_known(const char *s)
{
    static const char *const scopes[] = { ADM_SCOPE_INVITATIONS, ADM_SCOPE_DIRECTORY,
                                          ADM_SCOPE_SYNC, ADM_SCOPE_AUDIT, ADM_SCOPE_ALL };

    for (size_t i = 0; i < ANN_ARRAY_LEN(scopes); i++) {
        if (strcmp(s, scopes[i]) == 0) {
            return true;
        }
    }
    return false;
}
