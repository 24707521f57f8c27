#include "core/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "core/log.h"
#include "core/net.h"
#include "core/yamljson.h"

enum cfg_type {
    CFG_STRING,
    CFG_INT,
    CFG_BOOL,
    CFG_LEVEL,
    CFG_JSON, /* a YAML subtree, kept as JSON (scalars become strings) */
};

#define CFG_SECRET 1u /* never printed; may come from <key>_file */

struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t offset;
    const char *def; /* default as text; NULL = unset */
    long min, max;
    unsigned flags;
    const char *(*check)(const json_t *v); /* CFG_JSON: NULL if fine, else what is wrong */
};

#define OFF(f) offsetof(struct cfg, f)

static const char *check_legacy_homeservers(const json_t *v);
static const char *check_policies(const json_t *v);
static const char *check_smtp_security(const json_t *v);
static const char *check_sync_sources(const json_t *v);
static const char *check_string_map(const json_t *v);
static const char *check_string_list(const json_t *v);

/* Alphabetical. Every key is documented in conf/annuaire.yaml (a unit test checks). */
static const struct cfg_key keys[] = {
    { "account.allow_private_addresses", CFG_BOOL, OFF(account.allow_private_addresses), "false", 0,
      0, 0, NULL },
    { "account.allowed_homeservers", CFG_JSON, OFF(account.allowed_homeservers), "[]", 0, 0, 0,
      check_string_list },
    { "account.homeservers", CFG_JSON, OFF(account.homeservers), "{}", 0, 0, 0, check_string_map },
    { "account.max_concurrent_calls", CFG_INT, OFF(account.max_concurrent_calls), "0", 0, 1024, 0,
      NULL },
    { "account.request_timeout", CFG_INT, OFF(account.request_timeout), "10", 1, 120, 0, NULL },
    { "account.tls_verify", CFG_BOOL, OFF(account.tls_verify), "true", 0, 0, 0, NULL },
    { "database.connect_timeout", CFG_INT, OFF(database.connect_timeout), "5", 1, 300, 0, NULL },
    { "database.conninfo", CFG_STRING, OFF(database.conninfo), "dbname=annuaire", 0, 4096, 0,
      NULL },
    { "database.password", CFG_STRING, OFF(database.password), NULL, 0, 1024, CFG_SECRET, NULL },
    { "database.statement_timeout_ms", CFG_INT, OFF(database.statement_timeout_ms), "5000", 0,
      3600000, 0, NULL },
    { "http.bind_address", CFG_STRING, OFF(http.bind_address), "127.0.0.1", 1, 255, 0, NULL },
    { "http.connection_limit", CFG_INT, OFF(http.connection_limit), "1024", 1, 100000, 0, NULL },
    { "http.connection_timeout", CFG_INT, OFF(http.connection_timeout), "30", 1, 3600, 0, NULL },
    { "http.cors_origin", CFG_STRING, OFF(http.cors_origin), "*", 1, 255, 0, NULL },
    { "http.max_body_bytes", CFG_INT, OFF(http.max_body_bytes), "1048576", 1024, 67108864, 0,
      NULL },
    { "http.max_connections_per_ip", CFG_INT, OFF(http.max_connections_per_ip), "64", 0, 100000, 0,
      NULL },
    { "http.port", CFG_INT, OFF(http.port), "8090", 0, 65535, 0, NULL },
    { "http.public_metrics", CFG_BOOL, OFF(http.public_metrics), "false", 0, 0, 0, NULL },
    { "http.request_timeout", CFG_INT, OFF(http.request_timeout), "15", 1, 3600, 0, NULL },
    { "http.shutdown_timeout", CFG_INT, OFF(http.shutdown_timeout), "10", 0, 600, 0, NULL },
    { "http.trusted_proxies", CFG_JSON, OFF(http.trusted_proxies), "[]", 0, 0, 0,
      net_check_cidr_list },
    { "http.threads", CFG_INT, OFF(http.threads), "0", 0, 1024, 0, NULL },
    { "invites.display_domain_chars", CFG_INT, OFF(invites.display_domain_chars), "3", 1, 64, 0,
      NULL },
    { "invites.display_user_chars", CFG_INT, OFF(invites.display_user_chars), "3", 1, 64, 0, NULL },
    { "invites.validity", CFG_INT, OFF(invites.validity), "0", 0, 315360000, 0, NULL },
    { "keys.signing_key_file", CFG_STRING, OFF(keys.signing_key_file), "annuaire.signing.key", 1,
      4096, 0, NULL },
    { "legacy.homeservers", CFG_JSON, OFF(legacy.homeservers), "{}", 0, 0, 0,
      check_legacy_homeservers },
    { "log.level", CFG_LEVEL, OFF(log.level), "info", 0, 0, 0, NULL },
    { "lookup.allow_plain", CFG_BOOL, OFF(lookup.allow_plain), "true", 0, 0, 0, NULL },
    { "lookup.max_addresses", CFG_INT, OFF(lookup.max_addresses), "10000", 1, 1000000, 0, NULL },
    { "mail.brand", CFG_STRING, OFF(mail.brand), "Tchap", 1, 64, 0, NULL },
    { "mail.from", CFG_STRING, OFF(mail.from), "Tchap <noreply@localhost>", 3, 255, 0, NULL },
    { "mail.retry_initial_delay", CFG_INT, OFF(mail.retry_initial_delay), "5", 1, 3600, 0, NULL },
    { "mail.smtp_host", CFG_STRING, OFF(mail.smtp_host), "127.0.0.1", 1, 255, 0, NULL },
    { "mail.smtp_password", CFG_STRING, OFF(mail.smtp_password), NULL, 0, 1024, CFG_SECRET, NULL },
    { "mail.smtp_port", CFG_INT, OFF(mail.smtp_port), "25", 1, 65535, 0, NULL },
    { "mail.smtp_security", CFG_STRING, OFF(mail.smtp_security), "none", 1, 16, 0,
      check_smtp_security },
    { "mail.smtp_timeout", CFG_INT, OFF(mail.smtp_timeout), "10", 1, 300, 0, NULL },
    { "mail.smtp_username", CFG_STRING, OFF(mail.smtp_username), NULL, 0, 255, 0, NULL },
    { "mail.templates_dir", CFG_STRING, OFF(mail.templates_dir), "conf/templates", 1, 4096, 0,
      NULL },
    { "mail.tls_verify", CFG_BOOL, OFF(mail.tls_verify), "true", 0, 0, 0, NULL },
    { "ratelimit.enabled", CFG_BOOL, OFF(ratelimit.enabled), "true", 0, 0, 0, NULL },
    { "ratelimit.lookup_ip_burst", CFG_INT, OFF(ratelimit.lookup_ip_burst), "100", 1, 1000000, 0,
      NULL },
    { "ratelimit.lookup_ip_interval_ms", CFG_INT, OFF(ratelimit.lookup_ip_interval_ms), "50", 1,
      86400000, 0, NULL },
    { "ratelimit.lookup_user_burst", CFG_INT, OFF(ratelimit.lookup_user_burst), "50", 1, 1000000, 0,
      NULL },
    { "ratelimit.lookup_user_interval_ms", CFG_INT, OFF(ratelimit.lookup_user_interval_ms), "100",
      1, 86400000, 0, NULL },
    { "ratelimit.register_ip_burst", CFG_INT, OFF(ratelimit.register_ip_burst), "20", 1, 1000000, 0,
      NULL },
    { "ratelimit.register_ip_interval_ms", CFG_INT, OFF(ratelimit.register_ip_interval_ms), "3000",
      1, 86400000, 0, NULL },
    { "ratelimit.request_token_address_burst", CFG_INT, OFF(ratelimit.request_token_address_burst),
      "5", 1, 1000000, 0, NULL },
    { "ratelimit.request_token_address_interval_ms", CFG_INT,
      OFF(ratelimit.request_token_address_interval_ms), "300000", 1, 86400000, 0, NULL },
    { "ratelimit.request_token_ip_burst", CFG_INT, OFF(ratelimit.request_token_ip_burst), "20", 1,
      1000000, 0, NULL },
    { "ratelimit.request_token_ip_interval_ms", CFG_INT,
      OFF(ratelimit.request_token_ip_interval_ms), "10000", 1, 86400000, 0, NULL },
    { "ratelimit.request_token_user_burst", CFG_INT, OFF(ratelimit.request_token_user_burst), "10",
      1, 1000000, 0, NULL },
    { "ratelimit.request_token_user_interval_ms", CFG_INT,
      OFF(ratelimit.request_token_user_interval_ms), "60000", 1, 86400000, 0, NULL },
    { "ratelimit.unbind_ip_burst", CFG_INT, OFF(ratelimit.unbind_ip_burst), "100", 1, 1000000, 0,
      NULL },
    { "ratelimit.unbind_ip_interval_ms", CFG_INT, OFF(ratelimit.unbind_ip_interval_ms), "100", 1,
      86400000, 0, NULL },
    { "routing.annuaire_servers", CFG_JSON, OFF(routing.annuaire_servers), "[]", 0, 0, 0,
      check_string_list },
    { "routing.enrollment_gate", CFG_BOOL, OFF(routing.enrollment_gate), "true", 0, 0, 0, NULL },
    { "routing.external_servers", CFG_JSON, OFF(routing.external_servers), "[]", 0, 0, 0,
      check_string_list },
    { "routing.info_file", CFG_STRING, OFF(routing.info_file), NULL, 1, 4096, 0, NULL },
    { "routing.internal_bind_address", CFG_STRING, OFF(routing.internal_bind_address), "127.0.0.1",
      1, 255, 0, NULL },
    { "routing.internal_port", CFG_INT, OFF(routing.internal_port), "0", 0, 65535, 0, NULL },
    { "routing.internal_threads", CFG_INT, OFF(routing.internal_threads), "0", 0, 1024, 0, NULL },
    { "routing.internal_secret", CFG_STRING, OFF(routing.internal_secret), NULL, 16, 1024,
      CFG_SECRET, NULL },
    { "routing.nonshadow", CFG_JSON, OFF(routing.nonshadow), "[]", 0, 0, 0, net_check_cidr_list },
    { "routing.reveal_requires_invite", CFG_BOOL, OFF(routing.reveal_requires_invite), "false", 0,
      0, 0, NULL },
    { "server.name", CFG_STRING, OFF(server.name), "localhost", 1, 255, 0, NULL },
    { "server.public_base_url", CFG_STRING, OFF(server.public_base_url), "http://127.0.0.1:8090", 8,
      1024, 0, NULL },
    { "sync.max_delete_percent", CFG_INT, OFF(sync.max_delete_percent), "10", 0, 100, 0, NULL },
    { "sync.purge_after_days", CFG_INT, OFF(sync.purge_after_days), "30", 0, 3650, 0, NULL },
    { "sync.removal_grace_runs", CFG_INT, OFF(sync.grace_runs), "1", 0, 1000, 0, NULL },
    { "sync.removal_grace_seconds", CFG_INT, OFF(sync.grace_seconds), "3600", 0, 31536000, 0,
      NULL },
    { "sync.sources", CFG_JSON, OFF(sync.sources), "[]", 0, 0, 0, check_sync_sources },
    { "terms.policies", CFG_JSON, OFF(terms.policies), "{}", 0, 0, 0, check_policies },
    { "validation.max_token_tries", CFG_INT, OFF(validation.max_token_tries), "5", 1, 100, 0,
      NULL },
    { "validation.next_link_domains", CFG_JSON, OFF(validation.next_link_domains), "[]", 0, 0, 0,
      check_string_list },
    { "validation.session_lifetime", CFG_INT, OFF(validation.session_lifetime), "86400", 60,
      2592000, 0, NULL },
};

#define N_KEYS           ANN_ARRAY_LEN(keys)
#define MAX_CONFIG_BYTES (1024 * 1024)

struct load {
    const char *path;
    struct cfg *cfg;
    bool seen[N_KEYS];
    size_t line[N_KEYS]; /* where the file set each key, 0 = not there */
    char *err;
};

static _Atomic(struct cfg *) installed;

static void fail(struct load *ld, const yaml_node_t *node, const char *key, const char *fmt, ...)
    ANN_PRINTF(4, 5);

static void
fail(struct load *ld, const yaml_node_t *node, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (ld->err[0] != '\0') {
        return; /* keep the first error */
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (node != NULL) {
        snprintf(ld->err, CFG_ERR_SIZE, "%.160s:%zu: %.64s%s%s", ld->path,
                 node->start_mark.line + 1, key ? key : "", key ? ": " : "", msg);
    } else {
        snprintf(ld->err, CFG_ERR_SIZE, "%.160s: %.64s%s%s", ld->path, key ? key : "",
                 key ? ": " : "", msg);
    }
}

static const struct cfg_key *
find_key(const char *name, size_t len)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strlen(keys[i].name) == len && strncmp(keys[i].name, name, len) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

static bool
is_section(const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < N_KEYS; i++) {
        if (strncmp(keys[i].name, name, len) == 0 && keys[i].name[len] == '.') {
            return true;
        }
    }
    return false;
}

static void
free_value(struct cfg *cfg, const struct cfg_key *k)
{
    if (k->type == CFG_JSON) {
        json_t **slot = (json_t **)((char *)cfg + k->offset);

        json_decref(*slot);
        *slot = NULL;
    } else if (k->type == CFG_STRING) {
        char **slot = (char **)((char *)cfg + k->offset);

        if (*slot != NULL && (k->flags & CFG_SECRET)) {
            OPENSSL_cleanse(*slot, strlen(*slot));
        }
        free(*slot);
        *slot = NULL;
    }
}

/* Stores j (stolen) as the value of k after its check. */
static const char *
set_json(struct cfg *cfg, const struct cfg_key *k, json_t *j)
{
    const char *why;

    if (j == NULL) {
        return "expected JSON";
    }
    if ((why = k->check(j)) != NULL) {
        json_decref(j);
        return why;
    }
    free_value(cfg, k);
    *(json_t **)((char *)cfg + k->offset) = j;
    return NULL;
}

/* Stores text as the value of k. @return NULL, or a message saying what is wrong. */
static const char *
set_value(struct cfg *cfg, const struct cfg_key *k, const char *text)
{
    void *slot = (char *)cfg + k->offset;
    long v = 0;
    enum log_level lv;

    switch (k->type) {
    case CFG_STRING:
        if (text != NULL && (strlen(text) < (size_t)k->min || strlen(text) > (size_t)k->max)) {
            return "length out of range";
        }
        if (text != NULL && k->check != NULL) {
            json_t *tmp = json_string(text);
            const char *why = tmp ? k->check(tmp) : "not valid UTF-8";

            json_decref(tmp);
            if (why != NULL) {
                return why;
            }
        }
        free_value(cfg, k);
        *(char **)slot = text ? xstrdup(text) : NULL;
        return NULL;
    case CFG_INT:
        if (text == NULL || util_parse_long(text, k->min, k->max, &v) != 0) {
            return "expected an integer in range";
        }
        *(long *)slot = v;
        return NULL;
    case CFG_BOOL:
        if (text != NULL && (strcasecmp(text, "true") == 0 || strcasecmp(text, "yes") == 0)) {
            *(long *)slot = 1;
        } else if (text != NULL &&
                   (strcasecmp(text, "false") == 0 || strcasecmp(text, "no") == 0)) {
            *(long *)slot = 0;
        } else {
            return "expected true or false";
        }
        return NULL;
    case CFG_LEVEL:
        if (text == NULL || log_level_parse(text, &lv) != 0) {
            return "expected one of error, warn, info, debug";
        }
        *(long *)slot = (long)lv;
        return NULL;
    case CFG_JSON: {
        json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;

        return set_json(cfg, k, j);
    }
    }
    return "unknown type";
}

/* A YAML subtree as JSON: mappings, sequences, strings and nulls. @return NULL (failed) */
static json_t *
yaml_to_json(struct load *ld, yaml_document_t *doc, yaml_node_t *n, const char *name)
{
    static const struct yj_limits limits = { 16, 100000, NULL };
    const yaml_node_t *bad;
    char why[160];
    json_t *out = yj_convert(doc, n, yj_string_or_null, &limits, &bad, why, sizeof(why));

    if (out == NULL) {
        fail(ld, bad ? bad : n, name, "%s", why);
    }
    return out;
}

static void
set_from_node(struct load *ld,
              yaml_document_t *doc,
              const struct cfg_key *k,
              yaml_node_t *val,
              const char *name)
{
    const char *text;
    const char *why;
    char range[96];

    if (ld->seen[k - keys]) {
        fail(ld, val, k->name, "given more than once");
        return;
    }
    ld->seen[k - keys] = true;
    ld->line[k - keys] = val->start_mark.line + 1;
    if (k->type == CFG_JSON) {
        json_t *j = yaml_to_json(ld, doc, val, name);

        if (j != NULL && json_is_null(j)) {
            json_decref(j);
            j = json_loads(k->def, 0, NULL);
        }
        if (j != NULL && (why = set_json(ld->cfg, k, j)) != NULL) {
            fail(ld, val, name, "%s", why);
        }
        return;
    }
    if (val->type != YAML_SCALAR_NODE) {
        fail(ld, val, name, "expected a single value, not a %s",
             val->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return;
    }
    text = yj_scalar_is_null(val) ? NULL : (const char *)val->data.scalar.value;
    if (text != NULL && strlen(text) != val->data.scalar.length) {
        fail(ld, val, name, "value contains a NUL byte");
        return;
    }
    if (text == NULL && k->type == CFG_STRING) {
        why = set_value(ld->cfg, k, k->def);
    } else {
        why = set_value(ld->cfg, k, text);
    }
    if (why != NULL) {
        if (k->type == CFG_INT) {
            snprintf(range, sizeof(range), " [%ld, %ld]", k->min, k->max);
        } else {
            range[0] = '\0';
        }
        fail(ld, val, name, "%s%s", why, range);
    }
}

/* "<secret key>_file: PATH" reads the secret from a file (trailing newline dropped). */
static void
set_from_file(struct load *ld, const struct cfg_key *k, const yaml_node_t *val, const char *name)
{
    char *data = NULL;
    size_t len = 0;
    const char *why;

    if (val->type != YAML_SCALAR_NODE || yj_scalar_is_null(val)) {
        fail(ld, val, name, "expected a file path");
        return;
    }
    if (ld->seen[k - keys]) {
        fail(ld, val, name, "%s is given more than once", k->name);
        return;
    }
    ld->seen[k - keys] = true;
    if (util_read_file((const char *)val->data.scalar.value, 65536, &data, &len) != 0) {
        fail(ld, val, name, "cannot read %s: %s", (const char *)val->data.scalar.value,
             strerror(errno));
        return;
    }
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r')) {
        data[--len] = '\0';
    }
    if (strlen(data) != len) {
        fail(ld, val, name, "file contains a NUL byte");
    } else if ((why = set_value(ld->cfg, k, data)) != NULL) {
        fail(ld, val, name, "%s", why);
    }
    OPENSSL_cleanse(data, len);
    free(data);
}

static void
walk_mapping(struct load *ld, yaml_document_t *doc, yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        const struct cfg_key *k;
        char name[256];
        size_t len;

        if (ld->err[0] != '\0') {
            return;
        }
        if (kn == NULL || vn == NULL || kn->type != YAML_SCALAR_NODE) {
            fail(ld, kn, prefix, "keys must be plain names");
            return;
        }
        if ((size_t)snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                             (const char *)kn->data.scalar.value) >= sizeof(name)) {
            fail(ld, kn, NULL, "key name too long");
            return;
        }
        len = strlen(name);
        if ((k = find_key(name, len)) != NULL) {
            set_from_node(ld, doc, k, vn, name);
        } else if (len > 5 && strcmp(name + len - 5, "_file") == 0 &&
                   (k = find_key(name, len - 5)) != NULL && (k->flags & CFG_SECRET)) {
            set_from_file(ld, k, vn, name);
        } else if (is_section(name)) {
            if (vn->type != YAML_MAPPING_NODE) {
                fail(ld, vn, name, "expected a mapping of keys");
                return;
            }
            walk_mapping(ld, doc, vn, name);
        } else {
            fail(ld, kn, name, "unknown key");
        }
    }
}

static void
parse_file(struct load *ld)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    char *text = NULL;
    size_t len = 0;

    if (util_read_file(ld->path, MAX_CONFIG_BYTES, &text, &len) != 0) {
        fail(ld, NULL, NULL, "cannot read: %s", strerror(errno));
        return;
    }
    if (!yaml_parser_initialize(&parser)) {
        fail(ld, NULL, NULL, "cannot initialise the YAML parser");
        free(text);
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(ld->err, CFG_ERR_SIZE, "%.160s:%zu: invalid YAML: %.200s", ld->path,
                 parser.problem_mark.line + 1, parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        free(text);
        return;
    }
    root = yaml_document_get_root_node(&doc);
    if (root != NULL) {
        if (root->type != YAML_MAPPING_NODE) {
            fail(ld, root, NULL, "the top level must be a mapping of sections");
        } else {
            walk_mapping(ld, &doc, root, NULL);
        }
        yaml_document_t extra;

        if (ld->err[0] == '\0' && yaml_parser_load(&parser, &extra)) {
            if (yaml_document_get_root_node(&extra) != NULL) {
                fail(ld, yaml_document_get_root_node(&extra), NULL,
                     "only one YAML document is allowed");
            }
            yaml_document_delete(&extra);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(text);
}

static void
apply_env(struct load *ld)
{
    for (size_t i = 0; i < N_KEYS && ld->err[0] == '\0'; i++) {
        char var[128] = "ANNUAIRE_";
        size_t o = strlen(var);
        const char *val;
        const char *why;

        for (const char *c = keys[i].name; *c != '\0' && o < sizeof(var) - 1; c++) {
            var[o++] = *c == '.' ? '_' : (char)toupper((unsigned char)*c);
        }
        var[o] = '\0';
        val = getenv(var);
        if (val == NULL) {
            continue;
        }
        if ((why = set_value(ld->cfg, &keys[i], val)) != NULL) {
            snprintf(ld->err, CFG_ERR_SIZE, "environment %s (%s): %s", var, keys[i].name, why);
        }
    }
}

bool
cfg_json_true(const json_t *v)
{
    return json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
}

static const char *
check_string_map(const json_t *v)
{
    const char *key;
    json_t *item;

    if (!json_is_object(v)) {
        return "expected a mapping of names to text";
    }
    json_object_foreach ((json_t *)v, key, item) {
        if (!json_is_string(item) || json_string_length(item) == 0) {
            return "every value must be non-empty text";
        }
    }
    return NULL;
}

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

static const char *
check_smtp_security(const json_t *v)
{
    const char *s = json_string_value(v);

    return s && (strcmp(s, "none") == 0 || strcmp(s, "starttls") == 0 || strcmp(s, "tls") == 0)
               ? NULL
               : "expected one of none, starttls, tls";
}

static const char *
check_string_list(const json_t *v)
{
    size_t i;
    json_t *item;

    if (!json_is_array(v)) {
        return "expected a list";
    }
    json_array_foreach (v, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0) {
            return "every item must be non-empty text";
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

/* --- sync.sources: a list of ministries' LDAP directories or LDIF exports --- */

static char source_err[256];

enum shape {
    SH_TEXT,
    SH_BOOL,
    SH_INT,
    SH_LIST, /* of texts */
    SH_TEXT_OR_LIST,
    SH_MAP,
};

struct field_shape {
    const char *name;
    enum shape shape;
    long min, max; /* SH_INT range; SH_TEXT length */
};

static const struct field_shape source_fields[] = {
    { "name", SH_TEXT, 1, 64 },
    { "ministry", SH_TEXT, 1, 255 },
    { "priority", SH_INT, 0, 1000000 },
    { "ldif", SH_TEXT, 1, 4096 },
    { "ldap", SH_MAP, 0, 0 },
    { "schema", SH_TEXT, 1, 32 },
    { "attributes", SH_MAP, 0, 0 },
    { "removal_grace_runs", SH_INT, 0, 1000 },
    { "removal_grace_seconds", SH_INT, 0, 31536000 },
    { "min_entries", SH_INT, 0, 100000000 },
    { "max_shrink", SH_INT, 0, 100 },
};
static const struct field_shape ldap_fields[] = {
    { "urls", SH_LIST, 1, 2048 },
    { "starttls", SH_BOOL, 0, 0 },
    { "ca_file", SH_TEXT, 1, 4096 },
    { "bind_dn", SH_TEXT, 1, 1024 },
    { "bind_password_file", SH_TEXT, 1, 4096 },
    { "bind_password_env", SH_TEXT, 1, 255 },
    { "base_dns", SH_LIST, 1, 1024 },
    { "scope", SH_TEXT, 1, 8 },
    { "filter", SH_TEXT, 1, 4096 },
    { "page_size", SH_INT, 1, 10000 },
    { "connect_timeout", SH_INT, 1, 300 },
    { "timeout", SH_INT, 1, 3600 },
    { "content_sync", SH_BOOL, 0, 0 },
    { "poll_attribute", SH_TEXT, 1, 64 },
    { "poll_overlap", SH_INT, 0, 86400 },
    { "full_every_hours", SH_INT, 1, 8760 },
};
static const struct field_shape attribute_fields[] = {
    { "key", SH_TEXT, 1, 64 },          { "mail", SH_TEXT_OR_LIST, 1, 64 },
    { "display_name", SH_TEXT, 1, 64 }, { "given_name", SH_TEXT, 1, 64 },
    { "surname", SH_TEXT, 1, 64 },      { "entity", SH_TEXT_OR_LIST, 1, 64 },
    { "title", SH_TEXT, 1, 64 },        { "mobile", SH_TEXT, 1, 64 },
    { "hidden", SH_TEXT, 1, 64 },       { "disabled", SH_TEXT, 1, 64 },
};

static bool
text_ok(const json_t *v, const struct field_shape *f)
{
    return json_is_string(v) && json_string_length(v) >= (size_t)f->min &&
           json_string_length(v) <= (size_t)f->max;
}

/* Checks obj's keys and value shapes; path names the place in messages. */
static const char *
check_shapes(const json_t *obj, const struct field_shape *fields, size_t n, const char *path)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj)) {
        snprintf(source_err, sizeof(source_err), "%s: expected a mapping", path);
        return source_err;
    }
    json_object_foreach ((json_t *)obj, key, v) {
        const struct field_shape *f = NULL;
        bool ok = false;
        long num;

        for (size_t i = 0; i < n && f == NULL; i++) {
            f = strcmp(fields[i].name, key) == 0 ? &fields[i] : NULL;
        }
        if (f == NULL) {
            snprintf(source_err, sizeof(source_err), "%s.%.64s: unknown key", path, key);
            return source_err;
        }
        switch (f->shape) {
        case SH_TEXT:
            ok = text_ok(v, f);
            break;
        case SH_BOOL: /* YAML gives text; JSON from the environment may give true/false */
            ok = json_is_boolean(v) ||
                 (json_is_string(v) && (strcmp(json_string_value(v), "true") == 0 ||
                                        strcmp(json_string_value(v), "false") == 0));
            break;
        case SH_INT:
            ok = (json_is_integer(v) && json_integer_value(v) >= f->min &&
                  json_integer_value(v) <= f->max) ||
                 (json_is_string(v) &&
                  util_parse_long(json_string_value(v), f->min, f->max, &num) == 0);
            break;
        case SH_TEXT_OR_LIST:
            if (text_ok(v, f)) {
                ok = true;
                break;
            }
            /* fall through */
        case SH_LIST: {
            size_t i;
            json_t *item;

            ok = json_is_array(v) && json_array_size(v) > 0;
            json_array_foreach (v, i, item) {
                ok = ok && text_ok(item, f);
            }
            break;
        }
        case SH_MAP:
            ok = json_is_object(v);
            break;
        }
        if (!ok) {
            snprintf(source_err, sizeof(source_err), "%s.%.64s: not a valid value", path, key);
            return source_err;
        }
    }
    return NULL;
}

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
        if ((why = check_shapes(src, source_fields, ANN_ARRAY_LEN(source_fields), path)) != NULL) {
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
            if ((why = check_shapes(json_object_get(src, "attributes"), attribute_fields,
                                    ANN_ARRAY_LEN(attribute_fields), apath)) != NULL) {
                return why;
            }
        }
        if (ldap != NULL) {
            char lpath[80];
            size_t k;
            json_t *url;

            snprintf(lpath, sizeof(lpath), "%s.ldap", path);
            if ((why = check_shapes(ldap, ldap_fields, ANN_ARRAY_LEN(ldap_fields), lpath)) !=
                NULL) {
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

/* Bytes of a lookup body per sha256 hash: 43 characters of base64, quotes, a comma. */
#define LOOKUP_BYTES_PER_HASH 47

/* Keys whose values must agree with each other. */
static void
check_agreement(struct load *ld)
{
    const struct cfg *c = ld->cfg;
    long need = c->lookup.max_addresses * LOOKUP_BYTES_PER_HASH + 1024;

    if (c->http.max_body_bytes < need) {
        const struct cfg_key *k = find_key("http.max_body_bytes", strlen("http.max_body_bytes"));
        size_t line = k != NULL ? ld->line[k - keys] : 0;
        char where[32] = "";

        if (line > 0) {
            snprintf(where, sizeof(where), ":%zu", line);
        }
        snprintf(ld->err, CFG_ERR_SIZE,
                 "%.160s%s: http.max_body_bytes: %ld bytes cannot hold a lookup of "
                 "lookup.max_addresses (%ld) hashes: at least %ld",
                 ld->path, where, c->http.max_body_bytes, c->lookup.max_addresses, need);
    }
}

int
cfg_load(const char *path, struct cfg **out, char err[CFG_ERR_SIZE])
{
    struct load ld = { .path = path, .cfg = xcalloc(1, sizeof(struct cfg)), .err = err };

    err[0] = '\0';
    *out = NULL;
    ld.cfg->path = xstrdup(path);
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].def != NULL && set_value(ld.cfg, &keys[i], keys[i].def) != NULL) {
            log_bug("bad default in the configuration key table");
            abort();
        }
    }
    parse_file(&ld);
    if (err[0] == '\0') {
        apply_env(&ld);
    }
    if (err[0] == '\0') {
        check_agreement(&ld);
    }
    if (err[0] != '\0') {
        cfg_free(ld.cfg);
        return -1;
    }
    *out = ld.cfg;
    return 0;
}

void
cfg_free(struct cfg *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        free_value(cfg, &keys[i]);
    }
    free(cfg->path);
    free(cfg);
}

void
cfg_install(struct cfg *cfg)
{
    /* Snapshots are kept until exit: readers may still hold the old one. */
    struct cfg *old = atomic_exchange(&installed, cfg);

    (void)old;
}

const struct cfg *
cfg_get(void)
{
    return atomic_load_explicit(&installed, memory_order_acquire);
}

void
cfg_uninstall(void)
{
    cfg_free(atomic_exchange(&installed, NULL));
}

void
cfg_dump(const struct cfg *cfg, FILE *out)
{
    static const char *const levels[] = { "error", "warn", "info", "debug" };

    for (size_t i = 0; i < N_KEYS; i++) {
        const void *slot = (const char *)cfg + keys[i].offset;
        const char *s;

        switch (keys[i].type) {
        case CFG_STRING:
            s = *(char *const *)slot;
            if (keys[i].flags & CFG_SECRET) {
                fprintf(out, "%s: %s\n", keys[i].name, s ? "(set)" : "(unset)");
            } else {
                fprintf(out, "%s: %s\n", keys[i].name, s ? s : "(unset)");
            }
            break;
        case CFG_INT:
            fprintf(out, "%s: %ld\n", keys[i].name, *(const long *)slot);
            break;
        case CFG_BOOL:
            fprintf(out, "%s: %s\n", keys[i].name, *(const long *)slot ? "true" : "false");
            break;
        case CFG_LEVEL:
            fprintf(out, "%s: %s\n", keys[i].name, levels[*(const long *)slot]);
            break;
        case CFG_JSON: {
            char *text = json_dumps(*(json_t *const *)slot, JSON_COMPACT | JSON_SORT_KEYS);

            fprintf(out, "%s: %s\n", keys[i].name, text ? text : "?");
            free(text);
            break;
        }
        }
    }
}

size_t
cfg_key_count(void)
{
    return N_KEYS;
}

const char *
cfg_key_name(size_t i)
{
    return i < N_KEYS ? keys[i].name : NULL;
}
