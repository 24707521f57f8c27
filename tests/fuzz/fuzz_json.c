/*
 * fuzz_json: request bodies as the router and the handlers read them: jansson with
 * duplicate keys refused (core/http.c), then core/json.c jx_unpack against the input
 * specs of the handlers (their tables, copied here with the same names, types, flags,
 * bounds and checks; the output struct is one of slots), and jx_canonical.
 * Properties, besides no crash or leak:
 * - an accepted body fills every required field, strings within their bounds, with
 *   no NUL inside and passing their check, integers within range, arrays within their
 *   item bounds; a refused one says why, naming a field;
 * - canonical JSON, when there is one, parses back and is its own canonical form.
 */
#include <stdint.h>

#include <jansson.h>

#include "core/json.h"
#include "core/util.h"
#include "enroll/internal.h"
#include "tests/fuzz/fuzz.h"

union slot {
    const char *s;
    long long i;
    bool b;
    const json_t *j;
};

struct slots {
    union slot v[4];
};

#define AT(i) offsetof(struct slots, v[i])

/* enroll/validate_email_request_token_post.c */
static const struct jx_field request_token[] = {
    { "client_secret", JX_STRING, JX_REQUIRED, AT(0), 1, 255, 0, 0, enr_client_secret_ok },
    { "email", JX_STRING, JX_REQUIRED, AT(1), 1, 254, 0, 0, NULL },
    { "send_attempt", JX_INT, JX_REQUIRED | JX_NUMERIC_STRING, AT(2), 0, 0, 0, 1000000000LL, NULL },
    { "next_link", JX_STRING, 0, AT(3), 1, 2048, 0, 0, enr_next_link_ok },
};
/* enroll/validate_email_submit_token_post.c */
static const struct jx_field submit_token[] = {
    { "sid", JX_STRING, JX_REQUIRED, AT(0), 1, 255, 0, 0, enr_client_secret_ok },
    { "client_secret", JX_STRING, JX_REQUIRED, AT(1), 1, 255, 0, 0, enr_client_secret_ok },
    { "token", JX_STRING, JX_REQUIRED, AT(2), 1, 255, 0, 0, NULL },
};
/* enroll/bind_post.c */
static const struct jx_field bind_3pid[] = {
    { "sid", JX_STRING, JX_REQUIRED, AT(0), 1, 255, 0, 0, enr_client_secret_ok },
    { "client_secret", JX_STRING, JX_REQUIRED, AT(1), 1, 255, 0, 0, enr_client_secret_ok },
    { "mxid", JX_STRING, JX_REQUIRED, AT(2), 3, 255, 0, 0, enr_mxid_ok },
};
/* enroll/unbind_post.c */
static const struct jx_field unbind[] = {
    { "mxid", JX_STRING, JX_REQUIRED, AT(0), 3, 255, 0, 0, enr_mxid_ok },
    { "threepid", JX_OBJECT, JX_REQUIRED, AT(1), 0, 0, 0, 0, NULL },
    { "sid", JX_STRING, 0, AT(2), 1, 255, 0, 0, enr_client_secret_ok },
    { "client_secret", JX_STRING, 0, AT(3), 1, 255, 0, 0, enr_client_secret_ok },
};
/* enroll/store_invite_post.c */
static const struct jx_field store_invite[] = {
    { "medium", JX_STRING, JX_REQUIRED, AT(0), 1, 16, 0, 0, NULL },
    { "address", JX_STRING, JX_REQUIRED, AT(1), 1, 254, 0, 0, NULL },
    { "room_id", JX_STRING, JX_REQUIRED, AT(2), 1, 255, 0, 0, NULL },
    { "sender", JX_STRING, JX_REQUIRED, AT(3), 1, 255, 0, 0, enr_mxid_ok },
};
/* enroll/account_register_post.c */
static const struct jx_field account_register[] = {
    { "access_token", JX_STRING, JX_REQUIRED, AT(0), 1, 4096, 0, 0, NULL },
    { "token_type", JX_STRING, 0, AT(1), 1, 64, 0, 0, NULL },
    { "matrix_server_name", JX_STRING, JX_REQUIRED, AT(2), 1, 255, 0, 0, NULL },
    { "expires_in", JX_INT, 0, AT(3), 0, 0, 0, INT32_MAX, NULL },
};
/* enroll/sign_ed25519_post.c */
static const struct jx_field sign_ed25519[] = {
    { "mxid", JX_STRING, JX_REQUIRED, AT(0), 3, 255, 0, 0, enr_mxid_ok },
    { "token", JX_STRING, JX_REQUIRED, AT(1), 1, 255, 0, 0, NULL },
    { "private_key", JX_STRING, JX_REQUIRED, AT(2), 1, 128, 0, 0, NULL },
};
/* enroll/terms_post.c */
static const struct jx_field terms[] = {
    { "user_accepts", JX_ARRAY, JX_REQUIRED, AT(0), 0, 100, 0, 0, NULL },
};
/* directory/lookup_post.c */
static const struct jx_field lookup[] = {
    { "algorithm", JX_STRING, JX_REQUIRED, AT(0), 1, 32, 0, 0, NULL },
    { "pepper", JX_STRING, JX_REQUIRED, AT(1), 0, 256, 0, 0, NULL },
    { "addresses", JX_ARRAY, JX_REQUIRED, AT(2), 0, 0, 0, 0, NULL },
};
/* directory/lookup_v1.c */
static const struct jx_field bulk_lookup[] = {
    { "threepids", JX_ARRAY, JX_REQUIRED, AT(0), 0, 0, 0, 0, NULL },
};
/* A spec of every type that refuses unknown keys (the handlers allow them). */
static const struct jx_field strict[] = {
    { "s", JX_STRING, 0, AT(0), 2, 8, 0, 0, NULL },
    { "i", JX_INT, JX_NUMERIC_STRING, AT(1), 0, 0, -5, 5, NULL },
    { "b", JX_BOOL, JX_REQUIRED, AT(2), 0, 0, 0, 0, NULL },
    { "o", JX_OBJECT, 0, AT(3), 0, 0, 0, 0, NULL },
};

static const struct jx_spec specs[] = {
    { request_token, ANN_ARRAY_LEN(request_token), true },
    { submit_token, ANN_ARRAY_LEN(submit_token), true },
    { bind_3pid, ANN_ARRAY_LEN(bind_3pid), true },
    { unbind, ANN_ARRAY_LEN(unbind), true },
    { store_invite, ANN_ARRAY_LEN(store_invite), true },
    { account_register, ANN_ARRAY_LEN(account_register), true },
    { sign_ed25519, ANN_ARRAY_LEN(sign_ed25519), true },
    { terms, ANN_ARRAY_LEN(terms), true },
    { lookup, ANN_ARRAY_LEN(lookup), true },
    { bulk_lookup, ANN_ARRAY_LEN(bulk_lookup), true },
    { strict, ANN_ARRAY_LEN(strict), false },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A slot no field wrote to. */
static const char untouched[] = "untouched";

static void
check_accepted(const struct jx_spec *spec, const json_t *body, const struct slots *out)
{
    for (size_t i = 0; i < spec->n_fields; i++) {
        const struct jx_field *f = &spec->fields[i];
        const union slot *v = (const union slot *)((const char *)out + f->offset);
        const json_t *j = json_object_get(body, f->name);
        bool present = j != NULL && !json_is_null(j);

        FUZZ_ASSERT(present || !(f->flags & JX_REQUIRED));
        if (!present) {
            FUZZ_ASSERT(v->s == untouched);
            continue;
        }
        switch (f->type) {
        case JX_STRING: {
            size_t n = strlen(v->s);

            FUZZ_ASSERT(v->s == json_string_value(j)); /* borrowed from the body */
            FUZZ_ASSERT(n == json_string_length(j) && n >= f->min_len &&
                        (f->max_len == 0 || n <= f->max_len));
            FUZZ_ASSERT(fuzz_utf8_ok(v->s, n));
            FUZZ_ASSERT(f->check == NULL || f->check(v->s));
            break;
        }
        case JX_INT:
            FUZZ_ASSERT(v->i >= f->min && v->i <= f->max);
            break;
        case JX_BOOL:
            FUZZ_ASSERT(json_is_boolean(j) && v->b == json_is_true(j));
            break;
        case JX_ARRAY:
            FUZZ_ASSERT(json_is_array(v->j) && json_array_size(v->j) >= f->min_len &&
                        (f->max_len == 0 || json_array_size(v->j) <= f->max_len));
            break;
        case JX_OBJECT:
            FUZZ_ASSERT(json_is_object(v->j));
            break;
        }
    }
}

static void
check_canonical(const json_t *body)
{
    size_t len = 0, len2 = 0;
    char *c = jx_canonical(body, &len);
    json_t *back;
    char *c2;

    if (c == NULL) {
        return;
    }
    FUZZ_ASSERT(strlen(c) == len);
    back = json_loadb(c, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    FUZZ_ASSERT(back != NULL);
    c2 = jx_canonical(back, &len2);
    FUZZ_ASSERT(c2 != NULL && len2 == len && memcmp(c, c2, len) == 0);
    free(c2);
    json_decref(back);
    free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body;

    if (size > 65536) { /* the router's body cap */
        return 0;
    }
    body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (body == NULL) {
        return 0;
    }
    for (size_t k = 0; k < ANN_ARRAY_LEN(specs); k++) {
        struct slots out;
        struct jx_error err;

        for (size_t i = 0; i < ANN_ARRAY_LEN(out.v); i++) {
            out.v[i].s = untouched;
        }
        if (jx_unpack(body, &specs[k], &out, &err) == 0) {
            FUZZ_ASSERT(err.kind == JX_OK);
            check_accepted(&specs[k], body, &out);
        } else {
            FUZZ_ASSERT(err.kind != JX_OK && err.msg[0] != '\0');
        }
    }
    check_canonical(body);
    json_decref(body);
    return 0;
}
