/*
 * The routing loader: a mapping file in the format of Tchap's info.yaml,
 *
 *   medium:
 *     email:
 *       entries:                          # exact addresses first
 *         someone@example.gouv.fr: {hs: a.example, requires_invite: false}
 *       patterns:                         # then these, in order, on the whole address
 *         - '.*@(.*\.|)interieur\.gouv\.fr': {hs: agent.interieur.example, shadow_hs: ...}
 *         - '.*': {hs: externes.example, requires_invite: true}
 *
 * (a top-level `platforms` list conventionally holds YAML anchors the entries refer
 * to; other keys of an entry are echoed to clients, its plain scalars typed as
 * PyYAML's safe_load types them). Unlike the reference, addresses are in their
 * canonical form before matching (core/address.h: lower case, A-label domain) and
 * patterns match without regard to case. A loaded mapping is immutable and
 * reference-counted.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "core/cfg.h"
#include "core/util.h"
#include "core/yamljson.h"
#include "routing/internal.h"

#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define MAX_DEPTH      32

struct loader {
    const char *path;
    yaml_document_t *doc;
    size_t values; /* converted so far, against the file's budget */
    char *err;
    size_t err_size;
};

static int load_fail(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
load_fail(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n != NULL) {
        snprintf(ld->err, ld->err_size, "%s:%zu: %s", ld->path, n->start_mark.line + 1, msg);
    } else {
        snprintf(ld->err, ld->err_size, "%s: %s", ld->path, msg);
    }
    return -1;
}

/* Plain YAML scalars typed as PyYAML's safe_load types them (YAML 1.1), so that the
 * values echoed to clients are what the reference would echo. */
static json_t *
scalar_json(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    static const char *const yes[] = {
        "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"
    };
    static const char *const no[] = { "false", "False", "FALSE", "no", "No",
                                      "NO",    "off",   "Off",   "OFF" };

    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return json_stringn(s, len);
    }
    if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0) {
        return json_null();
    }
    for (size_t i = 0; i < ANN_ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            return json_true();
        }
        if (strcmp(s, no[i]) == 0) {
            return json_false();
        }
    }
    const char *d = s + (*s == '-' || *s == '+');
    size_t digits = strspn(d, "0123456789");

    if (digits > 0 && d[digits] == '\0' && digits < 18) {
        return json_integer(strtoll(s, NULL, 10));
    }
    if (digits > 0 && d[digits] == '.' && strspn(d + digits + 1, "0123456789") > 0) {
        char *end;
        double v = strtod(s, &end);

        if (*end == '\0') {
            return json_real(v);
        }
    }
    return json_stringn(s, len);
}

static json_t *
node_json(struct loader *ld, const yaml_node_t *n)
{
    /* One budget for the whole file: an anchor used by every entry counts each time. */
    const struct yj_limits limits = { MAX_DEPTH, 1000000, &ld->values };
    const yaml_node_t *bad;
    char why[160];
    json_t *out = yj_convert(ld->doc, n, scalar_json, &limits, &bad, why, sizeof(why));

    if (out == NULL) {
        load_fail(ld, bad ? bad : n, "%s", why);
    }
    return out;
}

static const yaml_node_t *
map_get(struct loader *ld, const yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);

        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp((char *)k->data.scalar.value, key) == 0) {
            return yaml_document_get_node(ld->doc, p->value);
        }
    }
    return NULL;
}

static bool
in_list(const json_t *list, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach (list, i, v) {
        if (json_is_string(v) && strcasecmp(json_string_value(v), s) == 0) {
            return true;
        }
    }
    return false;
}

/* One entry: {hs, shadow_hs?, requires_invite?, other keys echoed}. */
static int
load_entry(struct loader *ld,
           const struct cfg_routing *conf,
           const yaml_node_t *n,
           json_t *entries,
           struct routing_result *out)
{
    const json_t *external = conf ? conf->external_servers : NULL;
    const json_t *annuaire = conf ? conf->annuaire_servers : NULL;
    json_t *e, *hs, *shadow, *invite;

    if (n == NULL || n->type != YAML_MAPPING_NODE) {
        return load_fail(ld, n, "an entry must be a mapping with at least 'hs'");
    }
    e = node_json(ld, n);
    if (e == NULL) {
        return -1;
    }
    json_array_append_new(entries, e); /* owned there; borrowed below */
    hs = json_object_get(e, "hs");
    shadow = json_object_get(e, "shadow_hs");
    invite = json_object_get(e, "requires_invite");
    if (!json_is_string(hs) || json_string_length(hs) == 0 || json_string_length(hs) > 255) {
        return load_fail(ld, n, "'hs' must be a server name");
    }
    if (shadow != NULL && !json_is_null(shadow) &&
        (!json_is_string(shadow) || json_string_length(shadow) == 0 ||
         json_string_length(shadow) > 255)) {
        return load_fail(ld, n, "'shadow_hs' must be a server name");
    }
    if (invite != NULL && !json_is_boolean(invite) && !json_is_null(invite)) {
        return load_fail(ld, n, "'requires_invite' must be true or false");
    }
    memset(out, 0, sizeof(*out));
    out->entry = e;
    out->hs = json_string_value(hs);
    out->shadow_hs = json_is_string(shadow) ? json_string_value(shadow) : NULL;
    out->requires_invite = json_is_true(invite);
    out->external =
        in_list(external, out->hs) || (json_array_size(external) == 0 && out->requires_invite);
    out->annuaire_required =
        in_list(annuaire, out->hs) || (out->shadow_hs && in_list(annuaire, out->shadow_hs));
    out->line = (long)n->start_mark.line + 1;
    return 0;
}

static void
map_free(struct routing_map *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n_rules; i++) {
        pcre2_code_free(r->rules[i].re);
        free(r->rules[i].text);
        free(r->rules[i].tail);
    }
    free(r->rules);
    json_decref(r->exact);
    json_decref(r->entries);
    json_decref(r->servers);
    json_decref(r->external);
    json_decref(r->tails);
    pcre2_match_context_free(r->limits);
    free(r->tail_lens);
    free(r->untailed);
    free(r->path);
    free(r);
}

/* Records a server name in set, lower-cased (names are at most 255 bytes). */
static void
add_server(json_t *set, const char *name)
{
    char lower[256];
    size_t i;

    for (i = 0; name[i] != '\0' && i < sizeof(lower) - 1; i++) {
        lower[i] = (char)tolower((unsigned char)name[i]);
    }
    lower[i] = '\0';
    json_object_set_new(set, lower, json_true());
}

static void
add_rule(struct routing_map *r, size_t *cap, struct routing_rule rule)
{
    add_server(r->servers, rule.route.hs);
    if (rule.route.shadow_hs != NULL) {
        add_server(r->servers, rule.route.shadow_hs);
    }
    if (!r->external_listed && rule.route.requires_invite) {
        add_server(r->external, rule.route.hs);
        if (rule.route.shadow_hs != NULL) {
            add_server(r->external, rule.route.shadow_hs);
        }
    }
    if (r->n_rules == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        r->rules = xrealloc(r->rules, *cap * sizeof(*r->rules));
    }
    r->rules[r->n_rules++] = rule;
}

static int
load_document(struct loader *ld, const struct cfg_routing *conf, struct routing_map *r)
{
    const yaml_node_t *root = yaml_document_get_root_node(ld->doc);
    const yaml_node_t *email, *entries, *patterns;
    size_t cap = 0;

    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        return load_fail(ld, root, "expected a mapping with 'medium: {email: ...}'");
    }
    email = map_get(ld, map_get(ld, root, "medium"), "email");
    if (email == NULL || email->type != YAML_MAPPING_NODE) {
        return load_fail(ld, root, "no 'medium: {email: {entries, patterns}}' mapping");
    }
    entries = map_get(ld, email, "entries");
    patterns = map_get(ld, email, "patterns");
    /* Exact entries: a mapping (an empty list is accepted too, as the reference does). */
    if (entries != NULL && entries->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = entries->data.mapping.pairs.start;
             p < entries->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
            struct routing_rule rule = { 0 };
            char *norm;

            if (k == NULL || k->type != YAML_SCALAR_NODE ||
                memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL) {
                return load_fail(ld, k, "an entry's key must be an address");
            }
            if (routing_normalise((const char *)k->data.scalar.value, &norm) != 0) {
                return load_fail(ld, k, "'%.200s' is not an e-mail address",
                                 (const char *)k->data.scalar.value);
            }
            if (json_object_get(r->exact, norm) != NULL) {
                load_fail(ld, k, "'%.200s' is listed twice", norm);
                free(norm);
                return -1;
            }
            if (load_entry(ld, conf, yaml_document_get_node(ld->doc, p->value), r->entries,
                           &rule.route) != 0) {
                free(norm);
                return -1;
            }
            rule.text = norm;
            rule.route.line = (long)k->start_mark.line + 1;
            json_object_set_new(r->exact, norm, json_integer((json_int_t)r->n_rules));
            add_rule(r, &cap, rule);
        }
    } else if (entries != NULL &&
               !(entries->type == YAML_SEQUENCE_NODE &&
                 entries->data.sequence.items.top == entries->data.sequence.items.start) &&
               !(entries->type == YAML_SCALAR_NODE && entries->data.scalar.length == 0)) {
        return load_fail(ld, entries, "'entries' must map addresses to entries");
    }
    r->n_exact = r->n_rules;
    if (patterns == NULL ||
        (patterns->type == YAML_SCALAR_NODE && patterns->data.scalar.length == 0)) {
        return 0;
    }
    if (patterns->type != YAML_SEQUENCE_NODE) {
        return load_fail(ld, patterns, "'patterns' must be a list of {pattern: entry}");
    }
    for (yaml_node_item_t *i = patterns->data.sequence.items.start;
         i < patterns->data.sequence.items.top; i++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, *i);
        const yaml_node_t *k;
        struct routing_rule rule = { 0 };
        int code;
        PCRE2_SIZE offset;

        if (item == NULL || item->type != YAML_MAPPING_NODE ||
            item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
            return load_fail(ld, item, "a pattern must be a one-key mapping {pattern: entry}");
        }
        k = yaml_document_get_node(ld->doc, item->data.mapping.pairs.start->key);
        if (k == NULL || k->type != YAML_SCALAR_NODE || k->data.scalar.length == 0 ||
            k->data.scalar.length > ROUTING_MAX_PATTERN_LEN ||
            memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL) {
            return load_fail(ld, k,
                             "a pattern must be a non-empty text of at most %d bytes, "
                             "without NUL characters",
                             ROUTING_MAX_PATTERN_LEN);
        }
        /* Whole-address match, as the reference's '^' + pattern + '$'. */
        rule.re = pcre2_compile(k->data.scalar.value, k->data.scalar.length,
                                PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_CASELESS | PCRE2_UTF,
                                &code, &offset, NULL);
        if (rule.re == NULL) {
            PCRE2_UCHAR msg[200];

            pcre2_get_error_message(code, msg, sizeof(msg));
            return load_fail(ld, k, "pattern '%.200s': %s (at offset %zu)",
                             (const char *)k->data.scalar.value, (const char *)msg, (size_t)offset);
        }
        /* Interpreted if JIT is unavailable. */
        rule.jit = pcre2_jit_compile(rule.re, PCRE2_JIT_COMPLETE) == 0;
        rule.text = xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
        rule.tail = routing_tail_of(rule.text, k->data.scalar.length);
        rule.tail_len = rule.tail ? strlen(rule.tail) : 0;
        if (load_entry(ld, conf,
                       yaml_document_get_node(ld->doc, item->data.mapping.pairs.start->value),
                       r->entries, &rule.route) != 0) {
            pcre2_code_free(rule.re);
            free(rule.text);
            free(rule.tail);
            return -1;
        }
        rule.route.line = (long)k->start_mark.line + 1;
        add_rule(r, &cap, rule);
    }
    routing_tail_index(r);
    return 0;
}

struct routing_map *
routing_load(const char *path, const struct cfg_routing *conf, char *err, size_t err_size)
{
    struct routing_map *r = xcalloc(1, sizeof(*r));
    struct loader ld = { .path = path, .err = err, .err_size = err_size };
    yaml_parser_t parser;
    yaml_document_t doc;
    char *text = NULL;
    size_t len = 0;
    int ret = -1;

    atomic_init(&r->refs, 1);
    r->exact = json_object();
    r->entries = json_array();
    r->servers = json_object();
    r->external = json_object();
    r->tails = json_object();
    if (conf != NULL && json_array_size(conf->external_servers) > 0) {
        size_t i;
        json_t *v;

        r->external_listed = true;
        json_array_foreach (conf->external_servers, i, v) {
            if (json_is_string(v) && json_string_length(v) < 256) {
                add_server(r->external, json_string_value(v));
            }
        }
    }
    /* A pattern that backtracks without end fails (and is logged) instead of holding a
     * worker: a few thousand steps are what a domain pattern takes. */
    r->limits = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(r->limits, 100000);
    pcre2_set_depth_limit(r->limits, 10000);
    r->path = xstrdup(path);
    if (util_read_file(path, MAX_FILE_BYTES, &text, &len) != 0) {
        snprintf(err, err_size, "%s: cannot read (%s), or larger than %d bytes", path,
                 strerror(errno), MAX_FILE_BYTES);
        map_free(r);
        return NULL;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, err_size, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "malformed YAML");
    } else {
        ld.doc = &doc;
        ret = load_document(&ld, conf, r);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    free(text);
    if (ret != 0) {
        map_free(r);
        return NULL;
    }
    return r;
}

void
routing_release(struct routing_map *r)
{
    if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
        map_free(r);
    }
}

size_t
routing_size(const struct routing_map *r, size_t *n_exact)
{
    *n_exact = r->n_exact;
    return r->n_rules - r->n_exact;
}
