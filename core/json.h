/* JSON helpers on jansson: declarative input specs and canonical JSON. */
#ifndef ANN_CORE_JSON_H
#define ANN_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/util.h"

enum jx_type {
    JX_STRING, /* const char * borrowed from the body */
    JX_INT,    /* long long; with JX_NUMERIC_STRING also "12" */
    JX_BOOL,   /* bool */
    JX_ARRAY,  /* const json_t * borrowed */
    JX_OBJECT, /* const json_t * borrowed */
};

#define JX_REQUIRED       1u /* absent or null -> M_MISSING_PARAMS */
#define JX_NUMERIC_STRING 2u /* JX_INT also accepts a string of decimal digits */

struct jx_field {
    const char *name;
    enum jx_type type;
    unsigned flags;
    size_t offset;                /* where the value goes in the output struct */
    size_t min_len, max_len;      /* strings: bytes; arrays: items (max 0 = no bound) */
    long long min, max;           /* integers */
    bool (*check)(const char *s); /* extra check for strings, e.g. an alphabet */
};

struct jx_spec {
    const struct jx_field *fields;
    size_t n_fields;
    bool allow_unknown; /* extra keys are ignored instead of refused */
};

enum jx_error_kind {
    JX_OK = 0,
    JX_ERR_MISSING,
    JX_ERR_INVALID,
};

struct jx_error {
    enum jx_error_kind kind;
    char msg[160];
};

/**
 * Checks a JSON object against a spec and fills the output struct. Absent
 * optional fields leave their slot untouched, so the caller sets defaults first.
 *
 * @param obj       the request body (must be an object)
 * @param spec      what is allowed
 * @param[out] out  struct the field offsets point into; strings are borrowed from obj
 * @param[out] err  on failure, which error and a message naming the field
 * @return 0 or -1
 */
int jx_unpack(const json_t *obj, const struct jx_spec *spec, void *out, struct jx_error *err)
    ANN_MUST_CHECK;

/**
 * Matrix canonical JSON: keys sorted by code point, no insignificant
 * whitespace, raw UTF-8, integers only within +-(2^53 - 1), no floats.
 *
 * @param[out] len  length of the result, may be NULL
 * @return a new string owned by the caller, or NULL when v holds a float or
 *         an out-of-range integer
 */
char *jx_canonical(const json_t *v, size_t *len);

#endif
