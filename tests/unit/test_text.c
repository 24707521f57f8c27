/* unit.core.text: the escaping of control characters in text a command prints
 * (util_esc_text), the control character check (util_has_control) and the UTF-8 check of
 * decoded request text (util_utf8_ok). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/util.h"

struct esc_case {
    const char *in;
    const char *out;
};

static const struct esc_case esc_cases[] = {
    { "", "" },
    { "plain text", "plain text" },
    { "\x1b[31mRED\x1b[0m", "\\x1b[31mRED\\x1b[0m" },
    { "a\nb\rc\td", "a\\x0ab\\x0dc\\x09d" },
    { "\x01\x1f\x7f", "\\x01\\x1f\\x7f" },
    { "\xc2\x80\xc2\x85\xc2\x9b"
      "2J\xc2\x9f",
      "\\u0080\\u0085\\u009b2J\\u009f" },
    { "caf\xc3\xa9 \xc2\xa0\xc2\xa9 \xf0\x9f\x98\x80",
      "caf\xc3\xa9 \xc2\xa0\xc2\xa9 \xf0\x9f\x98\x80" },
    { "back\\slash \"q\"", "back\\slash \"q\"" },
    { "\xff\xfe", "\\xff\\xfe" },
    { "\xc3(", "\\xc3(" },
    { "\x9b"
      "2J",
      "\\x9b2J" },
    { "\xe2\x80\xa8", "\xe2\x80\xa8" },
};

static void
test_esc_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < ANN_ARRAY_LEN(esc_cases); i++) {
        char *out = util_esc_text(esc_cases[i].in);

        assert_string_equal(out, esc_cases[i].out);
        free(out);
    }
    assert_null(util_esc_text(NULL));
}

static void
test_has_control(void **state)
{
    (void)state;
    assert_false(util_has_control(""));
    assert_false(util_has_control("!room:example.org"));
    assert_false(util_has_control("!caf\xc3\xa9-\xf0\x9f\x98\x80:x \xc2\xa0\xc2\xa9"));
    assert_true(util_has_control("!r:x\x1b[2J"));
    assert_true(util_has_control("\n"));
    assert_true(util_has_control("\t"));
    assert_true(util_has_control("x\x7f"));
    assert_true(util_has_control("x\xc2\x80"));
    assert_true(util_has_control("x\xc2\x9f"));
}

static void
test_utf8_ok(void **state)
{
    (void)state;
    assert_true(util_utf8_ok("", 0));
    assert_true(util_utf8_ok("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    assert_true(util_utf8_ok("\x1b\n", 2));
    assert_false(util_utf8_ok("a\0b", 3));
    assert_false(util_utf8_ok("\xff", 1));
    assert_false(util_utf8_ok("\xc3(", 2));
    assert_false(util_utf8_ok("\xc3", 1));
    assert_false(util_utf8_ok("\xed\xa0\x80", 3)); /* a surrogate */
    assert_false(util_utf8_ok("\xc0\xaf", 2));     /* overlong '/' */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_esc_text),
        cmocka_unit_test(test_has_control),
        cmocka_unit_test(test_utf8_ok),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
