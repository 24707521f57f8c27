/*
 * YAML nodes (libyaml) as JSON values (jansson): mappings as objects, sequences as arrays,
 * scalars through the caller's function; depth and value count bounded (aliases expand).
 */
#include "core/yamljson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walk {
    yaml_document_t *doc;
    yj_scalar_fn scalar;
    const struct yj_limits *limits;
    size_t nodes; /* this call's count, unless limits->spent */
    size_t *spent;
    const yaml_node_t **bad;
    char *why;
    size_t why_size;
};

bool
yj_scalar_is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

json_t *
yj_string_or_null(const yaml_node_t *n)
{
    return yj_scalar_is_null(n)
               ? json_null()
               : json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
}

static json_t *
fail(struct walk *w, const yaml_node_t *n, const char *why)
{
    *w->bad = n;
    snprintf(w->why, w->why_size, "%s", why);
    return NULL;
}

static json_t *
convert(struct walk *w, const yaml_node_t *n, int depth)
{
    json_t *out;

    if (n == NULL || depth > w->limits->max_depth) {
        return fail(w, n, "nested too deeply");
    }
    if (++*w->spent > w->limits->max_nodes) {
        return fail(w, n, "too many values (aliases expanding?)");
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        out = w->scalar(n);
        return out != NULL ? out : fail(w, n, "not valid UTF-8 text");
    case YAML_SEQUENCE_NODE:
        out = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            json_t *item = convert(w, yaml_document_get_node(w->doc, *i), depth + 1);

            if (item == NULL) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, item);
        }
        return out;
    case YAML_MAPPING_NODE:
        out = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
            json_t *item;

            if (k == NULL || k->type != YAML_SCALAR_NODE) {
                json_decref(out);
                return fail(w, k ? k : n, "keys must be plain names");
            }
            if (json_object_getn(out, (const char *)k->data.scalar.value, k->data.scalar.length) !=
                NULL) {
                char why[128];

                snprintf(why, sizeof(why), "'%.64s' given more than once",
                         (const char *)k->data.scalar.value);
                json_decref(out);
                return fail(w, k, why);
            }
            item = convert(w, yaml_document_get_node(w->doc, p->value), depth + 1);
            if (item == NULL) {
                json_decref(out);
                return NULL;
            }
            json_object_setn_new(out, (const char *)k->data.scalar.value, k->data.scalar.length,
                                 item);
        }
        return out;
    default:
        return fail(w, n, "empty value");
    }
}

json_t *
yj_convert(yaml_document_t *doc,
           const yaml_node_t *n,
           yj_scalar_fn scalar,
           const struct yj_limits *limits,
           const yaml_node_t **bad,
           char *why,
           size_t why_size)
{
    struct walk w = { doc, scalar, limits, 0, NULL, bad, why, why_size };

    w.spent = limits->spent ? limits->spent : &w.nodes;
    *bad = NULL;
    return convert(&w, n, 0);
}

/* An item of a sequence by its index ("[12]"), or NULL. *path moves past it. */
static const yaml_node_t *
locate_item(yaml_document_t *doc, const yaml_node_t *n, const char **path)
{
    char *end;
    unsigned long i = strtoul(*path + 1, &end, 10);

    if (end == *path + 1 || *end != ']' || n->type != YAML_SEQUENCE_NODE ||
        i >= (unsigned long)(n->data.sequence.items.top - n->data.sequence.items.start)) {
        return NULL;
    }
    *path = end + 1;
    return yaml_document_get_node(doc, n->data.sequence.items.start[i]);
}

/* The key node of a mapping's member named by the name at *path (after its dot), or
 * NULL; *value is its value. *path moves past the name. */
static const yaml_node_t *
locate_key(yaml_document_t *doc, const yaml_node_t *n, const char **path, const yaml_node_t **value)
{
    const char *name = **path == '.' ? *path + 1 : *path;
    size_t len = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

    if (len == 0 || n->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(doc, p->key);

        if (k != NULL && k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
            memcmp(k->data.scalar.value, name, len) == 0) {
            *value = yaml_document_get_node(doc, p->value);
            *path = name + len;
            return *value != NULL ? k : NULL;
        }
    }
    return NULL;
}

const yaml_node_t *
yj_locate(yaml_document_t *doc, const yaml_node_t *n, const char *path)
{
    const yaml_node_t *shown = n;
    bool first = true;

    while (n != NULL) {
        const yaml_node_t *value = NULL;
        const yaml_node_t *at = NULL;

        if (*path == '[') {
            at = value = locate_item(doc, n, &path);
        } else if (*path == '.' || (first && *path != '\0')) {
            at = locate_key(doc, n, &path, &value);
        }
        if (at == NULL) {
            break;
        }
        shown = at;
        n = value;
        first = false;
    }
    return shown;
}

/* Most items and keys yj_lines records: an alias may name a node many times over (a
 * "billion laughs" document), and each naming would otherwise be walked again. */
#define LINES_BUDGET 100000

static void
lines_of(yaml_document_t *doc,
         const yaml_node_t *n,
         char *path,
         size_t len,
         int depth,
         size_t *budget,
         json_t *out)
{
    if (n == NULL || depth <= 0 || *budget == 0) {
        return;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        size_t i = 0;

        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++, i++) {
            const yaml_node_t *item = yaml_document_get_node(doc, *it);
            int w = snprintf(path + len, 256 - len, "[%zu]", i);

            if (item == NULL || w < 0 || len + (size_t)w >= 256) {
                continue;
            }
            if (*budget == 0) {
                break;
            }
            (*budget)--;
            json_object_set_new(out, path, json_integer((json_int_t)item->start_mark.line + 1));
            lines_of(doc, item, path, len + (size_t)w, depth - 1, budget, out);
        }
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const yaml_node_t *k = yaml_document_get_node(doc, p->key);
            int w;

            if (k == NULL || k->type != YAML_SCALAR_NODE) {
                continue;
            }
            w = snprintf(path + len, 256 - len, ".%s", (const char *)k->data.scalar.value);
            if (w < 0 || len + (size_t)w >= 256) {
                continue;
            }
            if (*budget == 0) {
                break;
            }
            (*budget)--;
            json_object_set_new(out, path, json_integer((json_int_t)k->start_mark.line + 1));
            lines_of(doc, yaml_document_get_node(doc, p->value), path, len + (size_t)w, depth - 1,
                     budget, out);
        }
    }
    path[len] = '\0';
}

json_t *
yj_lines(yaml_document_t *doc, const yaml_node_t *n, int max_depth)
{
    json_t *out = json_object();
    char path[256] = "";
    size_t budget = LINES_BUDGET;

    json_object_set_new(out, "", json_integer((json_int_t)n->start_mark.line + 1));
    lines_of(doc, n, path, 0, max_depth, &budget, out);
    return out;
}
