#include "core/address.h"

#include <locale.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "core/util.h"

static locale_t utf8;

void
addr_init(void)
{
    if (utf8 == (locale_t)0) {
        utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        if (utf8 == (locale_t)0) {
            abort(); /* glibc always has C.UTF-8 */
        }
    }
}

void
addr_shutdown(void)
{
    if (utf8 != (locale_t)0) {
        freelocale(utf8);
        utf8 = (locale_t)0;
    }
}

/* Characters never allowed in an address we mail: they could change a header or a command. */
static bool
forbidden(unsigned char c)
{
    switch (c) {
    case '<':
    case '>':
    case '(':
    case ')':
    case '[':
    case ']':
    case '\\':
    case ',':
    case ';':
    case ':':
    case '"':
    case 0x7f:
        return true;
    default:
        return c <= ' ';
    }
}

int
addr_email_normalise(const char *in, char **out)
{
    const char *at = strchr(in, '@');
    size_t len = strlen(in);
    mbstate_t st;
    locale_t old;
    char *buf;
    size_t o = 0;
    const char *p;

    *out = NULL;
    if (at == NULL || strchr(at + 1, '@') != NULL || at == in || len > 254 || at - in > 64 ||
        at[1] == '\0' || strchr(at + 1, '.') == NULL) {
        return -1;
    }
    for (p = in; *p != '\0'; p++) {
        if (forbidden((unsigned char)*p)) {
            return -1;
        }
    }
    /* Domain labels: non-empty, at most 63 bytes, no leading or trailing hyphen. */
    for (p = at + 1; *p != '\0';) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);

        if (n == 0 || n > 63 || p[0] == '-' || p[n - 1] == '-') {
            return -1;
        }
        p += n + (dot ? 1 : 0);
        if (dot != NULL && *p == '\0') {
            return -1; /* trailing dot */
        }
    }
    /* Unicode lower-casing of the whole address (the spec's case folding), in a
     * UTF-8 locale for this thread only; ASCII directly. */
    buf = xmalloc(len * 4 + 1);
    for (p = in; *p != '\0' && (unsigned char)*p < 0x80; p++) {
        buf[o++] = *p >= 'A' && *p <= 'Z' ? (char)(*p + ('a' - 'A')) : *p;
    }
    if (*p != '\0') {
        old = uselocale(utf8);
        memset(&st, 0, sizeof(st));
        while (*p != '\0') {
            wchar_t wc;
            size_t n = mbrtowc(&wc, p, len - (size_t)(p - in), &st);
            char mb[8];
            size_t m;

            if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
                break;
            }
            wc = (wchar_t)towlower((wint_t)wc);
            m = wcrtomb(mb, wc, &st);
            if (m == (size_t)-1 || m > sizeof(mb)) {
                break;
            }
            memcpy(buf + o, mb, m);
            o += m;
            p += n;
        }
        uselocale(old);
        if (*p != '\0') {
            free(buf);
            return -1;
        }
    }
    buf[o] = '\0';
    *out = buf;
    return 0;
}

int
addr_normalise(const char *medium, const char *address, char **out)
{
    size_t n = strlen(address);

    *out = NULL;
    if (strcmp(medium, "email") == 0) {
        return addr_email_normalise(address, out);
    }
    if (strcmp(medium, "msisdn") == 0 && n >= 1 && n <= 15 && strspn(address, "0123456789") == n) {
        *out = xstrdup(address); /* E.164 digits without '+' */
        return 0;
    }
    return -1;
}
