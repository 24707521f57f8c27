/*
 * The configuration loader: reads the YAML file and the environment through the
 * rows each section registers (struct cfg_row, core/cfg.h), reports errors as
 * file:line: key, and holds core's own sections (account, database, http, log,
 * mail, ratelimit, server). The modules' sections are in their config.c.
 */
#include "core/cfg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "core/log.h"
#include "core/net.h"
#include "core/yamljson.h"

static const char *check_base_url(const json_t *v);
static const char *check_smtp_security(const json_t *v);

/* Each section alphabetical. Every key is documented in conf/annuaire.yaml (a unit test
 * checks). */
static const struct cfg_row account_rows[] = {
    { "account.allow_private_addresses", CFG_BOOL,
      CFG_FIELD(struct cfg, account.allow_private_addresses), "false", 0, 0, 0, NULL },
    { "account.allowed_homeservers", CFG_JSON, CFG_FIELD(struct cfg, account.allowed_homeservers),
      "[]", 0, 0, 0, cfg_check_string_list },
    { "account.homeservers", CFG_JSON, CFG_FIELD(struct cfg, account.homeservers), "{}", 0, 0, 0,
      cfg_check_string_map },
    { "account.max_concurrent_calls", CFG_INT, CFG_FIELD(struct cfg, account.max_concurrent_calls),
      "0", 0, 1024, 0, NULL },
    { "account.request_timeout", CFG_INT, CFG_FIELD(struct cfg, account.request_timeout), "10", 1,
      120, 0, NULL },
    { "account.tls_verify", CFG_BOOL, CFG_FIELD(struct cfg, account.tls_verify), "true", 0, 0, 0,
      NULL },
};

static const struct cfg_row database_rows[] = {
    { "database.connect_timeout", CFG_INT, CFG_FIELD(struct cfg, database.connect_timeout), "5", 1,
      300, 0, NULL },
    { "database.conninfo", CFG_STRING, CFG_FIELD(struct cfg, database.conninfo), "dbname=annuaire",
      0, 4096, 0, NULL },
    { "database.password", CFG_STRING, CFG_FIELD(struct cfg, database.password), NULL, 0, 1024,
      CFG_SECRET, NULL },
    { "database.replica", CFG_STRING, CFG_FIELD(struct cfg, database.replica), NULL, 0, 4096, 0,
      NULL },
    { "database.replica_max_lag", CFG_INT, CFG_FIELD(struct cfg, database.replica_max_lag), "5", 1,
      3600, 0, NULL },
    { "database.statement_timeout_ms", CFG_INT,
      CFG_FIELD(struct cfg, database.statement_timeout_ms), "5000", 0, 3600000, 0, NULL },
};

static const struct cfg_row http_rows[] = {
    { "http.bind_address", CFG_STRING, CFG_FIELD(struct cfg, http.bind_address), "127.0.0.1", 1,
      255, 0, cfg_check_bind_address },
    { "http.connection_limit", CFG_INT, CFG_FIELD(struct cfg, http.connection_limit), "1024", 1,
      100000, 0, NULL },
    { "http.connection_timeout", CFG_INT, CFG_FIELD(struct cfg, http.connection_timeout), "30", 1,
      3600, 0, NULL },
    { "http.cors_origin", CFG_STRING, CFG_FIELD(struct cfg, http.cors_origin), "*", 1, 255, 0,
      NULL },
    { "http.max_body_bytes", CFG_INT, CFG_FIELD(struct cfg, http.max_body_bytes), "1048576", 1024,
      67108864, 0, NULL },
    { "http.max_connections_per_ip", CFG_INT, CFG_FIELD(struct cfg, http.max_connections_per_ip),
      "64", 0, 100000, 0, NULL },
    { "http.port", CFG_INT, CFG_FIELD(struct cfg, http.port), "8090", 0, 65535, 0, NULL },
    { "http.public_metrics", CFG_BOOL, CFG_FIELD(struct cfg, http.public_metrics), "false", 0, 0, 0,
      NULL },
    { "http.request_timeout", CFG_INT, CFG_FIELD(struct cfg, http.request_timeout), "15", 1, 3600,
      0, NULL },
    { "http.shutdown_timeout", CFG_INT, CFG_FIELD(struct cfg, http.shutdown_timeout), "10", 0, 600,
      0, NULL },
    { "http.trusted_proxies", CFG_JSON, CFG_FIELD(struct cfg, http.trusted_proxies), "[]", 0, 0, 0,
      net_check_cidr_list },
    { "http.threads", CFG_INT, CFG_FIELD(struct cfg, http.threads), "0", 0, 1024, 0, NULL },
};

static const struct cfg_row log_rows[] = {
    { "log.level", CFG_LEVEL, CFG_FIELD(struct cfg, log.level), "info", 0, 0, 0, NULL },
};

static const struct cfg_row mail_rows[] = {
    { "mail.brand", CFG_STRING, CFG_FIELD(struct cfg, mail.brand), "Tchap", 1, 64, 0, NULL },
    { "mail.from", CFG_STRING, CFG_FIELD(struct cfg, mail.from), "Tchap <noreply@localhost>", 3,
      255, 0, NULL },
    { "mail.retry_initial_delay", CFG_INT, CFG_FIELD(struct cfg, mail.retry_initial_delay), "5", 1,
      3600, 0, NULL },
    { "mail.smtp_host", CFG_STRING, CFG_FIELD(struct cfg, mail.smtp_host), "127.0.0.1", 1, 255, 0,
      NULL },
    { "mail.smtp_password", CFG_STRING, CFG_FIELD(struct cfg, mail.smtp_password), NULL, 0, 1024,
      CFG_SECRET, NULL },
    { "mail.smtp_port", CFG_INT, CFG_FIELD(struct cfg, mail.smtp_port), "25", 1, 65535, 0, NULL },
    { "mail.smtp_security", CFG_STRING, CFG_FIELD(struct cfg, mail.smtp_security), "none", 1, 16, 0,
      check_smtp_security },
    { "mail.smtp_timeout", CFG_INT, CFG_FIELD(struct cfg, mail.smtp_timeout), "10", 1, 300, 0,
      NULL },
    { "mail.smtp_username", CFG_STRING, CFG_FIELD(struct cfg, mail.smtp_username), NULL, 0, 255, 0,
      NULL },
    { "mail.templates_dir", CFG_STRING, CFG_FIELD(struct cfg, mail.templates_dir),
      ANNUAIRE_DATADIR "/templates", 1, 4096, 0, NULL },
    { "mail.tls_verify", CFG_BOOL, CFG_FIELD(struct cfg, mail.tls_verify), "true", 0, 0, 0, NULL },
};

static const struct cfg_row ratelimit_rows[] = {
    { "ratelimit.enabled", CFG_BOOL, CFG_FIELD(struct cfg, ratelimit.enabled), "true", 0, 0, 0,
      NULL },
    { "ratelimit.lookup_ip_burst", CFG_INT, CFG_FIELD(struct cfg, ratelimit.lookup_ip_burst), "100",
      1, 1000000, 0, NULL },
    { "ratelimit.lookup_ip_interval_ms", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.lookup_ip_interval_ms), "50", 1, 86400000, 0, NULL },
    { "ratelimit.lookup_user_burst", CFG_INT, CFG_FIELD(struct cfg, ratelimit.lookup_user_burst),
      "50", 1, 1000000, 0, NULL },
    { "ratelimit.lookup_user_interval_ms", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.lookup_user_interval_ms), "100", 1, 86400000, 0, NULL },
    { "ratelimit.register_ip_burst", CFG_INT, CFG_FIELD(struct cfg, ratelimit.register_ip_burst),
      "20", 1, 1000000, 0, NULL },
    { "ratelimit.register_ip_interval_ms", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.register_ip_interval_ms), "3000", 1, 86400000, 0, NULL },
    { "ratelimit.request_token_address_burst", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.request_token_address_burst), "5", 1, 1000000, 0, NULL },
    { "ratelimit.request_token_address_interval_ms", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.request_token_address_interval_ms), "300000", 1, 86400000, 0,
      NULL },
    { "ratelimit.request_token_ip_burst", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.request_token_ip_burst), "20", 1, 1000000, 0, NULL },
    { "ratelimit.request_token_ip_interval_ms", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.request_token_ip_interval_ms), "10000", 1, 86400000, 0,
      NULL },
    { "ratelimit.request_token_user_burst", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.request_token_user_burst), "10", 1, 1000000, 0, NULL },
    { "ratelimit.request_token_user_interval_ms", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.request_token_user_interval_ms), "60000", 1, 86400000, 0,
      NULL },
    { "ratelimit.unbind_ip_burst", CFG_INT, CFG_FIELD(struct cfg, ratelimit.unbind_ip_burst), "100",
      1, 1000000, 0, NULL },
    { "ratelimit.unbind_ip_interval_ms", CFG_INT,
      CFG_FIELD(struct cfg, ratelimit.unbind_ip_interval_ms), "100", 1, 86400000, 0, NULL },
};

static const struct cfg_row server_rows[] = {
    { "server.name", CFG_STRING, CFG_FIELD(struct cfg, server.name), "localhost", 1, 255, 0, NULL },
    { "server.public_base_url", CFG_STRING, CFG_FIELD(struct cfg, server.public_base_url),
      "http://127.0.0.1:8090", 8, 1024, 0, check_base_url },
};

/* Registered sections: reg in registration order (blocks are indexed by it), order
 * sorted by name (how keys are read, dumped and listed). */
static const struct cfg_section *reg[CFG_MAX_SECTIONS];
static size_t order[CFG_MAX_SECTIONS];
static size_t n_reg;
static pthread_once_t core_once = PTHREAD_ONCE_INIT;

#define MAX_CONFIG_BYTES (1024 * 1024)

/* A key found by name: its section (registration index) and row. */
struct key_ref {
    size_t sec;
    const struct cfg_row *row;
    size_t id; /* index into struct load's seen and line */
};

struct load {
    const char *path;
    struct cfg *cfg;
    size_t first[CFG_MAX_SECTIONS]; /* id of each section's first row */
    bool *seen;
    cfg_report_fn report; /* told each problem */
    void *report_arg;
    size_t problems;
};

/* Most problems one load reports (the rest are counted). */
#define MAX_REPORTED 50

/* Where a key's value came from (struct cfg's key_from). */
enum key_from {
    FROM_DEFAULT = 0,
    FROM_FILE,     /* key_lines says where */
    FROM_ENV,      /* ANNUAIRE_<KEY> */
    FROM_ENV_FILE, /* ANNUAIRE_<KEY>_FILE, a secret's file */
};

/* Variables with the prefix that are not configuration: the build's and the tests'
 * (CTest's environment reaches every command the tests run). No key may have their
 * names (add_section checks). */
static const char *const reserved_env[] = { "ANNUAIRE_BIN", "ANNUAIRE_SOURCE_DIR" };
static const char *const reserved_env_prefixes[] = { "ANNUAIRE_IT_", "ANNUAIRE_TEST_" };

static _Atomic(struct cfg *) installed;

/* ANNUAIRE_<KEY>: the key's name in upper case, dots as underscores (out: 128 bytes). */
static void
env_name(const char *key, const char *suffix, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "ANNUAIRE_");

    for (const char *c = key; *c != '\0' && n + 1 < size; c++) {
        out[n++] = *c == '.' ? '_' : (char)toupper((unsigned char)*c);
    }
    out[n] = '\0';
    if (suffix != NULL && n + strlen(suffix) < size) {
        strcat(out, suffix);
    }
}

static bool
env_reserved(const char *name, size_t len)
{
    for (size_t i = 0; i < ANN_ARRAY_LEN(reserved_env); i++) {
        if (strlen(reserved_env[i]) == len && strncmp(name, reserved_env[i], len) == 0) {
            return true;
        }
    }
    for (size_t i = 0; i < ANN_ARRAY_LEN(reserved_env_prefixes); i++) {
        if (strncmp(name, reserved_env_prefixes[i], strlen(reserved_env_prefixes[i])) == 0) {
            return true;
        }
    }
    return false;
}

static void
add_section(const struct cfg_section *s)
{
    size_t at;

    for (size_t i = 0; i < n_reg; i++) {
        if (reg[i] == s) {
            return;
        }
        if (strcmp(reg[i]->name, s->name) == 0) {
            log_err("BUG: configuration section %s registered twice", s->name);
            abort();
        }
    }
    if (n_reg == CFG_MAX_SECTIONS) {
        log_bug("too many configuration sections (CFG_MAX_SECTIONS)");
        abort();
    }
    for (size_t i = 0; i < s->n_rows; i++) {
        size_t len = strlen(s->name);
        char var[128];

        if (strncmp(s->rows[i].name, s->name, len) != 0 || s->rows[i].name[len] != '.') {
            log_err("BUG: configuration key %s is not in its section %s", s->rows[i].name, s->name);
            abort();
        }
        env_name(s->rows[i].name, NULL, var, sizeof(var));
        if (env_reserved(var, strlen(var))) {
            log_err("BUG: configuration key %s has a reserved variable name", s->rows[i].name);
            abort();
        }
    }
    for (at = n_reg; at > 0 && strcmp(reg[order[at - 1]]->name, s->name) > 0; at--) {
        order[at] = order[at - 1];
    }
    order[at] = n_reg;
    reg[n_reg++] = s;
}

static void
register_core(void)
{
    static const struct cfg_section core[] = {
        { "account", account_rows, ANN_ARRAY_LEN(account_rows), 0, NULL },
        { "database", database_rows, ANN_ARRAY_LEN(database_rows), 0, NULL },
        { "http", http_rows, ANN_ARRAY_LEN(http_rows), 0, NULL },
        { "log", log_rows, ANN_ARRAY_LEN(log_rows), 0, NULL },
        { "mail", mail_rows, ANN_ARRAY_LEN(mail_rows), 0, NULL },
        { "ratelimit", ratelimit_rows, ANN_ARRAY_LEN(ratelimit_rows), 0, NULL },
        { "server", server_rows, ANN_ARRAY_LEN(server_rows), 0, NULL },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(core); i++) {
        add_section(&core[i]);
    }
}

void
cfg_register(const struct cfg_section *s, size_t n)
{
    pthread_once(&core_once, register_core);
    for (size_t i = 0; i < n; i++) {
        add_section(&s[i]);
    }
}

const void *
cfg_section_get(const struct cfg *cfg, const struct cfg_section *s)
{
    for (size_t i = 0; i < cfg->n_blocks; i++) {
        if (reg[i] == s) {
            return cfg->blocks[i];
        }
    }
    return NULL;
}

/* Where the values of section sec live in cfg. */
static void *
base_of(struct cfg *cfg, size_t sec)
{
    return reg[sec]->size > 0 ? cfg->blocks[sec] : (void *)cfg;
}

static void report(struct load *ld, const char *fmt, ...) ANN_PRINTF(2, 3);

/* One problem, told to the caller (up to MAX_REPORTED), counted. */
static void
report(struct load *ld, const char *fmt, ...)
{
    char line[CFG_ERR_SIZE];
    va_list ap;

    if (ld->problems++ >= MAX_REPORTED) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    ld->report(ld->report_arg, line);
}

static void fail(struct load *ld, const yaml_node_t *node, const char *key, const char *fmt, ...)
    ANN_PRINTF(4, 5);

/* A problem in the file, at node's line (NULL: the file as a whole). */
static void
fail(struct load *ld, const yaml_node_t *node, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (node != NULL) {
        report(ld, "%.160s:%zu: %.64s%s%s", ld->path, node->start_mark.line + 1, key ? key : "",
               key ? ": " : "", msg);
    } else {
        report(ld, "%.160s: %.64s%s%s", ld->path, key ? key : "", key ? ": " : "", msg);
    }
}

static bool
find_key(const struct load *ld, const char *name, size_t len, struct key_ref *out)
{
    for (size_t s = 0; s < n_reg; s++) {
        for (size_t i = 0; i < reg[s]->n_rows; i++) {
            const char *k = reg[s]->rows[i].name;

            if (strlen(k) == len && strncmp(k, name, len) == 0) {
                out->sec = s;
                out->row = &reg[s]->rows[i];
                out->id = ld->first[s] + i;
                return true;
            }
        }
    }
    return false;
}

static bool
is_section(const char *name)
{
    size_t len = strlen(name);

    for (size_t s = 0; s < n_reg; s++) {
        for (size_t i = 0; i < reg[s]->n_rows; i++) {
            if (strncmp(reg[s]->rows[i].name, name, len) == 0 && reg[s]->rows[i].name[len] == '.') {
                return true;
            }
        }
    }
    return false;
}

static void
free_value(void *base, const struct cfg_row *k)
{
    if (k->type == CFG_JSON) {
        json_t **slot = (json_t **)((char *)base + k->offset);

        json_decref(*slot);
        *slot = NULL;
    } else if (k->type == CFG_STRING) {
        char **slot = (char **)((char *)base + k->offset);

        if (*slot != NULL && (k->flags & CFG_SECRET)) {
            OPENSSL_cleanse(*slot, strlen(*slot));
        }
        free(*slot);
        *slot = NULL;
    }
}

/* Stores v in the long, int or bool at slot (size bytes). */
static void
store_number(void *slot, size_t size, long v)
{
    if (size == sizeof(long)) {
        *(long *)slot = v;
    } else if (size == sizeof(int)) {
        *(int *)slot = (int)v;
    } else if (size == sizeof(bool)) {
        *(bool *)slot = v != 0;
    } else {
        log_err("BUG: a configuration row stores a number in %zu bytes", size);
        abort();
    }
}

/* The long, int or bool at slot (size bytes). */
static long
load_number(const void *slot, size_t size)
{
    if (size == sizeof(long)) {
        return *(const long *)slot;
    }
    if (size == sizeof(int)) {
        return *(const int *)slot;
    }
    return *(const bool *)slot;
}

/* Stores j (stolen) as the value of k after its check. */
static const char *
set_json(void *base, const struct cfg_row *k, json_t *j)
{
    const char *why;

    if (j == NULL) {
        return "expected JSON";
    }
    if ((why = k->check(j)) != NULL) {
        json_decref(j);
        return why;
    }
    free_value(base, k);
    *(json_t **)((char *)base + k->offset) = j;
    return NULL;
}

/* Stores text as the value of k. @return NULL, or a message saying what is wrong. */
static const char *
set_value(void *base, const struct cfg_row *k, const char *text)
{
    void *slot = (char *)base + k->offset;
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
        free_value(base, k);
        *(char **)slot = text ? xstrdup(text) : NULL;
        return NULL;
    case CFG_INT:
        if (text == NULL || util_parse_long(text, k->min, k->max, &v) != 0) {
            return "expected an integer in range";
        }
        store_number(slot, k->size, v);
        return NULL;
    case CFG_BOOL:
        if (text != NULL && (strcasecmp(text, "true") == 0 || strcasecmp(text, "yes") == 0)) {
            store_number(slot, k->size, 1);
        } else if (text != NULL &&
                   (strcasecmp(text, "false") == 0 || strcasecmp(text, "no") == 0)) {
            store_number(slot, k->size, 0);
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

        return set_json(base, k, j);
    }
    case CFG_LIST:
    case CFG_TEXT_OR_LIST:
        break; /* records only */
    }
    return "unknown type";
}

/* Where in the value val of key a check's message points: "sources[1].priority: ..."
 * (the key's last part, then a path) names item 1's priority; other messages, val. */
static const yaml_node_t *
node_named_by(yaml_document_t *doc, const yaml_node_t *val, const char *key, const char *why)
{
    const char *leaf = strrchr(key, '.') != NULL ? strrchr(key, '.') + 1 : key;
    size_t len = strlen(leaf);

    if (strncmp(why, leaf, len) == 0 && (why[len] == '[' || why[len] == '.')) {
        return yj_locate(doc, val, why + len);
    }
    return why[0] == '[' ? yj_locate(doc, val, why) : val;
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
              const struct key_ref *ref,
              yaml_node_t *val,
              const char *name)
{
    const struct cfg_row *k = ref->row;
    void *base = base_of(ld->cfg, ref->sec);
    const char *text;
    const char *why;
    char range[96];

    if (ld->seen[ref->id]) {
        fail(ld, val, k->name, "given more than once");
        return;
    }
    ld->seen[ref->id] = true;
    ld->cfg->key_lines[ref->id] = val->start_mark.line + 1;
    ld->cfg->key_from[ref->id] = FROM_FILE;
    if (k->type == CFG_JSON) {
        json_t *j = yaml_to_json(ld, doc, val, name);

        if (j != NULL && json_is_null(j)) {
            json_decref(j);
            j = json_loads(k->def, 0, NULL);
        }
        if (j != NULL && (why = set_json(base, k, j)) != NULL) {
            fail(ld, node_named_by(doc, val, k->name, why), name, "%s", why);
        }
        json_decref(ld->cfg->key_paths[ref->id]);
        /* Only for a value that converted: yaml_to_json's node budget has then bounded it. */
        ld->cfg->key_paths[ref->id] = j != NULL ? yj_lines(doc, val, 16) : NULL;
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
        why = set_value(base, k, k->def);
    } else {
        why = set_value(base, k, text);
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

int
cfg_read_secret(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;

    *out = NULL;
    /* stat, not open: opening a FIFO for reading waits for a writer. */
    if (stat(path, &st) != 0) {
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return -1;
    }
    if (util_read_file(path, max, out, len) != 0) {
        return -1;
    }
    while (*len > 0 && ((*out)[*len - 1] == '\n' || (*out)[*len - 1] == '\r')) {
        (*out)[--*len] = '\0';
    }
    return 0;
}

const char *
cfg_secret_error(int err)
{
    return err == EINVAL ? "not a regular file" : strerror(err);
}

/* "<secret key>_file: PATH" reads the secret from a file (trailing line ends dropped). */
static void
set_from_file(struct load *ld, const struct key_ref *ref, const yaml_node_t *val, const char *name)
{
    const struct cfg_row *k = ref->row;
    char *data = NULL;
    size_t len = 0;
    const char *why;

    if (val->type != YAML_SCALAR_NODE || yj_scalar_is_null(val)) {
        fail(ld, val, name, "expected a file path");
        return;
    }
    if (ld->seen[ref->id]) {
        fail(ld, val, name, "%s is given more than once", k->name);
        return;
    }
    ld->seen[ref->id] = true;
    ld->cfg->key_lines[ref->id] = val->start_mark.line + 1;
    ld->cfg->key_from[ref->id] = FROM_FILE;
    if (cfg_read_secret((const char *)val->data.scalar.value, 65536, &data, &len) != 0) {
        fail(ld, val, name, "cannot read %s: %s", (const char *)val->data.scalar.value,
             cfg_secret_error(errno));
        return;
    }
    if (strlen(data) != len) {
        fail(ld, val, name, "file contains a NUL byte");
    } else if ((why = set_value(base_of(ld->cfg, ref->sec), k, data)) != NULL) {
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
        struct key_ref ref;
        char name[256];
        size_t len;

        /* A problem with one key is reported and the others are read on. */
        if (kn == NULL || vn == NULL || kn->type != YAML_SCALAR_NODE) {
            fail(ld, kn != NULL ? kn : map, prefix, "keys must be plain names");
            continue;
        }
        if ((size_t)snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                             (const char *)kn->data.scalar.value) >= sizeof(name)) {
            fail(ld, kn, NULL, "key name too long");
            continue;
        }
        len = strlen(name);
        if (find_key(ld, name, len, &ref)) {
            set_from_node(ld, doc, &ref, vn, name);
        } else if (len > 5 && strcmp(name + len - 5, "_file") == 0 &&
                   find_key(ld, name, len - 5, &ref) && (ref.row->flags & CFG_SECRET)) {
            set_from_file(ld, &ref, vn, name);
        } else if (is_section(name)) {
            if (vn->type == YAML_SCALAR_NODE && yj_scalar_is_null(vn)) {
                continue; /* "routing:" with every key commented out: all defaults */
            }
            if (vn->type != YAML_MAPPING_NODE) {
                fail(ld, vn, name, "expected a mapping of keys");
                continue;
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
        report(ld, "%.160s:%zu: invalid YAML: %.200s", ld->path, parser.problem_mark.line + 1,
               parser.problem ? parser.problem : "syntax error");
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

        if (ld->problems == 0 && yaml_parser_load(&parser, &extra)) {
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

/* A secret from the file ANNUAIRE_<KEY>_FILE names. */
static void
set_from_env_file(struct load *ld,
                  size_t sec,
                  const struct cfg_row *k,
                  const char *var,
                  const char *path)
{
    char *data = NULL;
    size_t len = 0;
    const char *why = NULL;

    if (cfg_read_secret(path, 65536, &data, &len) != 0) {
        report(ld, "environment %s (%s): cannot read %.200s: %s", var, k->name, path,
               cfg_secret_error(errno));
        return;
    }
    if (strlen(data) != len) {
        why = "file contains a NUL byte";
    } else {
        why = set_value(base_of(ld->cfg, sec), k, data);
    }
    if (why != NULL) {
        report(ld, "environment %s (%s): %s", var, k->name, why);
    }
    OPENSSL_cleanse(data, len);
    free(data);
}

/* ANNUAIRE_<KEY> (and ANNUAIRE_<KEY>_FILE for a secret) over the file's values. */
static void
apply_env(struct load *ld)
{
    for (size_t o = 0; o < n_reg; o++) {
        size_t s = order[o];

        for (size_t i = 0; i < reg[s]->n_rows; i++) {
            const struct cfg_row *k = &reg[s]->rows[i];
            size_t id = ld->first[s] + i;
            char var[128];
            char file_var[128];
            const char *val;
            const char *file = NULL;
            const char *why;

            env_name(k->name, NULL, var, sizeof(var));
            env_name(k->name, "_FILE", file_var, sizeof(file_var));
            val = getenv(var);
            if (k->flags & CFG_SECRET) {
                file = getenv(file_var);
            }
            if (val != NULL && file != NULL) {
                report(ld, "environment %s and %s (%s): give one of them", var, file_var, k->name);
            } else if (file != NULL) {
                ld->cfg->key_from[id] = FROM_ENV_FILE;
                set_from_env_file(ld, s, k, file_var, file);
            } else if (val != NULL) {
                ld->cfg->key_from[id] = FROM_ENV;
                if ((why = set_value(base_of(ld->cfg, s), k, val)) != NULL) {
                    report(ld, "environment %s (%s): %s", var, k->name, why);
                }
            }
        }
    }
}

/* Whether some key ending in _env names the variable (a source's ldap.bind_password_env):
 * that variable is the key's value, not configuration. */
static bool
json_names_env(const json_t *v, const char *var, size_t len)
{
    const char *key;
    json_t *item;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach (v, i, item) {
            if (json_names_env(item, var, len)) {
                return true;
            }
        }
    } else if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, key, item) {
            size_t klen = strlen(key);

            if (klen > 4 && strcmp(key + klen - 4, "_env") == 0 && json_is_string(item) &&
                json_string_length(item) == len &&
                strncmp(json_string_value(item), var, len) == 0) {
                return true;
            }
            if (json_names_env(item, var, len)) {
                return true;
            }
        }
    }
    return false;
}

static bool
named_by_a_key(const struct load *ld, const char *var, size_t len)
{
    for (size_t s = 0; s < n_reg; s++) {
        for (size_t i = 0; i < reg[s]->n_rows; i++) {
            const struct cfg_row *k = &reg[s]->rows[i];
            const void *slot = (const char *)base_of(ld->cfg, s) + k->offset;
            size_t nlen = strlen(k->name);

            if (k->type == CFG_JSON && json_names_env(*(json_t *const *)slot, var, len)) {
                return true;
            }
            if (k->type == CFG_STRING && nlen > 4 && strcmp(k->name + nlen - 4, "_env") == 0 &&
                *(char *const *)slot != NULL && strlen(*(char *const *)slot) == len &&
                strncmp(*(char *const *)slot, var, len) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Edits (insertions, deletions, substitutions) from a (alen bytes) to b. */
static size_t
edit_distance(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    size_t row[128];

    if (alen >= ANN_ARRAY_LEN(row) || blen >= ANN_ARRAY_LEN(row)) {
        return SIZE_MAX;
    }
    for (size_t j = 0; j <= blen; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= alen; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            diag = up;
            row[j] = best;
        }
    }
    return row[blen];
}

/* Every ANNUAIRE_ variable must be a key's (or a secret's _FILE), as every key of the
 * file must: a misspelt one would otherwise be ignored without a word. */
static void
check_unknown_env(struct load *ld)
{
    for (char **e = environ; *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq != NULL ? (size_t)(eq - *e) : strlen(*e);
        bool known = false;
        char best[128] = "";
        size_t best_d = 4; /* suggest only a name this close */

        if (strncmp(*e, "ANNUAIRE_", 9) != 0 || env_reserved(*e, len)) {
            continue;
        }
        for (size_t s = 0; s < n_reg && !known; s++) {
            for (size_t i = 0; i < reg[s]->n_rows && !known; i++) {
                const struct cfg_row *k = &reg[s]->rows[i];

                for (int f = 0; f < ((k->flags & CFG_SECRET) ? 2 : 1) && !known; f++) {
                    char var[128];
                    size_t d;

                    env_name(k->name, f ? "_FILE" : NULL, var, sizeof(var));
                    known = strlen(var) == len && strncmp(var, *e, len) == 0;
                    if (!known && (d = edit_distance(*e, len, var)) < best_d) {
                        best_d = d;
                        snprintf(best, sizeof(best), "%s", var);
                    }
                }
            }
        }
        if (known || named_by_a_key(ld, *e, len)) {
            continue;
        }
        report(ld, "environment %.*s: no such key%s%s%s", (int)(len < 128 ? len : 128), *e,
               best[0] ? " (did you mean " : "", best, best[0] ? "?)" : "");
    }
}

/* The id of key name among the first n_sec registered sections' rows, or SIZE_MAX. */
static size_t
key_id(const char *name, size_t n_sec)
{
    size_t id = 0;

    for (size_t s = 0; s < n_sec; s++) {
        for (size_t i = 0; i < reg[s]->n_rows; i++, id++) {
            if (strcmp(reg[s]->rows[i].name, name) == 0) {
                return id;
            }
        }
    }
    return SIZE_MAX;
}

void
cfg_where(const struct cfg *cfg, const char *key, char *out, size_t size)
{
    size_t id = key_id(key, cfg->n_blocks);
    char var[128];

    if (id == SIZE_MAX || cfg->key_from == NULL || cfg->key_from[id] == FROM_DEFAULT) {
        snprintf(out, size, "%.160s: %.64s", cfg->path, key);
    } else if (cfg->key_from[id] == FROM_FILE) {
        snprintf(out, size, "%.160s:%zu: %.64s", cfg->path, cfg->key_lines[id], key);
    } else {
        env_name(key, cfg->key_from[id] == FROM_ENV_FILE ? "_FILE" : NULL, var, sizeof(var));
        snprintf(out, size, "environment %s (%.64s)", var, key);
    }
}

void
cfg_where_in(const struct cfg *cfg, const char *key, const char *path, char *out, size_t size)
{
    size_t id = key_id(key, cfg->n_blocks);
    const char *leaf = strrchr(key, '.') != NULL ? strrchr(key, '.') + 1 : key;
    size_t leaf_len = strlen(leaf);
    const json_t *paths;
    char part[256];

    if (id == SIZE_MAX || cfg->key_paths == NULL || cfg->key_from[id] != FROM_FILE ||
        cfg->key_paths[id] == NULL) {
        cfg_where(cfg, key, out, size);
        return;
    }
    paths = cfg->key_paths[id];
    if (strncmp(path, leaf, leaf_len) == 0 && (path[leaf_len] == '[' || path[leaf_len] == '.')) {
        path += leaf_len;
    }
    snprintf(part, sizeof(part), "%s%s", path[0] == '[' || path[0] == '.' ? "" : ".", path);
    /* The longest prefix of the path the file has: "[1].ldif", else "[1]", else "". */
    for (;;) {
        const json_t *line = json_object_get(paths, part);
        char *cut;

        if (line != NULL) {
            snprintf(out, size, "%.160s:%lld: %.64s", cfg->path,
                     (long long)json_integer_value(line), key);
            return;
        }
        cut = NULL;
        for (char *c = part; *c != '\0'; c++) {
            cut = *c == '.' || *c == '[' ? c : cut;
        }
        if (cut == NULL) {
            break;
        }
        *cut = '\0';
    }
    cfg_where(cfg, key, out, size);
}

/* The sections' own checks of keys that must agree with each other. */
static void
check_sections(struct load *ld)
{
    for (size_t o = 0; o < n_reg; o++) {
        const struct cfg_section *s = reg[order[o]];
        const char *key = NULL;
        const char *why = s->check != NULL ? s->check(ld->cfg, &key) : NULL;
        char where[256];

        if (why == NULL) {
            continue;
        }
        if (key != NULL) {
            cfg_where(ld->cfg, key, where, sizeof(where));
            report(ld, "%s: %.256s", where, why);
        } else {
            report(ld, "%.160s: %.256s", ld->path, why);
        }
    }
}

bool
cfg_json_true(const json_t *v)
{
    return json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
}

const char *
cfg_check_string_map(const json_t *v)
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

const char *
cfg_check_bind_address(const json_t *v)
{
    const char *s = json_string_value(v);
    unsigned char buf[sizeof(struct in6_addr)];

    if (s != NULL && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)) {
        return NULL;
    }
    return "must be a numeric IPv4 or IPv6 address (127.0.0.1, ::1, 0.0.0.0, ::)";
}

/* The host of an http(s) URL, from host to end: a name, an IPv4 address or an
 * IPv6 one in brackets, then an optional port. */
static bool
url_authority_ok(const char *host, const char *end)
{
    const char *colon;
    unsigned char buf[sizeof(struct in6_addr)];
    char text[64];
    long port;

    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));

        if (close == NULL || close - host - 1 >= (ptrdiff_t)sizeof(text)) {
            return false;
        }
        snprintf(text, sizeof(text), "%.*s", (int)(close - host - 1), host + 1);
        if (inet_pton(AF_INET6, text, buf) != 1) {
            return false;
        }
        colon = close + 1 < end ? close + 1 : NULL;
        if (colon != NULL && *colon != ':') {
            return false;
        }
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
        if ((colon != NULL ? colon : end) == host) {
            return false;
        }
        for (const char *c = host; c < (colon != NULL ? colon : end); c++) {
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_') {
                return false;
            }
        }
    }
    if (colon == NULL) {
        return true;
    }
    if (end - colon - 1 < 1 || end - colon - 1 > 5) {
        return false;
    }
    snprintf(text, sizeof(text), "%.*s", (int)(end - colon - 1), colon + 1);
    return strspn(text, "0123456789") == strlen(text) &&
           util_parse_long(text, 0, 65535, &port) == 0;
}

/* server.public_base_url: links are <url>/_matrix/...: http(s), a host, no trailing slash. */
static const char *
check_base_url(const json_t *v)
{
    const char *s = json_string_value(v);
    const char *host;
    const char *end;

    if (s != NULL && strncmp(s, "https://", 8) == 0) {
        host = s + 8;
    } else if (s != NULL && strncmp(s, "http://", 7) == 0) {
        host = s + 7;
    } else {
        return "must be an http:// or https:// URL";
    }
    if (util_has_control(s) || strpbrk(s, " ?#@\\") != NULL) {
        return "must be a URL without blanks, control characters, user, query or fragment";
    }
    end = host + strcspn(host, "/");
    if (!url_authority_ok(host, end)) {
        return "must name a host (a name, an IPv4 address or [an IPv6 one]), then an optional "
               ":port";
    }
    if (s[strlen(s) - 1] == '/') {
        return "must not end with a slash: links are built as <url>/_matrix/...";
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

const char *
cfg_check_string_list(const json_t *v)
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

/* --- records: the items of a CFG_JSON list (sync sources), by the same rows --- */

static bool
text_ok(const json_t *v, const struct cfg_row *f)
{
    return json_is_string(v) && json_string_length(v) >= (size_t)f->min &&
           json_string_length(v) <= (size_t)f->max && (f->check == NULL || f->check(v) == NULL);
}

static bool
list_ok(const json_t *v, const struct cfg_row *f)
{
    size_t i;
    json_t *item;
    bool ok = json_is_array(v) && json_array_size(v) > 0;

    json_array_foreach (v, i, item) {
        ok = ok && text_ok(item, f);
    }
    return ok;
}

static bool
record_value_ok(const json_t *v, const struct cfg_row *f)
{
    long num;

    switch (f->type) {
    case CFG_STRING:
        return text_ok(v, f);
    case CFG_BOOL: /* YAML gives text; JSON from the environment may give true/false */
        return json_is_boolean(v) ||
               (json_is_string(v) && (strcmp(json_string_value(v), "true") == 0 ||
                                      strcmp(json_string_value(v), "false") == 0));
    case CFG_INT:
        return (json_is_integer(v) && json_integer_value(v) >= f->min &&
                json_integer_value(v) <= f->max) ||
               (json_is_string(v) &&
                util_parse_long(json_string_value(v), f->min, f->max, &num) == 0);
    case CFG_TEXT_OR_LIST:
        return text_ok(v, f) || list_ok(v, f);
    case CFG_LIST:
        return list_ok(v, f);
    case CFG_LEVEL:
    case CFG_JSON:
        break;
    }
    return false;
}

/* Whether some row lies under name + "." (name: len bytes). */
static bool
record_has_sub(const struct cfg_row *rows, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strncmp(rows[i].name, name, len) == 0 && rows[i].name[len] == '.') {
            return true;
        }
    }
    return false;
}

const char *
cfg_record_check(const struct cfg_row *rows,
                 size_t n_rows,
                 const json_t *obj,
                 const char *prefix,
                 const char *path,
                 char *err,
                 size_t err_size)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj)) {
        snprintf(err, err_size, "%s: expected a mapping", path);
        return err;
    }
    json_object_foreach ((json_t *)obj, key, v) {
        const struct cfg_row *f = NULL;
        char full[128];
        size_t len;
        bool ok;

        len = (size_t)snprintf(full, sizeof(full), "%s%s", prefix, key);
        if (strchr(key, '.') != NULL) {
            len = sizeof(full); /* a dotted key names no row */
        }
        for (size_t i = 0; i < n_rows && f == NULL && len < sizeof(full); i++) {
            f = strcmp(rows[i].name, full) == 0 ? &rows[i] : NULL;
        }
        if (f != NULL) {
            ok = record_value_ok(v, f);
        } else if (len < sizeof(full) && record_has_sub(rows, n_rows, full, len)) {
            ok = json_is_object(v);
        } else {
            snprintf(err, err_size, "%s.%.64s: unknown key", path, key);
            return err;
        }
        if (!ok) {
            snprintf(err, err_size, "%s.%.64s: not a valid value", path, key);
            return err;
        }
    }
    return NULL;
}

/* The value at a row's dotted path in obj, or NULL; *parent_absent when a mapping on
 * the way is not there. */
static const json_t *
record_value(const json_t *obj, const char *name, bool *parent_absent)
{
    const char *dot;

    *parent_absent = false;
    while ((dot = strchr(name, '.')) != NULL) {
        char part[64];

        snprintf(part, sizeof(part), "%.*s", (int)(dot - name), name);
        obj = json_object_get(obj, part);
        if (obj == NULL) {
            *parent_absent = true;
            return NULL;
        }
        name = dot + 1;
    }
    return json_object_get(obj, name);
}

/* One text or a list of texts into a fixed array (items past its capacity left out). */
static void
fill_names(const json_t *v, const struct cfg_row *f, void *out)
{
    const char **arr = (const char **)((char *)out + f->offset);
    size_t *n = (size_t *)((char *)out + f->offset + f->size); /* the count follows */
    size_t capacity = f->size / sizeof(*arr);
    size_t i;
    json_t *item;

    if (json_is_string(v)) {
        arr[0] = json_string_value(v);
        *n = 1;
        return;
    }
    *n = 0;
    json_array_foreach (v, i, item) {
        if (*n < capacity) {
            arr[(*n)++] = json_string_value(item);
        }
    }
}

void
cfg_record_fill(const struct cfg_row *rows, size_t n_rows, const json_t *obj, void *out)
{
    for (size_t i = 0; i < n_rows; i++) {
        const struct cfg_row *f = &rows[i];
        void *slot = (char *)out + f->offset;
        bool parent_absent;
        const json_t *v = record_value(obj, f->name, &parent_absent);
        long num = 0;

        if (parent_absent || (v == NULL && f->def == NULL)) {
            continue;
        }
        switch (f->type) {
        case CFG_STRING:
            *(const char **)slot = v != NULL ? json_string_value(v) : f->def;
            break;
        case CFG_INT: /* checked at load: only defaults and checked values come here */
            if (json_is_integer(v)) {
                num = (long)json_integer_value(v);
            } else if (util_parse_long(v != NULL ? json_string_value(v) : f->def, LONG_MIN,
                                       LONG_MAX, &num) != 0) {
                num = 0;
            }
            store_number(slot, f->size, num);
            break;
        case CFG_BOOL:
            store_number(slot, f->size, v != NULL ? cfg_json_true(v) : strcmp(f->def, "true") == 0);
            break;
        case CFG_LIST:
        case CFG_TEXT_OR_LIST:
            if (v != NULL) {
                fill_names(v, f, out);
            }
            break;
        case CFG_LEVEL:
        case CFG_JSON:
            break;
        }
    }
}

static size_t
count_rows(void)
{
    size_t n = 0;

    for (size_t s = 0; s < n_reg; s++) {
        n += reg[s]->n_rows;
    }
    return n;
}

int
cfg_load_each(const char *path, struct cfg **out, cfg_report_fn report_fn, void *arg)
{
    struct load ld = {
        .path = path, .cfg = xcalloc(1, sizeof(struct cfg)), .report = report_fn, .report_arg = arg
    };
    size_t id = 0;

    pthread_once(&core_once, register_core);
    *out = NULL;
    ld.cfg->path = xstrdup(path);
    ld.cfg->n_blocks = n_reg;
    ld.cfg->key_lines = xcalloc(count_rows() + 1, sizeof(*ld.cfg->key_lines));
    ld.cfg->key_from = xcalloc(count_rows() + 1, sizeof(*ld.cfg->key_from));
    ld.cfg->key_paths = xcalloc(count_rows() + 1, sizeof(*ld.cfg->key_paths));
    ld.seen = xcalloc(count_rows() + 1, sizeof(*ld.seen));
    for (size_t s = 0; s < n_reg; s++) {
        ld.first[s] = id;
        id += reg[s]->n_rows;
        ld.cfg->blocks[s] = reg[s]->size > 0 ? xcalloc(1, reg[s]->size) : NULL;
    }
    for (size_t o = 0; o < n_reg; o++) {
        size_t s = order[o];

        for (size_t i = 0; i < reg[s]->n_rows; i++) {
            const struct cfg_row *k = &reg[s]->rows[i];

            if (k->def != NULL && set_value(base_of(ld.cfg, s), k, k->def) != NULL) {
                log_err("BUG: bad default of configuration key %s", k->name);
                abort();
            }
        }
    }
    parse_file(&ld);
    apply_env(&ld);
    check_unknown_env(&ld);
    if (ld.problems == 0) {
        check_sections(&ld); /* on values that are each fine */
    }
    if (ld.problems > MAX_REPORTED) {
        report_fn(arg, "(more problems not shown)");
    }
    free(ld.seen);
    if (ld.problems > 0) {
        cfg_free(ld.cfg);
        return (int)(ld.problems < INT_MAX ? ld.problems : INT_MAX);
    }
    *out = ld.cfg;
    return 0;
}

/* cfg_load's report: the first problem only. */
static void
keep_first(void *arg, const char *problem)
{
    char *err = arg;

    if (err[0] == '\0') {
        snprintf(err, CFG_ERR_SIZE, "%s", problem);
    }
}

int
cfg_load(const char *path, struct cfg **out, char err[CFG_ERR_SIZE])
{
    err[0] = '\0';
    return cfg_load_each(path, out, keep_first, err) == 0 ? 0 : -1;
}

void
cfg_free(struct cfg *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t s = 0; s < cfg->n_blocks; s++) {
        if (reg[s]->size > 0 && cfg->blocks[s] == NULL) {
            continue;
        }
        for (size_t i = 0; i < reg[s]->n_rows; i++) {
            free_value(base_of(cfg, s), &reg[s]->rows[i]);
        }
        free(cfg->blocks[s]);
    }
    for (size_t s = 0, id = 0; cfg->key_paths != NULL && s < cfg->n_blocks; s++) {
        for (size_t i = 0; i < reg[s]->n_rows; i++, id++) {
            json_decref(cfg->key_paths[id]);
        }
    }
    free(cfg->key_paths);
    free(cfg->key_lines);
    free(cfg->key_from);
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

static void
dump_row(const struct cfg_row *k, const void *base, FILE *out)
{
    static const char *const levels[] = { "error", "warn", "info", "debug" };
    const void *slot = (const char *)base + k->offset;
    const char *s;

    switch (k->type) {
    case CFG_STRING:
        s = *(char *const *)slot;
        if (k->flags & CFG_SECRET) {
            fprintf(out, "%s: %s\n", k->name, s ? "(set)" : "(unset)");
        } else {
            fprintf(out, "%s: %s\n", k->name, s ? s : "(unset)");
        }
        break;
    case CFG_INT:
        fprintf(out, "%s: %ld\n", k->name, load_number(slot, k->size));
        break;
    case CFG_BOOL:
        fprintf(out, "%s: %s\n", k->name, load_number(slot, k->size) ? "true" : "false");
        break;
    case CFG_LEVEL:
        fprintf(out, "%s: %s\n", k->name, levels[*(const long *)slot]);
        break;
    case CFG_JSON: {
        char *text = json_dumps(*(json_t *const *)slot, JSON_COMPACT | JSON_SORT_KEYS);

        fprintf(out, "%s: %s\n", k->name, text ? text : "?");
        free(text);
        break;
    }
    case CFG_LIST:
    case CFG_TEXT_OR_LIST:
        break; /* records only */
    }
}

void
cfg_dump(const struct cfg *cfg, FILE *out)
{
    for (size_t o = 0; o < n_reg; o++) {
        size_t s = order[o];

        if (s >= cfg->n_blocks) {
            continue;
        }
        for (size_t i = 0; i < reg[s]->n_rows; i++) {
            dump_row(&reg[s]->rows[i], base_of((struct cfg *)cfg, s), out);
        }
    }
}

size_t
cfg_key_count(void)
{
    pthread_once(&core_once, register_core);
    return count_rows();
}

const char *
cfg_key_name(size_t i)
{
    pthread_once(&core_once, register_core);
    for (size_t o = 0; o < n_reg; o++) {
        const struct cfg_section *s = reg[order[o]];

        if (i < s->n_rows) {
            return s->rows[i].name;
        }
        i -= s->n_rows;
    }
    return NULL;
}
