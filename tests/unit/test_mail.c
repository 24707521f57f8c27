/* unit.core.mail: the mail renderer on header values that are not UTF-8, long and
 * encoded headers read back, over-long body lines broken and over-long headers refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/mail.h"
#include "core/util.h"

/* The value of header name (the first one) in msg, its encoded words decoded. */
static char *
header_value(const char *msg, const char *name)
{
    struct util_buf b = { 0 };
    const char *p = strstr(msg, name);
    const char *end;

    assert_non_null(p);
    p += strlen(name);
    end = strstr(p, "\r\n");
    while (end[2] == ' ') { /* folded */
        end = strstr(end + 2, "\r\n");
    }
    while (p < end) {
        if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
            const char *close = strstr(p + 10, "?=");
            unsigned char *raw = NULL;
            size_t len = 0;

            assert_non_null(close);
            assert_int_equal(
                cx_b64_decode(p + 10, (size_t)(close - p - 10), CX_B64_STD, &raw, &len), 0);
            util_buf_put(&b, (const char *)raw, len);
            free(raw);
            p = close + 2;
            if (strncmp(p, "\r\n ", 3) == 0) {
                p += 3;
            }
        } else {
            util_buf_put(&b, p, 1);
            p++;
        }
    }
    return util_buf_take(&b);
}

/* Header lines end in CRLF within RFC 5322's 998 characters; encoded words are at most
 * 75 characters (RFC 2047). */
static void
assert_header_lines_short(const char *msg)
{
    const char *body = strstr(msg, "\r\n\r\n");

    assert_non_null(body);
    for (const char *p = msg; p < body + 2;) {
        const char *nl = strstr(p, "\r\n");

        const char *w = p;

        assert_true((size_t)(nl - p) <= 998);
        while ((w = strstr(w, "=?UTF-8?B?")) != NULL && w < nl) {
            assert_true(strstr(w, "?=") + 2 - w <= 75);
            w += 10;
        }
        p = nl + 2;
    }
}

static void
test_invalid_utf8_header(void **state)
{
    char subject[200];
    char tmpl[300];
    char *msg;
    char *back;

    alarm(10); /* a renderer that loops fails here, not at the CTest timeout */
    /* 150 continuation bytes: no character boundary anywhere. */
    memset(subject, 0x80, 150);
    subject[150] = '\0';
    snprintf(tmpl, sizeof(tmpl), "Subject: %s\n\nbody\n", subject);
    msg = mail_render(tmpl, NULL, 0, "is.test");
    assert_non_null(msg);
    assert_header_lines_short(msg);
    back = header_value(msg, "Subject: ");
    assert_string_equal(back, subject);
    free(back);
    free(msg);

    /* The same from a configured value ({{brand}}): lead bytes without their sequence. */
    memset(subject, 0xe9, 100);
    memset(subject + 100, 0x80, 50);
    subject[150] = '\0';
    {
        const struct util_var vars[] = { { "brand", subject } };

        msg = mail_render("Subject: {{brand}} \xc3\xa9\n\nbody\n", vars, 1, "is.test");
    }
    assert_non_null(msg);
    assert_header_lines_short(msg);
    back = header_value(msg, "Subject: ");
    assert_int_equal(strncmp(back, subject, 150), 0);
    assert_string_equal(back + 150, " \xc3\xa9");
    free(back);
    free(msg);
    alarm(0);
}

static void
test_long_utf8_header(void **state)
{
    struct util_buf b = { 0 };
    char *value;
    char *tmpl;
    char *msg;
    char *back;

    /* Two-, three- and four-byte characters, cut only between characters. */
    for (int i = 0; i < 40; i++) {
        util_buf_puts(&b,
                      i % 3 == 0 ? "\xc3\xa9" : (i % 3 == 1 ? "\xe2\x82\xac" : "\xf0\x9f\x98\x80"));
    }
    value = util_buf_take(&b);
    tmpl = xasprintf("Subject: %s\n\nbody\n", value);
    msg = mail_render(tmpl, NULL, 0, NULL);
    assert_non_null(msg);
    assert_header_lines_short(msg);
    back = header_value(msg, "Subject: ");
    assert_string_equal(back, value);
    /* Each encoded word holds whole characters. */
    for (const char *p = strstr(msg, "=?UTF-8?B?"); p != NULL; p = strstr(p + 1, "=?UTF-8?B?")) {
        const char *close = strstr(p + 10, "?=");
        unsigned char *raw = NULL;
        size_t len = 0;

        assert_int_equal(cx_b64_decode(p + 10, (size_t)(close - p - 10), CX_B64_STD, &raw, &len),
                         0);
        assert_true(len > 0);
        assert_int_not_equal(raw[0] & 0xc0, 0x80);
        free(raw);
    }
    free(back);
    free(msg);
    free(tmpl);
    free(value);
}

static void
test_line_ends(void **state)
{
    char *msg = mail_render("\nSubject: a\rb\r\nX-A: 1\n\nline\r.\r\nend\rx", NULL, 0, "is.test");
    const char *body;

    assert_non_null(msg);
    /* CRLF only: no CR or LF alone (a bare CR ends a line for some relays only). */
    for (size_t i = 0; msg[i] != '\0'; i++) {
        assert_true(msg[i] != '\r' || msg[i + 1] == '\n');
        assert_true(msg[i] != '\n' || (i > 0 && msg[i - 1] == '\r'));
    }
    /* The leading empty line does not end the headers before they start. */
    assert_int_equal(strncmp(msg, "Subject: ab\r\nX-A: 1\r\nDate: ", 27), 0);
    body = strstr(msg, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "line.\r\nendx\r\n");
    free(msg);
    /* The domain goes into the Message-ID header: as it is only when that is safe. */
    msg = mail_render("Subject: a\n\nb\n", NULL, 0, "is.test\r\nBcc: x@y");
    assert_non_null(msg);
    assert_null(strstr(msg, "Bcc"));
    assert_non_null(strstr(msg, "@localhost>\r\n"));
    free(msg);
    msg = mail_render("Subject: a\n\nb\n", NULL, 0,
                      "b\xc3\xbc"
                      "cher.de");
    assert_non_null(strstr(msg, "@localhost>\r\n"));
    free(msg);
}

static void
test_header_shapes(void **state)
{
    char *msg = mail_render("From: Agence \xc3\xa9t\xc3\xa9 <noreply@is.test>\n"
                            "Subject: Caf\xc3\xa9\n\tsuite \xc3\xa9\n\nb\n",
                            NULL, 0, "is.test");
    char *v;

    assert_non_null(msg);
    /* The address stays readable, outside the encoded word. */
    assert_non_null(strstr(msg, "From: =?UTF-8?B?"));
    assert_non_null(strstr(msg, "?= <noreply@is.test>\r\n"));
    v = header_value(msg, "From: ");
    assert_string_equal(v, "Agence \xc3\xa9t\xc3\xa9 <noreply@is.test>");
    free(v);
    /* A folded line is encoded after its white space. */
    assert_non_null(strstr(msg, "\r\n\t=?UTF-8?B?"));
    free(msg);
    /* An address is never an encoded word: a non-ASCII local part goes as UTF-8, alone
     * or after a display name, exactly as the recipient. */
    msg = mail_render("To: \xc3\xa9lodie@culture.gouv.fr\nCc: \xc3\x89lodie \xc3\xa9 "
                      "<\xc3\xa9lodie@culture.gouv.fr>\n\nb\n",
                      NULL, 0, "is.test");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "To: \xc3\xa9lodie@culture.gouv.fr\r\n"));
    assert_non_null(strstr(msg, "?= <\xc3\xa9lodie@culture.gouv.fr>\r\n"));
    free(msg);
    /* Lines that are not headers. */
    assert_null(mail_render("Subj\xc3\xa9t: x\n\nb\n", NULL, 0, NULL));
    assert_null(mail_render("Subject x\n\nb\n", NULL, 0, NULL));
    assert_null(mail_render(": x\n\nb\n", NULL, 0, NULL));
    assert_null(mail_render("Sub ject: x\n\nb\n", NULL, 0, NULL));
}

/* Renders "Subject: a\n\n{{note}}\nend\n" with note; asserts that every line of the
 * message is within SMTP's 998 octets (997 when it starts with a dot, which SMTP
 * doubles) and that the body's lines put back together are the note and "end".
 * @return the message's body lines, as many as there are, in lines (at most 16) */
static size_t
render_note(const char *note, char *lines[16])
{
    const struct util_var vars[] = { { "note", note } };
    char *msg = mail_render("Subject: a\n\n{{note}}\nend\n", vars, 1, "is.test");
    struct util_buf joined = { 0 };
    const char *p;
    size_t n = 0;
    char *text;

    assert_non_null(msg);
    for (p = msg; *p != '\0';) {
        const char *nl = strstr(p, "\r\n");

        assert_non_null(nl);
        assert_true((size_t)(nl - p) <= (*p == '.' ? 997u : 998u));
        p = nl + 2;
    }
    p = strstr(msg, "\r\n\r\n") + 4;
    while (*p != '\0') {
        const char *nl = strstr(p, "\r\n");

        assert_true(n < 16);
        lines[n++] = xstrndup(p, (size_t)(nl - p));
        util_buf_put(&joined, p, (size_t)(nl - p));
        p = nl + 2;
    }
    text = util_buf_take(&joined);
    assert_true(n >= 2 && strcmp(lines[n - 1], "end") == 0);
    assert_int_equal(strlen(text), strlen(note) + 3);
    assert_int_equal(memcmp(text, note, strlen(note)), 0);
    free(text);
    free(msg);
    return n - 1;
}

static void
free_lines(char *lines[16], size_t n)
{
    for (size_t i = 0; i <= n; i++) {
        free(lines[i]);
    }
}

static char *
repeat(const char *s, size_t times)
{
    struct util_buf b = { 0 };

    for (size_t i = 0; i < times; i++) {
        util_buf_puts(&b, s);
    }
    return util_buf_take(&b);
}

static void
test_long_body_lines(void **state)
{
    char *lines[16];
    char *note;
    size_t n;

    alarm(10);
    /* 500 emoji (2000 octets, no space): cut between characters, as late as fits. */
    note = repeat("\xf0\x9f\x98\x80", 500);
    n = render_note(note, lines);
    assert_int_equal(n, 3);
    assert_int_equal(strlen(lines[0]), 996);
    assert_int_equal(strlen(lines[1]), 996);
    assert_int_equal(strlen(lines[2]), 8);
    free_lines(lines, n);
    free(note);
    /* Cyrillic words: after the last space within the limit, the space kept. */
    note = repeat("\xd1\x81\xd0\xbb\xd0\xbe\xd0\xb2\xd0\xbe ", 200); /* "слово " x 200 */
    n = render_note(note, lines);
    assert_int_equal(n, 3);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(strlen(lines[i]), 90 * 11);
        assert_int_equal(lines[i][strlen(lines[i]) - 1], ' ');
    }
    free_lines(lines, n);
    free(note);
    /* 998 octets stay one line; one more goes on the next; a leading dot takes one. */
    note = repeat("a", 998);
    assert_int_equal(render_note(note, lines), 1);
    free_lines(lines, 1);
    free(note);
    note = repeat("a", 999);
    n = render_note(note, lines);
    assert_int_equal(n, 2);
    assert_string_equal(lines[1], "a");
    free_lines(lines, n);
    free(note);
    note = repeat(".", 1000);
    n = render_note(note, lines);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(lines[0]), 997);
    free_lines(lines, n);
    free(note);
    /* Not UTF-8: continuation bytes only, cut where the limit is. */
    note = repeat("\x80", 2000);
    n = render_note(note, lines);
    assert_int_equal(n, 3);
    assert_int_equal(strlen(lines[0]), 998);
    free_lines(lines, n);
    free(note);
    alarm(0);
}

static void
test_long_header_refused(void **state)
{
    char *value = repeat("a", 990);
    const struct util_var vars[] = { { "inviter", value } };
    char *msg;

    /* A header line over 998 octets cannot be broken: no message. */
    assert_null(mail_render("Subject: {{inviter}}\n\nb\n", vars, 1, "is.test"));
    assert_null(mail_render("Subject: b\nFrom: {{inviter}} <a@b>\n\nb\n", vars, 1, "is.test"));
    /* 998 octets exactly, and the same value in the body, are fine. */
    value[989] = '\0';
    msg = mail_render("Subject: {{inviter}}\n\n{{inviter}}{{inviter}}\n", vars, 1, "is.test");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "Subject: aaa"));
    free(msg);
    free(value);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_utf8_header), cmocka_unit_test(test_long_utf8_header),
        cmocka_unit_test(test_line_ends),           cmocka_unit_test(test_header_shapes),
        cmocka_unit_test(test_long_body_lines),     cmocka_unit_test(test_long_header_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
