/* unit.core.canonical: Matrix canonical JSON and JSON signing (spec appendix examples). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/sign.h"

struct canon_case {
    const char *in;
    const char *out; /* NULL: must be refused */
};

static void
check_canonical(const char *in, const char *want)
{
    json_error_t jerr;
    json_t *v = json_loads(in, JSON_DECODE_ANY, &jerr);
    char *got;

    assert_non_null(v);
    got = jx_canonical(v, NULL);
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
    json_decref(v);
}

static void
test_canonical_spec_examples(void **state)
{
    static const struct canon_case cases[] = {
        { "{}", "{}" },
        { "{\"one\": 1, \"two\": \"Two\"}", "{\"one\":1,\"two\":\"Two\"}" },
        { "{\"b\": \"2\", \"a\": \"1\"}", "{\"a\":\"1\",\"b\":\"2\"}" },
        { "{\"auth\": {\"success\": true, \"mxid\": \"@john.doe:example.com\", \"profile\": "
          "{\"display_name\": \"John Doe\", \"three_pids\": [{\"medium\": \"email\", \"address\": "
          "\"john.doe@example.org\"}, {\"medium\": \"msisdn\", \"address\": \"123456789\"}]}}}",
          "{\"auth\":{\"mxid\":\"@john.doe:example.com\",\"profile\":{\"display_name\":\"John "
          "Doe\",\"three_pids\":[{\"address\":\"john.doe@example.org\",\"medium\":\"email\"},{"
          "\"address\":\"123456789\",\"medium\":\"msisdn\"}]},\"success\":true}}" },
        { "{\"a\": \"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"}",
          "{\"a\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"}" },
        { "{\"\xe6\x9c\xac\": 2, \"\xe6\x97\xa5\": 1}", "{\"\xe6\x97\xa5\":1,\"\xe6\x9c\xac\":2}" },
        { "{\"a\": \"\\u65E5\"}", "{\"a\":\"\xe6\x97\xa5\"}" },
        { "{\"a\": null}", "{\"a\":null}" },
        { "{\"a\": -0, \"b\": 1e10}", "{\"a\":0,\"b\":10000000000}" },
        /* Only the mandatory escapes; other control characters as lower-case \u00XX. */
        { "[\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001F/\"]",
          "[\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f/\"]" },
        { "[9007199254740991, -9007199254740991]", "[9007199254740991,-9007199254740991]" },
        /* Outside canonical JSON: fractions and integers beyond 2^53 - 1. */
        { "{\"a\": 1.5}", NULL },
        { "[9007199254740992]", NULL },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_canonical(cases[i].in, cases[i].out);
    }
}

static struct cx_ed25519 *
spec_key(void)
{
    unsigned char *seed = NULL;
    size_t len = 0;
    struct cx_ed25519 *key;

    assert_int_equal(
        cx_b64_decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", 43, CX_B64_STD, &seed, &len),
        0);
    assert_int_equal(len, 32);
    key = cx_ed25519_from_seed(seed);
    free(seed);
    assert_non_null(key);
    return key;
}

static void
check_signed(const char *in, const char *want_sig)
{
    struct cx_ed25519 *key = spec_key();
    json_error_t jerr;
    json_t *obj = json_loads(in, 0, &jerr);
    const json_t *sig;

    assert_non_null(obj);
    assert_int_equal(sign_json(obj, "domain", "ed25519:1", key), 0);
    sig =
        json_object_get(json_object_get(json_object_get(obj, "signatures"), "domain"), "ed25519:1");
    assert_true(json_is_string(sig));
    assert_string_equal(json_string_value(sig), want_sig);
    assert_int_equal(sign_verify_json(obj, "domain", "ed25519:1", cx_ed25519_public(key)), 0);
    /* Any change to the signed content breaks the signature. */
    json_object_set_new(obj, "extra", json_true());
    assert_int_equal(sign_verify_json(obj, "domain", "ed25519:1", cx_ed25519_public(key)), -1);
    json_decref(obj);
    cx_ed25519_free(key);
}

static void
test_sign_spec_examples(void **state)
{
    check_signed("{}", "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZ"
                       "zuHGZKM5ZAQ");
    check_signed(
        "{\"one\": 1, \"two\": \"Two\"}",
        "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+"
        "6Bw");
}

static void
test_sign_keeps_unsigned_and_other_signatures(void **state)
{
    struct cx_ed25519 *key = spec_key();
    json_error_t jerr;
    json_t *obj = json_loads("{\"one\": 1, \"two\": \"Two\", \"unsigned\": {\"age\": 5}, "
                             "\"signatures\": {\"other\": {\"ed25519:x\": \"abc\"}}}",
                             0, &jerr);
    const json_t *sig;

    assert_non_null(obj);
    assert_int_equal(sign_json(obj, "domain", "ed25519:1", key), 0);
    /* "unsigned" and "signatures" are not covered: same signature as without them. */
    sig =
        json_object_get(json_object_get(json_object_get(obj, "signatures"), "domain"), "ed25519:1");
    assert_string_equal(json_string_value(sig), "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/"
                                                "fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw");
    assert_non_null(json_object_get(json_object_get(obj, "signatures"), "other"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(obj, "unsigned"), "age")),
                     5);
    /* A missing or malformed signature does not verify. */
    assert_int_equal(sign_verify_json(obj, "nobody", "ed25519:1", cx_ed25519_public(key)), -1);
    assert_int_equal(sign_verify_json(obj, "other", "ed25519:x", cx_ed25519_public(key)), -1);
    json_decref(obj);
    cx_ed25519_free(key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_spec_examples),
        cmocka_unit_test(test_sign_spec_examples),
        cmocka_unit_test(test_sign_keeps_unsigned_and_other_signatures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
