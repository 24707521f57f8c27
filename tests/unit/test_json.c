/* unit.core.json: declarative input specs (jx_unpack). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/util.h"

struct in {
    const char *client_secret;
    long long send_attempt;
    bool flag;
    const json_t *addresses;
};

static bool
secret_chars(const char *s)
{
    return strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.=_-") ==
           strlen(s);
}

static const struct jx_field fields[] = {
    { "client_secret", JX_STRING, JX_REQUIRED, offsetof(struct in, client_secret), 1, 255, 0, 0,
      secret_chars },
    { "send_attempt", JX_INT, JX_REQUIRED | JX_NUMERIC_STRING, offsetof(struct in, send_attempt), 0,
      0, 0, 1000000, NULL },
    { "flag", JX_BOOL, 0, offsetof(struct in, flag), 0, 0, 0, 0, NULL },
    { "addresses", JX_ARRAY, 0, offsetof(struct in, addresses), 0, 3, 0, 0, NULL },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), false };

struct case_ {
    const char *body;
    enum jx_error_kind want;
    const char *msg;
};

static void
test_specs(void **state)
{
    static const struct case_ cases[] = {
        { "{\"client_secret\": \"abc\", \"send_attempt\": 1}", JX_OK, "" },
        { "{\"client_secret\": \"abc\", \"send_attempt\": \"2\", \"flag\": true}", JX_OK, "" },
        { "{\"client_secret\": \"abc\", \"send_attempt\": 1, \"addresses\": null}", JX_OK, "" },
        { "{\"send_attempt\": 1}", JX_ERR_MISSING, "'client_secret' is required" },
        { "{\"client_secret\": null, \"send_attempt\": 1}", JX_ERR_MISSING,
          "'client_secret' is required" },
        { "{\"client_secret\": 5, \"send_attempt\": 1}", JX_ERR_INVALID,
          "'client_secret' must be a string" },
        { "{\"client_secret\": \"\", \"send_attempt\": 1}", JX_ERR_INVALID,
          "'client_secret' has a bad length" },
        { "{\"client_secret\": \"a b\", \"send_attempt\": 1}", JX_ERR_INVALID,
          "'client_secret' is not valid" },
        { "{\"client_secret\": \"abc\", \"send_attempt\": \"1x\"}", JX_ERR_INVALID,
          "'send_attempt' must be an integer" },
        { "{\"client_secret\": \"abc\", \"send_attempt\": 1.5}", JX_ERR_INVALID,
          "'send_attempt' must be an integer" },
        { "{\"client_secret\": \"abc\", \"send_attempt\": -1}", JX_ERR_INVALID,
          "'send_attempt' is out of range" },
        { "{\"client_secret\": \"abc\", \"send_attempt\": 1, \"flag\": 1}", JX_ERR_INVALID,
          "'flag' must be true or false" },
        { "{\"client_secret\": \"abc\", \"send_attempt\": 1, \"addresses\": [1,2,3,4]}",
          JX_ERR_INVALID, "'addresses' has a bad number of items" },
        { "{\"client_secret\": \"abc\", \"send_attempt\": 1, \"other\": 1}", JX_ERR_INVALID,
          "'other' is not an allowed key" },
        { "[1]", JX_ERR_INVALID, "the body must be a JSON object" },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        json_error_t jerr;
        json_t *body = json_loads(cases[i].body, JSON_DECODE_ANY, &jerr);
        struct in in = { .send_attempt = -7 };
        struct jx_error err;
        int rc;

        assert_non_null(body);
        rc = jx_unpack(body, &spec, &in, &err);
        if (err.kind != cases[i].want || strcmp(err.msg, cases[i].msg) != 0) {
            fail_msg("%s: got %d '%s'", cases[i].body, err.kind, err.msg);
        }
        assert_int_equal(rc, cases[i].want == JX_OK ? 0 : -1);
        if (rc == 0) {
            assert_string_equal(in.client_secret, "abc");
            assert_true(in.send_attempt == 1 || in.send_attempt == 2);
        }
        json_decref(body);
    }
}

static void
test_unknown_keys_allowed_when_asked(void **state)
{
    static const struct jx_spec lenient = { fields, ANN_ARRAY_LEN(fields), true };
    json_error_t jerr;
    json_t *body =
        json_loads("{\"client_secret\": \"x\", \"send_attempt\": 3, \"extra\": {}}", 0, &jerr);
    struct in in = { 0 };
    struct jx_error err;

    assert_int_equal(jx_unpack(body, &lenient, &in, &err), 0);
    assert_int_equal(in.send_attempt, 3);
    json_decref(body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specs),
        cmocka_unit_test(test_unknown_keys_allowed_when_asked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
