/* unit.directory.address and unit.enroll.text: the canonical form of addresses (the table
 * in data/address/email.txt), invite display names, Accept-Language, client secrets. */
#include <ctype.h>
#include <idn2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/address.h"
#include "core/util.h"
#include "directory/directory.h"
#include "enroll/internal.h"

/* --- the table of tests/unit/data/address/email.txt ------------------------- */

static int
hex_value(const char *s, int n, unsigned long *out)
{
    char buf[9];
    char *end;

    if (n > 8 || (int)strnlen(s, (size_t)n) < n) {
        return -1;
    }
    memcpy(buf, s, (size_t)n);
    buf[n] = '\0';
    *out = strtoul(buf, &end, 16);
    return *end == '\0' ? 0 : -1;
}

static void
put_utf8(struct util_buf *b, unsigned long c)
{
    char u[4];
    size_t n;

    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xc0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xe0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[2] = (char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[3] = (char)(0x80 | (c & 0x3f));
        n = 4;
    }
    util_buf_put(b, u, n);
}

/* The escapes of the table into bytes. @return a new string, or NULL on a bad escape */
static char *
unescape(const char *s, size_t n)
{
    struct util_buf b = { 0 };
    size_t i = 0;

    while (i < n) {
        unsigned long c;

        if (s[i] == '{') {
            char *end;
            unsigned long count = strtoul(s + i + 1, &end, 10);

            if (end[0] != '*' || end[1] == '\0' || end[2] != '}') {
                free(b.p);
                return NULL;
            }
            for (unsigned long k = 0; k < count; k++) {
                util_buf_put(&b, end + 1, 1);
            }
            i = (size_t)(end + 3 - s);
            continue;
        }
        if (s[i] != '\\' || i + 1 >= n) {
            util_buf_put(&b, s + i++, 1);
            continue;
        }
        switch (s[i + 1]) {
        case 'u':
        case 'U':
            if (hex_value(s + i + 2, s[i + 1] == 'u' ? 4 : 8, &c) != 0) {
                free(b.p);
                return NULL;
            }
            put_utf8(&b, c);
            i += s[i + 1] == 'u' ? 6 : 10;
            break;
        case 'x':
            if (hex_value(s + i + 2, 2, &c) != 0) {
                free(b.p);
                return NULL;
            }
            util_buf_put(&b, (const char[]){ (char)c }, 1);
            i += 4;
            break;
        case 'r':
        case 'n':
        case 't':
        case '\\':
            util_buf_put(&b,
                         s[i + 1] == 'r'   ? "\r"
                         : s[i + 1] == 'n' ? "\n"
                         : s[i + 1] == 't' ? "\t"
                                           : "\\",
                         1);
            i += 2;
            break;
        default:
            free(b.p);
            return NULL;
        }
    }
    return util_buf_take(&b);
}

static bool
is_ascii(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s >= 0x80) {
            return false;
        }
    }
    return true;
}

/* What every accepted address must satisfy, whatever the table says. */
static void
check_properties(const char *in, const char *out, long line)
{
    const char *at = strchr(out, '@');
    char *again = NULL;
    const char *why = NULL;

    if (at == NULL || strchr(at + 1, '@') != NULL) {
        fail_msg("line %ld: %s has not one '@'", line, out);
    }
    if (!is_ascii(at + 1)) {
        fail_msg("line %ld: domain of %s not ASCII", line, out);
    }
    for (const char *c = at + 1; *c != '\0'; c++) {
        if (*c >= 'A' && *c <= 'Z') {
            fail_msg("line %ld: domain of %s not lower case", line, out);
        }
    }
    if (strlen(out) > 254 || at - out > 64) {
        fail_msg("line %ld: %s too long", line, out);
    }
    /* canonical(canonical(x)) == canonical(x) */
    if (addr_email_check(out, &again, &why) != 0) {
        fail_msg("line %ld: the canonical form %s is refused (%s)", line, out, why);
    }
    assert_string_equal(again, out);
    free(again);
    /* The ASCII path gives what UTS 46 gives for an ASCII domain. */
    if (is_ascii(in)) {
        char *idna = NULL;

        if (idn2_lookup_u8((const uint8_t *)strchr(in, '@') + 1, (uint8_t **)&idna,
                           IDN2_NONTRANSITIONAL) == IDN2_OK) {
            assert_string_equal(idna, at + 1);
        }
        idn2_free(idna);
    }
}

/* An ASCII local part, or an ASCII domain without A-labels: what a non-ASCII input must
 * never collide with. */
static bool
plain_ascii(const char *in, bool domain)
{
    const char *at = strchr(in, '@');
    char *part = domain ? xstrdup(at + 1) : xstrndup(in, (size_t)(at - in));
    bool plain = is_ascii(part);

    for (char *c = part; domain && plain && *c != '\0'; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    plain = plain && !(domain && (strncmp(part, "xn--", 4) == 0 || strstr(part, ".xn--") != NULL));
    free(part);
    return plain;
}

/* Two accepted inputs with one canonical form: if either part of one is plain ASCII, the
 * other's is ASCII too (they differ by ASCII case, or are the U-label and A-label forms
 * of one domain). */
static void
check_collisions(char *const *in, char *const *out, const long *lines, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            const char *ai = strchr(in[i], '@'), *aj = strchr(in[j], '@');

            if (strcmp(out[i], out[j]) != 0) {
                continue;
            }
            if ((plain_ascii(in[i], false) != plain_ascii(in[j], false)) ||
                (plain_ascii(in[i], true) && !is_ascii(aj + 1)) ||
                (plain_ascii(in[j], true) && !is_ascii(ai + 1))) {
                fail_msg("lines %ld and %ld collide on %s", lines[i], lines[j], out[i]);
            }
        }
    }
}

static void
test_email_table(void **state)
{
    enum {
        MAX_CASES = 512
    };
    char *ins[MAX_CASES], *outs[MAX_CASES];
    long lines[MAX_CASES];
    int n_ok = 0;
    char *text = NULL;
    size_t len = 0;
    long line = 0;
    int cases = 0, failures = 0;

    assert_int_equal(util_read_file(ANN_TEST_DATA "/address/email.txt", 1 << 20, &text, &len), 0);
    for (char *p = text; *p != '\0';) {
        char *nl = strchr(p, '\n');
        char *end = nl ? nl : p + strlen(p);
        char *tab = memchr(p, '\t', (size_t)(end - p));
        char *in, *want, *got = NULL;
        const char *why = NULL;
        int rc;

        line++;
        if (p == end || *p == '#') {
            p = nl ? nl + 1 : end;
            continue;
        }
        if (tab == NULL) {
            fail_msg("line %ld: no tab", line);
        }
        in = unescape(p, (size_t)(tab - p));
        want = unescape(tab + 1, (size_t)(end - tab - 1));
        if (in == NULL || want == NULL) {
            fail_msg("line %ld: bad escape", line);
        }
        rc = addr_email_check(in, &got, &why);
        cases++;
        if (want[0] == '!') {
            if (rc != -1 || got != NULL) {
                print_error("line %ld: %.*s accepted as %s\n", line, (int)(tab - p), p, got);
                failures++;
            } else if (want[1] != '\0' && strstr(why, want + 1) == NULL) {
                print_error("line %ld: %.*s refused as '%s', not for '%s'\n", line, (int)(tab - p),
                            p, why, want + 1);
                failures++;
            }
        } else if (rc != 0) {
            print_error("line %ld: %.*s refused (%s)\n", line, (int)(tab - p), p, why);
            failures++;
        } else if (strcmp(got, want) != 0) {
            print_error("line %ld: %.*s gave %s\n", line, (int)(tab - p), p, got);
            failures++;
        } else {
            check_properties(in, got, line);
            assert_true(n_ok < MAX_CASES);
            ins[n_ok] = in;
            outs[n_ok] = got;
            lines[n_ok++] = line;
            in = got = NULL;
        }
        free(got);
        free(in);
        free(want);
        p = nl ? nl + 1 : end;
    }
    free(text);
    assert_true(cases > 50);
    assert_int_equal(failures, 0);
    check_collisions(ins, outs, lines, n_ok);
    for (int i = 0; i < n_ok; i++) {
        free(ins[i]);
        free(outs[i]);
    }
}

/* Spellings of one address that must share its canonical form. */
static void
test_same_address(void **state)
{
    static const char *const same[][2] = {
        { "a@B\xc3\x9c"
          "CHER.de",
          "a@xn--bcher-kva.de" },
        { "a@b\xc3\xbc"
          "cher.de",
          "A@XN--BCHER-KVA.DE" },
        { "\xc3\x89LODIE@x.fr", "\xc3\xa9lodie@X.FR" },
        { "Alice@Example.ORG", "alice@example.org" },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(same); i++) {
        char *a = NULL, *b = NULL;

        assert_int_equal(addr_email_normalise(same[i][0], &a), 0);
        assert_int_equal(addr_email_normalise(same[i][1], &b), 0);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
}

static void
test_normalise_medium(void **state)
{
    struct {
        const char *medium, *in, *out; /* out NULL: refused */
    } cases[] = {
        { "email", "Alice@Example.ORG", "alice@example.org" },
        { "email", "bob@gma\xc4\xb0l.com", NULL },
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_table),      cmocka_unit_test(test_same_address),
        cmocka_unit_test(test_normalise_medium), cmocka_unit_test(test_redact),
        cmocka_unit_test(test_lang_and_secrets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
