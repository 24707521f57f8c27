/* unit.core.federation: server names; unit tests of mail rendering and CIDR lists ride along. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/federation.h"
#include "core/mail.h"
#include "core/net.h"
#include "core/util.h"

struct name_case {
    const char *name, *host;
    int port;
    bool ok;
};

static void
test_server_names(void **state)
{
    static const struct name_case cases[] = {
        { "matrix.org", "matrix.org", 0, true },
        { "interieur.gouv.fr:8448", "interieur.gouv.fr", 8448, true },
        { "1.2.3.4", "1.2.3.4", 0, true },
        { "1.2.3.4:1", "1.2.3.4", 1, true },
        { "[::1]", "::1", 0, true },
        { "[2001:db8::1]:443", "2001:db8::1", 443, true },
        { "", NULL, 0, false },
        { "bad name", NULL, 0, false },
        { "a:99999", NULL, 0, false },
        { "a:", NULL, 0, false },
        { "a:-1", NULL, 0, false },
        { "[::1", NULL, 0, false },
        { "[nonsense]", NULL, 0, false },
        { "h\xc3\xa9.fr", NULL, 0, false },
        { ".leading.dot", NULL, 0, false },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        struct fed_server s;
        int rc = fed_parse_server_name(cases[i].name, &s);

        if ((rc == 0) != cases[i].ok) {
            fail_msg("%s: got %d", cases[i].name, rc);
        }
        if (cases[i].ok) {
            assert_string_equal(s.host, cases[i].host);
            assert_int_equal(s.port, cases[i].port);
        }
    }
}

static void
test_mapped_base_url(void **state)
{
    json_t *map = json_pack("{s:s}", "hs.test", "http://127.0.0.1:8008/");
    struct fetch_opts opts = { .timeout_s = 1, .max_body = 1024 };
    char *url = NULL;
    bool trusted = false;

    assert_int_equal(fed_base_url("hs.test", map, &opts, &url, &trusted), FETCH_OK);
    assert_string_equal(url, "http://127.0.0.1:8008");
    assert_true(trusted);
    free(url);
    assert_int_equal(fed_base_url("10.0.0.1:8448", map, &opts, &url, &trusted), FETCH_OK);
    assert_string_equal(url, "https://10.0.0.1:8448");
    assert_false(trusted);
    free(url);
    assert_int_equal(fed_base_url("[::1]", map, &opts, &url, &trusted), FETCH_OK);
    assert_string_equal(url, "https://[::1]:8448");
    free(url);
    json_decref(map);
}

static void
test_mail_render(void **state)
{
    static const char tmpl[] = "From: {{from}}\nTo: {{to}}\nSubject: Vérifiez {{brand}}\n\n"
                               "Bonjour {{to}},\nlien : {{link}}\n{{unknown}}\n";
    const struct util_var vars[] = { { "from", "Tchap <noreply@is.test>" },
                                     { "to", "a@b.fr" },
                                     { "brand", "Tchap" },
                                     { "link", "https://x/y?z=1" } };
    const struct util_var evil[] = { { "from", "x" }, { "to", "a@b.fr\r\nBcc: c@d.fr" } };
    char *msg = mail_render(tmpl, vars, ANN_ARRAY_LEN(vars), "is.test");

    assert_non_null(msg);
    assert_non_null(strstr(msg, "From: Tchap <noreply@is.test>\r\nTo: a@b.fr\r\n"));
    /* Non-ASCII headers are encoded words; names stay readable. */
    assert_non_null(strstr(msg, "Subject: =?UTF-8?B?"));
    assert_null(strstr(msg, "Vérifiez"));
    assert_non_null(strstr(msg, "\r\nDate: "));
    assert_non_null(strstr(msg, "\r\nMessage-ID: <"));
    assert_non_null(strstr(msg, "@is.test>\r\n"));
    assert_non_null(strstr(msg, "Content-Type: text/plain; charset=UTF-8\r\n"));
    assert_non_null(strstr(
        msg, "\r\n\r\nBonjour a@b.fr,\r\nlien : https://x/y?z=1\r\n\r\n")); /* {{unknown}}: empty */
    assert_null(strstr(msg, "{{"));
    free(msg);
    /* A value with a line break could add headers: refused. */
    assert_null(mail_render(tmpl, evil, ANN_ARRAY_LEN(evil), NULL));
    /* No blank line between headers and body. */
    assert_null(mail_render("Subject: x\nno body separator\n", vars, 1, NULL));
    msg = mail_address_of("Tchap <noreply@is.test>");
    assert_string_equal(msg, "noreply@is.test");
    free(msg);
}

static void
test_cidr(void **state)
{
    json_t *list = json_pack("[s, s, s]", "10.0.0.0/8", "192.168.1.7", "2001:db8::/32");

    assert_true(net_in_list("10.1.2.3", list));
    assert_false(net_in_list("11.1.2.3", list));
    assert_true(net_in_list("192.168.1.7", list));
    assert_false(net_in_list("192.168.1.8", list));
    assert_true(net_in_list("2001:db8:1::5", list));
    assert_false(net_in_list("2001:db9::5", list));
    assert_false(net_in_list("garbage", list));
    assert_null(net_check_cidr_list(list));
    json_decref(list);
    list = json_pack("[s]", "10.0.0.0/33");
    assert_non_null(net_check_cidr_list(list));
    json_decref(list);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_names),
        cmocka_unit_test(test_mapped_base_url),
        cmocka_unit_test(test_mail_render),
        cmocka_unit_test(test_cidr),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
