/*
 * jx_unpack: a JSON object read against a declarative spec (types, required keys, string and
 * integer bounds, unknown keys refused unless the spec allows them); jx_canonical: Matrix
 * canonical JSON (sorted keys, no white space, integers within +/-(2^53 - 1)).
 */
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CANONICAL_INT_MAX 9007199254740991LL /* 2^53 - 1 */

static const struct jx_field *
spec_field(const struct jx_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->n_fields; i++) {
        if (strcmp(spec->fields[i].name, name) == 0) {
            return &spec->fields[i];
        }
    }
    return NULL;
}

static int
set_error(struct jx_error *err, enum jx_error_kind kind, const char *name, const char *what)
{
    err->kind = kind;
    snprintf(err->msg, sizeof(err->msg), "'%.64s' %s", name, what);
    return -1;
}

static int
unpack_int(const struct jx_field *f, const json_t *v, long long *out, struct jx_error *err)
{
    long long n;

    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v) && (f->flags & JX_NUMERIC_STRING)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        char *end = NULL;

        if (len == 0 || len > 18 || strspn(s, "0123456789") != len) {
            return set_error(err, JX_ERR_INVALID, f->name, "must be an integer");
        }
        n = strtoll(s, &end, 10);
    } else {
        return set_error(err, JX_ERR_INVALID, f->name, "must be an integer");
    }
    if (n < f->min || n > f->max) {
        return set_error(err, JX_ERR_INVALID, f->name, "is out of range");
    }
    *out = n;
    return 0;
}

static int
unpack_field(const struct jx_field *f, const json_t *v, char *out, struct jx_error *err)
{
    void *slot = out + f->offset;

    switch (f->type) {
    case JX_STRING: {
        size_t len = json_string_length(v);

        if (!json_is_string(v)) {
            return set_error(err, JX_ERR_INVALID, f->name, "must be a string");
        }
        if (len < f->min_len || (f->max_len > 0 && len > f->max_len) ||
            strlen(json_string_value(v)) != len) {
            return set_error(err, JX_ERR_INVALID, f->name, "has a bad length");
        }
        if (f->check != NULL && !f->check(json_string_value(v))) {
            return set_error(err, JX_ERR_INVALID, f->name, "is not valid");
        }
        *(const char **)slot = json_string_value(v);
        return 0;
    }
    case JX_INT:
        return unpack_int(f, v, (long long *)slot, err);
    case JX_BOOL:
        if (!json_is_boolean(v)) {
            return set_error(err, JX_ERR_INVALID, f->name, "must be true or false");
        }
        *(bool *)slot = json_is_true(v);
        return 0;
    case JX_ARRAY:
        if (!json_is_array(v)) {
            return set_error(err, JX_ERR_INVALID, f->name, "must be an array");
        }
        if (json_array_size(v) < f->min_len ||
            (f->max_len > 0 && json_array_size(v) > f->max_len)) {
            return set_error(err, JX_ERR_INVALID, f->name, "has a bad number of items");
        }
        *(const json_t **)slot = v;
        return 0;
    case JX_OBJECT:
        if (!json_is_object(v)) {
            return set_error(err, JX_ERR_INVALID, f->name, "must be an object");
        }
        *(const json_t **)slot = v;
        return 0;
    }
    return set_error(err, JX_ERR_INVALID, f->name, "has an unknown type");
}

int
jx_unpack(const json_t *obj, const struct jx_spec *spec, void *out, struct jx_error *err)
{
    const char *key;
    json_t *v;

    err->kind = JX_OK;
    err->msg[0] = '\0';
    if (!json_is_object(obj)) {
        err->kind = JX_ERR_INVALID;
        snprintf(err->msg, sizeof(err->msg), "the body must be a JSON object");
        return -1;
    }
    if (!spec->allow_unknown) {
        json_object_foreach ((json_t *)obj, key, v) {
            if (spec_field(spec, key) == NULL) {
                return set_error(err, JX_ERR_INVALID, key, "is not an allowed key");
            }
        }
    }
    for (size_t i = 0; i < spec->n_fields; i++) {
        const struct jx_field *f = &spec->fields[i];

        v = json_object_get(obj, f->name);
        if (v == NULL || json_is_null(v)) {
            if (f->flags & JX_REQUIRED) {
                return set_error(err, JX_ERR_MISSING, f->name, "is required");
            }
            continue;
        }
        if (unpack_field(f, v, out, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static void
put_string(struct util_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    util_buf_put(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = { '\\', 0, 0, 0, 0, 0 };
        size_t n = 2;

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        util_buf_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
            break;
        }
        util_buf_put(b, esc, n);
    }
    util_buf_put(b, s + run, len - run);
    util_buf_put(b, "\"", 1);
}

static int
cmp_keys(const void *a, const void *b)
{
    /* Byte order of UTF-8 is code point order. */
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
put_value(struct util_buf *b, const json_t *v, int depth)
{
    char num[32];

    if (depth > 64) {
        return -1;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        const char **keys = xmalloc(n * sizeof(*keys));
        const char *key;
        size_t i = 0;
        json_t *item;
        int ret = 0;

        json_object_foreach ((json_t *)v, key, item) {
            keys[i++] = key;
        }
        qsort(keys, n, sizeof(*keys), cmp_keys);
        util_buf_put(b, "{", 1);
        for (i = 0; i < n && ret == 0; i++) {
            if (i > 0) {
                util_buf_put(b, ",", 1);
            }
            put_string(b, keys[i], strlen(keys[i]));
            util_buf_put(b, ":", 1);
            ret = put_value(b, json_object_get(v, keys[i]), depth + 1);
        }
        util_buf_put(b, "}", 1);
        free(keys);
        return ret;
    }
    case JSON_ARRAY:
        util_buf_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0) {
                util_buf_put(b, ",", 1);
            }
            if (put_value(b, json_array_get(v, i), depth + 1) != 0) {
                return -1;
            }
        }
        util_buf_put(b, "]", 1);
        return 0;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);

        if (n > CANONICAL_INT_MAX || n < -CANONICAL_INT_MAX) {
            return -1;
        }
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, n);
        util_buf_put(b, num, strlen(num));
        return 0;
    }
    case JSON_TRUE:
        util_buf_put(b, "true", 4);
        return 0;
    case JSON_FALSE:
        util_buf_put(b, "false", 5);
        return 0;
    case JSON_NULL:
        util_buf_put(b, "null", 4);
        return 0;
    case JSON_REAL: {
        /* "1e10" parses as a real; canonical JSON writes whole numbers as integers. */
        double d = json_real_value(v);

        if (d != d || d > (double)CANONICAL_INT_MAX || d < -(double)CANONICAL_INT_MAX ||
            d != (double)(long long)d) {
            return -1;
        }
        snprintf(num, sizeof(num), "%lld", (long long)d);
        util_buf_put(b, num, strlen(num));
        return 0;
    }
    }
    return -1;
}

char *
jx_canonical(const json_t *v, size_t *len)
{
    struct util_buf b = { 0 };

    if (v == NULL || put_value(&b, v, 0) != 0) {
        free(b.p);
        return NULL;
    }
    if (len != NULL) {
        *len = b.len;
    }
    return b.p;
}
