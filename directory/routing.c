/*
 * Homeserver routing: which server owns an address, read from a mapping file in
 * the format of Tchap's info.yaml:
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
 * to; other keys of an entry are echoed to clients). Unlike the reference, addresses
 * are in their canonical form before matching (core/address.h: lower case, A-label
 * domain) and patterns match without regard to case.
 *
 * The mapping in force is an immutable, reference-counted snapshot: a reload builds a
 * new one beside it and swaps a pointer, so requests in flight finish on the old one
 * and a broken new file leaves the old one in force.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <yaml.h>

#include "core/address.h"
#include "core/cfg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "core/yamljson.h"
#include "directory/directory.h"

#define MAX_FILE_BYTES  (16 * 1024 * 1024)
#define MAX_PATTERN_LEN 4096
#define MAX_DEPTH       32
#define MAX_ADDRESS_LEN 254

struct rule {
    struct dir_route route; /* strings borrowed from route.entry */
    pcre2_code *re;         /* NULL for an exact entry */
    bool jit;               /* re was JIT-compiled */
    atomic_bool warned;     /* a match error was logged */
    char *text;             /* the pattern, or the exact address */
    char *tail;             /* ASCII text every matching address ends with (lower case), or NULL */
    size_t tail_len;
};

struct dir_routing {
    atomic_int refs;
    struct rule *rules; /* exact entries first, then patterns in file order */
    size_t n_rules, n_exact;
    json_t *exact;   /* normalised address -> index in rules */
    json_t *entries; /* owns every route.entry */
    json_t *servers; /* every hs and shadow_hs, lower case -> true */
    char *path;
    /* Patterns by the text they end with: an address is tried only against the
     * patterns whose ending it has, and those without one (see literal_tail). */
    json_t *tails;               /* tail -> [rule index, ...] ascending */
    pcre2_match_context *limits; /* bounds the work of one match */
    size_t *tail_lens;           /* the distinct tail lengths, ascending */
    size_t n_tail_lens;
    size_t *untailed; /* rules without a tail, ascending */
    size_t n_untailed;
};

/* --- loading --------------------------------------------------------------- */

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
           struct dir_route *out)
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
routing_free(struct dir_routing *r)
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
    json_decref(r->tails);
    pcre2_match_context_free(r->limits);
    free(r->tail_lens);
    free(r->untailed);
    free(r->path);
    free(r);
}

/* Records a server name of the mapping, lower-cased (names are at most 255 bytes). */
static void
add_server(struct dir_routing *r, const char *name)
{
    char lower[256];
    size_t i;

    for (i = 0; name[i] != '\0' && i < sizeof(lower) - 1; i++) {
        lower[i] = (char)tolower((unsigned char)name[i]);
    }
    lower[i] = '\0';
    json_object_set_new(r->servers, lower, json_true());
}

static void
add_rule(struct dir_routing *r, size_t *cap, struct rule rule)
{
    add_server(r, rule.route.hs);
    if (rule.route.shadow_hs != NULL) {
        add_server(r, rule.route.shadow_hs);
    }
    if (r->n_rules == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        r->rules = xrealloc(r->rules, *cap * sizeof(*r->rules));
    }
    r->rules[r->n_rules++] = rule;
}

/*
 * The literal text a pattern ends with, when every address it matches must end with
 * it: "ministere.gouv.fr" for '.*@(.*\.|)ministere\.gouv\.fr'. Matching tries a
 * pattern only on addresses with that ending, so that a file of hundreds of domain
 * patterns costs a hash lookup for most of them. Conservative: none (NULL) as soon as
 * the pattern holds anything whose reach is not plain, a top-level alternative,
 * inline options or verbs ("(?", "(*"), \Q quoting, an escape with an argument or
 * that is not one of the plain classes and assertions (\x41, \101, \pL, \g1, \cJ...),
 * a bracket class with a nested "[" or a leading "]". Only the ASCII part after the last
 * non-ASCII byte is kept; addresses with non-ASCII characters are not filtered at all
 * (see dir_route), since caseless matching lets some of them match ASCII letters.
 */
static char *
literal_tail(const char *p, size_t len)
{
    char lit[MAX_PATTERN_LEN + 1];
    size_t n = 0; /* literal characters at the end so far */
    int depth = 0;
    bool in_class = false;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];

        if (in_class) {
            if (c == '[' || (c == '\\' && i + 1 < len && (unsigned char)p[i + 1] >= 0x80)) {
                return NULL; /* [:alpha:] and other nested forms */
            }
            if (c == '\\' && i + 1 < len) {
                if (strchr("dDwWsShHvV\\]-^.", p[i + 1]) == NULL &&
                    !((unsigned char)p[i + 1] < 0x80 && !isalnum((unsigned char)p[i + 1]))) {
                    return NULL;
                }
                i++;
            } else if (c == ']') {
                in_class = false;
            }
            n = 0;
            continue;
        }
        if (c == '\\') {
            unsigned char e = i + 1 < len ? (unsigned char)p[i + 1] : 0;

            i++;
            if (e == 0 || e >= 0x80) {
                return NULL;
            }
            if (isalnum(e)) {
                /* Plain classes and assertions only; anything with an argument or a
                 * meaning of its own (\x, \o, \p, \g, \k, \c, \Q, \E, digits) stops. */
                if (strchr("dDwWsShHvVRXNbBAzZ", (int)e) == NULL) {
                    return NULL;
                }
                n = 0;
            } else {
                lit[n++] = (char)e; /* an escaped punctuation character is itself */
            }
            continue;
        }
        switch (c) {
        case '(':
            if (i + 1 < len &&
                (p[i + 1] == '*' || (p[i + 1] == '?' && !(i + 2 < len && p[i + 2] == ':')))) {
                return NULL; /* (?i), (?x), lookarounds, (*ACCEPT)... */
            }
            depth++;
            n = 0;
            break;
        case ')':
            depth--;
            n = 0;
            break;
        case '[':
            /* "[]a]" and "[^]a]": a leading "]" is a member, not the end. */
            if ((i + 1 < len && p[i + 1] == ']') ||
                (i + 2 < len && p[i + 1] == '^' && p[i + 2] == ']')) {
                return NULL;
            }
            in_class = true;
            n = 0;
            break;
        case '|':
            if (depth == 0) {
                return NULL;
            }
            n = 0;
            break;
        case '*':
        case '+':
        case '?':
        case '{':
            n = 0; /* what precedes a quantifier is not fixed */
            break;
        case '.':
        case '^':
        case '$':
        case '}':
            n = 0;
            break;
        default:
            lit[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
    }
    if (depth != 0 || in_class) {
        return NULL;
    }
    /* ASCII only: the last non-ASCII byte and what precedes it are left out. */
    size_t start = n;

    while (start > 0 && (unsigned char)lit[start - 1] < 0x80) {
        start--;
    }
    return n > start ? xstrndup(lit + start, n - start) : NULL;
}

static void
index_tails(struct dir_routing *r)
{
    r->untailed = xcalloc(r->n_rules + 1, sizeof(*r->untailed));
    r->tail_lens = xcalloc(r->n_rules + 1, sizeof(*r->tail_lens));
    for (size_t i = r->n_exact; i < r->n_rules; i++) {
        const struct rule *rule = &r->rules[i];
        json_t *list;
        size_t j;

        if (rule->tail == NULL) {
            r->untailed[r->n_untailed++] = i;
            continue;
        }
        list = json_object_get(r->tails, rule->tail);
        if (list == NULL) {
            list = json_array();
            json_object_set_new(r->tails, rule->tail, list);
            for (j = 0; j < r->n_tail_lens && r->tail_lens[j] != rule->tail_len; j++) {
            }
            if (j == r->n_tail_lens) { /* a new length, kept in ascending order */
                for (j = r->n_tail_lens++; j > 0 && r->tail_lens[j - 1] > rule->tail_len; j--) {
                    r->tail_lens[j] = r->tail_lens[j - 1];
                }
                r->tail_lens[j] = rule->tail_len;
            }
        }
        json_array_append_new(list, json_integer((json_int_t)i));
    }
}

static int
load_document(struct loader *ld, const struct cfg_routing *conf, struct dir_routing *r)
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
            struct rule rule = { 0 };
            char *norm;

            if (k == NULL || k->type != YAML_SCALAR_NODE ||
                memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL) {
                return load_fail(ld, k, "an entry's key must be an address");
            }
            if (dir_routing_normalise((const char *)k->data.scalar.value, &norm) != 0) {
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
        struct rule rule = { 0 };
        int code;
        PCRE2_SIZE offset;

        if (item == NULL || item->type != YAML_MAPPING_NODE ||
            item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
            return load_fail(ld, item, "a pattern must be a one-key mapping {pattern: entry}");
        }
        k = yaml_document_get_node(ld->doc, item->data.mapping.pairs.start->key);
        if (k == NULL || k->type != YAML_SCALAR_NODE || k->data.scalar.length == 0 ||
            k->data.scalar.length > MAX_PATTERN_LEN ||
            memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL) {
            return load_fail(ld, k,
                             "a pattern must be a non-empty text of at most %d bytes, "
                             "without NUL characters",
                             MAX_PATTERN_LEN);
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
        rule.tail = literal_tail(rule.text, k->data.scalar.length);
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
    index_tails(r);
    return 0;
}

struct dir_routing *
dir_routing_load(const char *path, const struct cfg_routing *conf, char *err, size_t err_size)
{
    struct dir_routing *r = xcalloc(1, sizeof(*r));
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
    r->tails = json_object();
    /* A pattern that backtracks without end fails (and is logged) instead of holding a
     * worker: a few thousand steps are what a domain pattern takes. */
    r->limits = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(r->limits, 100000);
    pcre2_set_depth_limit(r->limits, 10000);
    r->path = xstrdup(path);
    if (util_read_file(path, MAX_FILE_BYTES, &text, &len) != 0) {
        snprintf(err, err_size, "%s: cannot read (%s), or larger than %d bytes", path,
                 strerror(errno), MAX_FILE_BYTES);
        routing_free(r);
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
        routing_free(r);
        return NULL;
    }
    return r;
}

void
dir_routing_release(struct dir_routing *r)
{
    if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
        routing_free(r);
    }
}

size_t
dir_routing_size(const struct dir_routing *r, size_t *n_exact)
{
    *n_exact = r->n_exact;
    return r->n_rules - r->n_exact;
}

bool
dir_routing_has_server(const struct dir_routing *r, const char *server)
{
    char lower[256];
    size_t len = strlen(server);

    if (r == NULL || len == 0 || len >= sizeof(lower)) {
        return false;
    }
    for (size_t i = 0; i <= len; i++) {
        lower[i] = (char)tolower((unsigned char)server[i]);
    }
    return json_object_get(r->servers, lower) != NULL;
}

/* --- matching -------------------------------------------------------------- */

int
dir_routing_normalise(const char *address, char **out)
{
    /* The one canonical form (lower case, A-label domain): what sessions, bindings and
     * invitations are keyed by is what routing matches. */
    return addr_email_normalise(address, out);
}

struct candidates {
    size_t stack[64];
    size_t *v; /* stack, or a heap copy once it is full */
    size_t n, cap;
};

static void
candidates_push(struct candidates *c, size_t i)
{
    if (c->n == c->cap) {
        c->cap *= 2;
        c->v = c->v == c->stack
                   ? memcpy(xmalloc(c->cap * sizeof(*c->v)), c->stack, sizeof(c->stack))
                   : xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = i;
}

static int
cmp_index(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

char *
dir_routing_key(const char *address, bool *is_email)
{
    char *key;

    *is_email = dir_routing_normalise(address, &key) == 0;
    if (!*is_email) {
        /* Not an e-mail address: matched as typed, ASCII lower-cased (clients count on
         * the catch-all answering for anything). */
        key = xstrdup(address);
        for (char *c = key; *c != '\0'; c++) {
            if (*c >= 'A' && *c <= 'Z') {
                *c = (char)(*c - 'A' + 'a');
            }
        }
    }
    return key;
}

bool
dir_route(const struct dir_routing *r, const char *normalised, struct dir_route *out)
{
    json_t *idx;
    pcre2_match_data *md;
    size_t len = strlen(normalised);
    bool found = false;

    memset(out, 0, sizeof(*out));
    if (r == NULL) {
        return false;
    }
    idx = json_object_get(r->exact, normalised);
    if (idx != NULL) {
        *out = r->rules[json_integer_value(idx)].route;
        out->rule = r->rules[json_integer_value(idx)].text;
        out->exact = true;
        return true;
    }
    /* The candidates, in file order: patterns ending as the address does (all of them
     * for an address with non-ASCII characters: caseless matching lets a few of those
     * match ASCII letters, U+017F long s matching "s"), and those that may end any way. */
    struct candidates cand = { .v = cand.stack, .cap = ANN_ARRAY_LEN(cand.stack) };
    bool ascii = true;

    for (const char *c = normalised; *c != '\0' && ascii; c++) {
        ascii = (unsigned char)*c < 0x80;
    }
    for (size_t i = r->n_exact; !ascii && i < r->n_rules; i++) {
        if (r->rules[i].tail != NULL) {
            candidates_push(&cand, i);
        }
    }
    for (size_t l = 0; ascii && l < r->n_tail_lens && r->tail_lens[l] <= len; l++) {
        json_t *list =
            json_object_getn(r->tails, normalised + len - r->tail_lens[l], r->tail_lens[l]);
        size_t i;
        json_t *v;

        json_array_foreach (list, i, v) {
            candidates_push(&cand, (size_t)json_integer_value(v));
        }
    }
    if (cand.n > 1) {
        qsort(cand.v, cand.n, sizeof(*cand.v), cmp_index);
    }
    md = pcre2_match_data_create(1, NULL);
    for (size_t c = 0, u = 0; (c < cand.n || u < r->n_untailed) && !found;) {
        size_t i = u == r->n_untailed || (c < cand.n && cand.v[c] < r->untailed[u])
                       ? cand.v[c++]
                       : r->untailed[u++];
        struct rule *rule = &r->rules[i];
        int rc = rule->jit
                     ? pcre2_jit_match(rule->re, (PCRE2_SPTR)normalised, len, 0, 0, md, r->limits)
                     : pcre2_match(rule->re, (PCRE2_SPTR)normalised, len, 0, 0, md, r->limits);

        if (rc >= 0) {
            *out = rule->route;
            out->rule = rule->text;
            found = true;
        } else if (rc != PCRE2_ERROR_NOMATCH && !atomic_exchange(&rule->warned, true)) {
            /* Taken as no match; said once per pattern and mapping. */
            PCRE2_UCHAR msg[120];

            pcre2_get_error_message(rc, msg, sizeof(msg));
            log_warn("routing: pattern '%.200s' (line %ld) could not be tried: %s", rule->text,
                     rule->route.line, (const char *)msg);
        }
    }
    if (cand.v != cand.stack) {
        free(cand.v);
    }
    pcre2_match_data_free(md);
    return found;
}

/* --- the mapping in force, and its reloads ---------------------------------- */

static struct {
    pthread_mutex_t lock; /* guards current (held for a pointer copy and a count) */
    struct dir_routing *current;
    char *path;
    const struct cfg_routing *conf;
    pthread_t watcher;
    bool running;
    bool stop, reload;
    pthread_cond_t wake;
    struct stat seen; /* of the file last tried */
    atomic_long reloads_ok, reloads_failed;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

struct dir_routing *
dir_routing_acquire(void)
{
    struct dir_routing *r;

    pthread_mutex_lock(&g.lock);
    r = g.current;
    if (r != NULL) {
        atomic_fetch_add(&r->refs, 1);
    }
    pthread_mutex_unlock(&g.lock);
    return r;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Loads the file again; the new mapping replaces the old only if it loaded whole. */
static void
reload(const char *why)
{
    char err[512];
    struct dir_routing *r = dir_routing_load(g.path, g.conf, err, sizeof(err)), *old;
    size_t n_exact, n_patterns;

    if (r == NULL) {
        log_err("routing: %s; the previous mapping stays in force", err);
        atomic_fetch_add(&g.reloads_failed, 1);
        return;
    }
    n_patterns = dir_routing_size(r, &n_exact);
    pthread_mutex_lock(&g.lock);
    old = g.current;
    g.current = r;
    pthread_mutex_unlock(&g.lock);
    dir_routing_release(old);
    atomic_fetch_add(&g.reloads_ok, 1);
    log_info("routing: %s %s: %zu entries, %zu patterns", why, g.path, n_exact, n_patterns);
}

static void *
watch(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.lock);
    while (!g.stop) {
        struct timespec until;
        struct stat st;
        bool changed, asked;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        if (!g.reload) {
            pthread_cond_timedwait(&g.wake, &g.lock, &until);
        }
        if (g.stop) {
            break;
        }
        asked = g.reload;
        g.reload = false;
        pthread_mutex_unlock(&g.lock);
        /* The file is looked at every second; a change (or a rename over it) is tried
         * once, whether it loads or not. */
        changed = stat(g.path, &st) == 0 && !same_file(&st, &g.seen);
        if (changed) {
            g.seen = st;
        }
        if (asked || changed) {
            reload(asked ? "SIGHUP: reloaded" : "file changed: reloaded");
        }
        pthread_mutex_lock(&g.lock);
    }
    pthread_mutex_unlock(&g.lock);
    return NULL;
}

static void
collect(struct util_buf *out, struct db_conn *db)
{
    struct dir_routing *r = dir_routing_acquire();
    size_t n_exact = 0, n_patterns = r ? dir_routing_size(r, &n_exact) : 0;

    (void)db;
    dir_routing_release(r);
    util_buf_printf(
        out,
        "# HELP annuaire_routing_rules Entries and patterns of the routing file in force.\n"
        "# TYPE annuaire_routing_rules gauge\n"
        "annuaire_routing_rules{kind=\"entry\"} %zu\n"
        "annuaire_routing_rules{kind=\"pattern\"} %zu\n"
        "# HELP annuaire_routing_reloads_total Reloads of the routing file.\n"
        "# TYPE annuaire_routing_reloads_total counter\n"
        "annuaire_routing_reloads_total{result=\"success\"} %ld\n"
        "annuaire_routing_reloads_total{result=\"failed\"} %ld\n",
        n_exact, n_patterns, atomic_load(&g.reloads_ok), atomic_load(&g.reloads_failed));
}

int
dir_routing_start(const struct cfg_routing *conf, char *err, size_t err_size)
{
    const char *path = conf->info_file;
    struct dir_routing *r;
    size_t n_exact, n_patterns;

    if (path == NULL) {
        return 0; /* no routing configured */
    }
    stat(path, &g.seen);
    r = dir_routing_load(path, conf, err, err_size);
    if (r == NULL) {
        return -1;
    }
    g.path = xstrdup(path);
    g.conf = conf;
    g.current = r;
    g.stop = false;
    n_patterns = dir_routing_size(r, &n_exact);
    log_info("routing: %s: %zu entries, %zu patterns", path, n_exact, n_patterns);
    if (pthread_create(&g.watcher, NULL, watch, NULL) != 0) {
        snprintf(err, err_size, "cannot start the routing file watcher");
        return -1;
    }
    g.running = true;
    metrics_add_collector(collect);
    return 0;
}

void
dir_routing_reload(void)
{
    pthread_mutex_lock(&g.lock);
    g.reload = true;
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.lock);
}

void
dir_routing_stop(void)
{
    if (g.running) {
        pthread_mutex_lock(&g.lock);
        g.stop = true;
        pthread_cond_signal(&g.wake);
        pthread_mutex_unlock(&g.lock);
        pthread_join(g.watcher, NULL);
        g.running = false;
    }
    dir_routing_release(g.current);
    g.current = NULL;
    free(g.path);
    g.path = NULL;
}
