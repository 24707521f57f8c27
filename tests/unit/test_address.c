/* unit.directory.address and unit.enroll.text: address normalisation, invite display
 * names, Accept-Language, client secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/address.h"
#include "core/util.h"
#include "directory/directory.h"
#include "enroll/internal.h"

struct norm_case {
    const char *medium, *in, *out; /* out NULL: refused */
};

static void
test_normalise(void **state)
{
    static const struct norm_case cases[] = {
        { "email", "Alice@Example.ORG", "alice@example.org" },
        { "email", "\xc3\x89lodie.Dupr\xc3\xa9@Minist\xc3\xa8re.GOUV.fr",
          "\xc3\xa9lodie.dupr\xc3\xa9@minist\xc3\xa8re.gouv.fr" },
        { "email", "a+tag@sub.example.fr", "a+tag@sub.example.fr" },
        { "email", "a@b@c.fr", NULL },
        { "email", "nobody", NULL },
        { "email", "x@localhost", NULL },
        { "email", "a b@c.fr", NULL },
        { "email", "a@b.fr\r\nBcc: x@y.fr", NULL },
        { "email", "<a@b.fr>", NULL },
        { "email", "a@.fr", NULL },
        { "email", "a@b..fr", NULL },
        { "email", "a@b.fr.", NULL },
        { "email", "a@-b.fr", NULL },
        { "email", "@b.fr", NULL },
        { "msisdn", "33612345678", "33612345678" },
        { "msisdn", "+33612345678", NULL },
        { "msisdn", "1234567890123456", NULL },
        { "fax", "123", NULL },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        char *out = NULL;
        int rc = addr_normalise(cases[i].medium, cases[i].in, &out);

        if (cases[i].out == NULL) {
            if (rc != -1) {
                fail_msg("%s accepted as %s", cases[i].in, out);
            }
            assert_null(out);
        } else {
            if (rc != 0) {
                fail_msg("%s refused", cases[i].in);
            }
            assert_string_equal(out, cases[i].out);
        }
        free(out);
    }
}

static void
test_redact(void **state)
{
    struct {
        const char *in;
        long user, domain;
        const char *out;
    } cases[] = {
        { "Carol@Example.org", 3, 3, "Car...@Exa..." },
        { "1234567890@1234567890.com", 6, 8, "123456...@12345678..." },
        { "1@1.com", 6, 8, "...@1..." },
        { "abcdef@x.fr", 10, 10, "abc...@x..." },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        char *got = enr_redact_address(cases[i].in, cases[i].user, cases[i].domain);

        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

static void
test_lang_and_secrets(void **state)
{
    assert_int_equal(enr_lang_pick(NULL), ENR_LANG_FR);
    assert_int_equal(enr_lang_pick(""), ENR_LANG_FR);
    assert_int_equal(enr_lang_pick("en"), ENR_LANG_EN);
    assert_int_equal(enr_lang_pick("en-GB,en;q=0.9,fr;q=0.5"), ENR_LANG_EN);
    assert_int_equal(enr_lang_pick("de, en;q=0.4, fr;q=0.8"), ENR_LANG_FR);
    assert_int_equal(enr_lang_pick("de"), ENR_LANG_FR);
    assert_int_equal(enr_lang_pick("eng"), ENR_LANG_FR);
    assert_true(enr_client_secret_ok("abc.DEF=_-09"));
    assert_false(enr_client_secret_ok(""));
    assert_false(enr_client_secret_ok("a b"));
    assert_false(enr_client_secret_ok("a!"));
    assert_true(enr_mxid_ok("@alice:hs.test"));
    assert_true(enr_mxid_ok("@alice:hs.test:8448"));
    assert_false(enr_mxid_ok("alice:hs.test"));
    assert_false(enr_mxid_ok("@alice"));
    assert_false(enr_mxid_ok("@:hs.test"));
    assert_false(enr_mxid_ok("@a:bad host"));
    assert_true(enr_next_link_ok("https://app.test/x?y=1"));
    assert_false(enr_next_link_ok("javascript:alert(1)"));
    assert_false(enr_next_link_ok("https://a b"));
}

static int
setup(void **state)
{
    addr_init();
    return 0;
}

static int
teardown(void **state)
{
    addr_shutdown();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_lang_and_secrets),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
