/*
 * The literal-ending index of a mapping's patterns: the text each pattern ends with
 * when every address it matches must end with it (routing_tail_of), the patterns
 * grouped by that ending, and the candidates an address is tried against. With it a
 * file of hundreds of domain patterns costs a hash lookup per distinct ending length
 * for most addresses, instead of one regular-expression match per pattern.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "routing/internal.h"

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
 * (see routing_tail_candidates), since caseless matching lets some of them match ASCII letters.
 */
char *
routing_tail_of(const char *p, size_t len)
{
    char lit[ROUTING_MAX_PATTERN_LEN + 1];
    size_t n = 0; /* literal characters at the end so far */
    int depth = 0;
    bool in_class = false;

    if (len > ROUTING_MAX_PATTERN_LEN) {
        return NULL; /* longer than a mapping file may hold: no ending, to be safe */
    }
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

void
routing_tail_index(struct routing_map *r)
{
    r->untailed = xcalloc(r->n_rules + 1, sizeof(*r->untailed));
    r->tail_lens = xcalloc(r->n_rules + 1, sizeof(*r->tail_lens));
    for (size_t i = r->n_exact; i < r->n_rules; i++) {
        const struct routing_rule *rule = &r->rules[i];
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

static void
candidates_push(struct routing_candidates *c, size_t i)
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

void
routing_tail_candidates(const struct routing_map *r,
                        const char *normalised,
                        size_t len,
                        struct routing_candidates *out)
{
    bool ascii = true;

    out->v = out->stack;
    out->n = 0;
    out->cap = ANN_ARRAY_LEN(out->stack);
    /* All the patterns with a tail for an address with non-ASCII characters: caseless
     * matching lets a few of those match ASCII letters, U+017F long s matching "s". */
    for (const char *c = normalised; *c != '\0' && ascii; c++) {
        ascii = (unsigned char)*c < 0x80;
    }
    for (size_t i = r->n_exact; !ascii && i < r->n_rules; i++) {
        if (r->rules[i].tail != NULL) {
            candidates_push(out, i);
        }
    }
    for (size_t l = 0; ascii && l < r->n_tail_lens && r->tail_lens[l] <= len; l++) {
        json_t *list =
            json_object_getn(r->tails, normalised + len - r->tail_lens[l], r->tail_lens[l]);
        size_t i;
        json_t *v;

        json_array_foreach (list, i, v) {
            candidates_push(out, (size_t)json_integer_value(v));
        }
    }
    if (out->n > 1) {
        qsort(out->v, out->n, sizeof(*out->v), cmp_index);
    }
}

void
routing_candidates_clear(struct routing_candidates *c)
{
    if (c->v != c->stack) {
        free(c->v);
    }
    c->v = c->stack;
    c->n = 0;
    c->cap = ANN_ARRAY_LEN(c->stack);
}
