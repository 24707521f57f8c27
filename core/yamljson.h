/* YAML documents (libyaml) as JSON values (jansson). */
#ifndef ANN_CORE_YAMLJSON_H
#define ANN_CORE_YAMLJSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <yaml.h>

/* How scalars become JSON: NULL when the scalar cannot be one (not UTF-8). */
typedef json_t *(*yj_scalar_fn)(const yaml_node_t *n);

/** Whether a scalar is a plain "", "~" or "null". */
bool yj_scalar_is_null(const yaml_node_t *n);

/** Plain "", "~" and "null" as JSON null, every other scalar as a string. */
json_t *yj_string_or_null(const yaml_node_t *n);

struct yj_limits {
    int max_depth;
    size_t max_nodes; /* aliases are expanded: this bounds what an alias chain can make */
    size_t *spent;    /* when set, values counted across calls (a budget for a whole file) */
};

/**
 * Converts the subtree at n: mappings (plain scalar keys, each once), sequences and
 * scalars through scalar.
 * @param[out] bad  on failure, the node at fault (may be NULL)
 * @param[out] why  on failure, what is wrong
 * @return the value, or NULL
 */
json_t *yj_convert(yaml_document_t *doc,
                   const yaml_node_t *n,
                   yj_scalar_fn scalar,
                   const struct yj_limits *limits,
                   const yaml_node_t **bad,
                   char *why,
                   size_t why_size);

/**
 * The node a path names under n, as far as the path goes: "[1]" an item of a
 * sequence, ".key" a key of a mapping (the path may begin with either). Reading stops
 * at the first character that continues no path (": not a valid value"...).
 * @return the node that shows where the deepest part found is: a sequence's item, a
 *         mapping's key (not its value, which may start on a later line); n when the
 *         path names nothing under it
 */
const yaml_node_t *yj_locate(yaml_document_t *doc, const yaml_node_t *n, const char *path);

/**
 * The line of every item and key under n, by path as yj_locate reads them:
 * {"": line of n, "[0]": ..., "[0].name": ..., "[0].ldap.urls": ...} (lines from 1; a
 * mapping's member at its key's line). Paths over 255 bytes or deeper than max_depth
 * are left out, and everything past the first 100,000 items and keys (aliases may name
 * one node many times).
 * @return a new object (the caller's reference)
 */
json_t *yj_lines(yaml_document_t *doc, const yaml_node_t *n, int max_depth);

#endif
