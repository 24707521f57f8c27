/*
 * The one canonical form of an e-mail address (the rule is written down in README.md,
 * "E-mail addresses"):
 *
 *   - the address is valid UTF-8 in NFC, one '@', no character that could change a
 *     mail header or an SMTP command;
 *   - every non-ASCII character is a visible, assigned character that stands for
 *     itself: no control, format, private-use, unassigned or space character, no
 *     default-ignorable code point (ZWSP, ZWJ, soft hyphen, bidi controls, variation
 *     selectors...), no compatibility character (fullwidth letters, ligatures, the
 *     Kelvin sign...), and none whose case folding contains an ASCII character (U+0130,
 *     U+017F, U+1E9E...; U+00DF in the local part);
 *   - the domain: each label through UTS 46 (libidn2, non-transitional) into its
 *     A-label form, lower-case ASCII; a label written with non-ASCII characters must
 *     stay an A-label (never an ASCII label), an ASCII label is letters, digits and
 *     hyphens
 *     (with the STD3 rules; what an A-label stands for passes the rules above), the
 *     last label not a number;
 *   - the local part: a dot-atom's dots; ASCII letters lower-cased; a non-ASCII local
 *     part case-folded (Unicode full case folding, NFC), each of its characters the same
 *     one under full folding, lower and upper case, decomposed into no ASCII but
 *     letters, no combining mark first.
 *
 * So no non-ASCII input ever shares a canonical form with an ASCII address (other than
 * its own A-label spelling), and the canonical form of a canonical form is itself
 * (checked on every non-ASCII result).
 * ASCII addresses, the bulk of a directory, take a path that calls neither library.
 */
#include "core/address.h"

#include <idn2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "core/util.h"

#define MAX_INPUT  1024 /* bytes read at all */
#define MAX_LOCAL  64   /* RFC 5321 4.5.3.1.1, bytes of the canonical local part */
#define MAX_DOMAIN 253  /* bytes of the A-label domain */
#define MAX_TOTAL  254  /* bytes of the canonical address (RFC 5321 path less <>) */
#define MAX_LABEL  63

/* UTS 46 non-transitional, with the STD3 rules: a label holds letters, digits and
 * hyphens once mapped, nothing else. */
#define IDNA_FLAGS (IDN2_NONTRANSITIONAL | IDN2_USE_STD3_ASCII_RULES)

void
addr_init(void)
{
    /* Nothing to prepare: libunistring and libidn2 need no locale. */
}

void
addr_shutdown(void)
{
}

/* ASCII characters never allowed in an address we mail: they could change a header or a
 * command. */
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

static bool
has_non_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            return true;
        }
    }
    return false;
}

static bool
ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* Appends n ASCII bytes, letters lower-cased. */
static void
put_lower(struct util_buf *b, const char *s, size_t n)
{
    char *p;

    util_buf_put(b, s, n);
    p = b->p + b->len - n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 'A' && p[i] <= 'Z') {
            p[i] = (char)(p[i] - 'A' + 'a');
        }
    }
}

/* Whether the UTF-8 text r (len bytes) has an ASCII byte; letters only when letters_ok. */
static bool
has_ascii(const uint8_t *r, size_t len, bool letters_ok)
{
    for (size_t i = 0; i < len; i++) {
        bool letter = (r[i] >= 'a' && r[i] <= 'z') || (r[i] >= 'A' && r[i] <= 'Z');

        if (r[i] < 0x80 && !(letters_ok && letter)) {
            return true;
        }
    }
    return false;
}

typedef uint8_t *(*case_map_fn)(const uint8_t *s,
                                size_t n,
                                const char *iso639_language,
                                uninorm_t nf,
                                uint8_t *resultbuf,
                                size_t *lengthp);

/* A non-ASCII character of a local part, beyond check_char's rules: mail servers
 * compare local parts in many ways (simple or full case mapping, upper or lower case,
 * decomposed), so the character must be the same one under each of them: its full
 * case folding one character, equal to its lower-case mapping; neither its upper nor
 * its lower case holding an ASCII character (U+0131 is I upper-cased, U+01F0 is J
 * and a caron); its decomposition holding no ASCII but letters (U+2260 is = and a
 * slash, U+226E is < and one). @return NULL or why not */
static const char *
check_local_char(ucs4_t uc, const uint8_t *in, size_t n)
{
    static const case_map_fn maps[] = { u8_casefold, u8_toupper, u8_tolower };
    uint8_t buf[64];
    size_t len;
    uint8_t *r;
    bool bad;

    for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
        ucs4_t one = 0;

        len = sizeof(buf);
        r = maps[m](in, n, NULL, NULL, buf, &len);
        if (r == NULL) {
            return "character that cannot be case-mapped";
        }
        bad = has_ascii(r, len, false);
        if (m == 0) {
            /* Full folding of one character into one character, the lower-case one. */
            int k = u8_mbtouc(&one, r, len);

            bad = bad || k <= 0 || (size_t)k != len || one != uc_tolower(uc);
        }
        if (r != buf) {
            free(r);
        }
        if (bad) {
            return m == 0 ? "character whose case folding is not its lower case"
                          : "non-ASCII character that folds onto ASCII";
        }
    }
    len = sizeof(buf);
    r = u8_normalize(UNINORM_NFD, in, n, buf, &len);
    if (r == NULL) {
        return "character that cannot be normalised";
    }
    bad = has_ascii(r, len, true);
    if (r != buf) {
        free(r);
    }
    return bad ? "character that decomposes into ASCII punctuation" : NULL;
}

/* One non-ASCII character of the address. @return NULL when acceptable, or why not */
static const char *
check_char(ucs4_t uc, bool in_domain)
{
    uint8_t in[6], buf[64];
    int n = u8_uctomb(in, uc, sizeof(in));
    uint8_t *r;
    size_t len = sizeof(buf);
    bool same, ascii = false;

    if (n <= 0) {
        return "not a Unicode character";
    }
    /* C: Cc Cf Cs Co Cn; Z: Zs Zl Zp. */
    if (uc_is_general_category(uc, uc_general_category_or(UC_CATEGORY_C, UC_CATEGORY_Z)) ||
        uc_is_property_default_ignorable_code_point(uc)) {
        return "invisible, control, unassigned or private-use character";
    }
    /* A compatibility character (fullwidth, ligature, Kelvin sign...) is another
     * character in disguise. */
    r = u8_normalize(UNINORM_NFKC, in, (size_t)n, buf, &len);
    if (r == NULL) {
        return "character that cannot be normalised";
    }
    same = len == (size_t)n && memcmp(r, in, len) == 0;
    if (r != buf) {
        free(r);
    }
    if (!same) {
        return "compatibility character (fullwidth, ligature...)";
    }
    /* IDNA2008 keeps U+00DF in a domain (non-transitional: faß.de is not fass.de). */
    if (in_domain && uc == 0xdf) {
        return NULL;
    }
    len = sizeof(buf);
    r = u8_casefold(in, (size_t)n, NULL, UNINORM_NFKC, buf, &len);
    if (r == NULL) {
        return "character that cannot be case-folded";
    }
    for (size_t i = 0; i < len; i++) {
        ascii = ascii || r[i] < 0x80;
    }
    if (r != buf) {
        free(r);
    }
    if (ascii) {
        return "non-ASCII character that folds onto ASCII";
    }
    return in_domain ? NULL : check_local_char(uc, in, (size_t)n);
}

/* Every non-ASCII character of s (valid UTF-8) acceptable. @return NULL or why not */
static const char *
check_chars(const char *s, size_t n, bool in_domain)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n;

    while (p < end) {
        ucs4_t uc;
        int k = u8_mbtoucr(&uc, p, (size_t)(end - p));
        const char *why;

        if (k <= 0) {
            return "not UTF-8";
        }
        if (uc >= 0x80 && (why = check_char(uc, in_domain)) != NULL) {
            return why;
        }
        p += k;
    }
    return NULL;
}

/* The canonical local part into b. @return NULL or why not */
static const char *
local_part(const char *s, size_t n, struct util_buf *b)
{
    uint8_t *folded;
    size_t len = 0, ascii_in = 0, ascii_out = 0;
    const char *why;

    if (n == 0) {
        return "empty local part";
    }
    /* A dot-atom: no dot at either end, never two in a row (RFC 5322 3.2.3). */
    if (s[0] == '.' || s[n - 1] == '.' || memmem(s, n, "..", 2) != NULL) {
        return "local part with a dot at an end or two dots in a row";
    }
    if (!has_non_ascii(s, n)) {
        put_lower(b, s, n);
        return NULL;
    }
    why = check_chars(s, n, false);
    if (why != NULL) {
        return why;
    }
    {
        ucs4_t first;

        /* A combining mark would join whatever stands before the address (<, a quote). */
        if (u8_mbtouc(&first, (const uint8_t *)s, n) > 0 &&
            uc_is_general_category(first, UC_CATEGORY_M)) {
            return "local part that starts with a combining mark";
        }
    }
    folded = u8_casefold((const uint8_t *)s, n, NULL, UNINORM_NFC, NULL, &len);
    if (folded == NULL) {
        return "local part that cannot be case-folded";
    }
    /* Folding lower-cases ASCII letters and never turns ASCII into non-ASCII; it must
     * not turn non-ASCII into ASCII either (checked per character, and here whole). */
    for (size_t i = 0; i < n; i++) {
        ascii_in += (unsigned char)s[i] < 0x80;
    }
    for (size_t i = 0; i < len; i++) {
        ascii_out += folded[i] < 0x80;
    }
    if (ascii_in != ascii_out || memchr(folded, '\0', len) != NULL) {
        free(folded);
        return "non-ASCII character that folds onto ASCII";
    }
    util_buf_put(b, (const char *)folded, len);
    free(folded);
    return NULL;
}

/* One label in its canonical form into b. @return NULL or why not */
static const char *
domain_label(const char *s, size_t n, struct util_buf *b)
{
    bool non_ascii = has_non_ascii(s, n);
    char *label, *ascii = NULL;
    size_t len;
    int rc;

    if (n == 0) {
        return "empty domain label";
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x80 && !ldh(c)) {
            return "domain with a character other than letters, digits, hyphens";
        }
    }
    if (s[0] == '-' || s[n - 1] == '-') {
        return "domain label that starts or ends with a hyphen";
    }
    if (!non_ascii && !(n >= 4 && strncasecmp(s, "xn--", 4) == 0)) {
        if (n > MAX_LABEL) {
            return "domain label over 63 bytes";
        }
        put_lower(b, s, n);
        return NULL;
    }
    /* A U-label, or an A-label to check: UTS 46 (non-transitional), then IDNA2008. */
    label = xstrndup(s, n);
    rc = idn2_lookup_u8((const uint8_t *)label, (uint8_t **)&ascii, IDNA_FLAGS);
    free(label);
    if (rc != IDN2_OK) {
        return "domain label that is not a valid IDNA name";
    }
    /* What an A-label stands for passes the same character rules as a typed U-label
     * (xn--ab-iw3n is a fullwidth @, xn--ab-1ca a no-break space). */
    {
        char *ulabel = NULL;
        const char *why = NULL;

        if (idn2_to_unicode_8z8z(ascii, &ulabel, 0) != IDN2_OK || ulabel == NULL) {
            why = "domain label that is not a valid IDNA name";
        } else if ((why = check_chars(ulabel, strlen(ulabel), true)) == NULL &&
                   !has_non_ascii(ulabel, strlen(ulabel))) {
            why = "non-ASCII domain label that maps onto an ASCII label";
        }
        free(ulabel);
        if (why != NULL) {
            idn2_free(ascii);
            return why;
        }
    }
    len = strlen(ascii);
    if (len < 5 || strncmp(ascii, "xn--", 4) != 0) {
        idn2_free(ascii);
        return "non-ASCII domain label that maps onto an ASCII label";
    }
    for (size_t i = 0; i < len; i++) {
        if (!ldh((unsigned char)ascii[i]) || (ascii[i] >= 'A' && ascii[i] <= 'Z')) {
            idn2_free(ascii);
            return "domain label that maps onto several labels"; /* U+3002 and the like */
        }
    }
    if (len > MAX_LABEL) {
        idn2_free(ascii);
        return "domain label over 63 bytes";
    }
    util_buf_put(b, ascii, len);
    idn2_free(ascii);
    return NULL;
}

/* The canonical domain into b. @return NULL or why not */
static const char *
domain_part(const char *s, size_t n, struct util_buf *b)
{
    const char *why;
    bool dot = false;
    size_t last = 0;

    if (n == 0) {
        return "empty domain";
    }
    if (has_non_ascii(s, n) && (why = check_chars(s, n, true)) != NULL) {
        return why;
    }
    for (size_t i = 0; i <= n;) {
        const char *d = memchr(s + i, '.', n - i);
        size_t end = d != NULL ? (size_t)(d - s) : n;

        if (dot) {
            util_buf_put(b, ".", 1);
        }
        last = b->len;
        why = domain_label(s + i, end - i, b);
        if (why != NULL) {
            return why;
        }
        if (d == NULL) {
            break;
        }
        dot = true;
        i = end + 1;
        if (i == n) {
            return "domain with a trailing dot";
        }
    }
    if (!dot) {
        return "domain without a dot";
    }
    /* No top-level domain is a number: 127.0.0.1 or 0x7f.1 would name a host. */
    if (strspn(b->p + last, "0123456789") == b->len - last) {
        return "domain whose last label is a number";
    }
    return NULL;
}

static int
canonical(const char *in, char **out, const char **why, bool again)
{
    size_t len = strnlen(in, MAX_INPUT + 1);
    const char *at = memchr(in, '@', len);
    const char *reason = NULL;
    struct util_buf b = { 0 };
    size_t local_len = 0;
    uint8_t *nfc = NULL;
    size_t nfc_len = 0;
    bool non_ascii = has_non_ascii(in, len);

    *out = NULL;
    if (len > MAX_INPUT) {
        reason = "address too long";
        goto cleanup;
    }
    if (at == NULL || memchr(at + 1, '@', len - (size_t)(at - in) - 1) != NULL) {
        reason = "not one '@'";
        goto cleanup;
    }
    for (size_t i = 0; i < len; i++) {
        if (forbidden((unsigned char)in[i])) {
            reason = "space, control or header character";
            goto cleanup;
        }
    }
    if (non_ascii) {
        if (u8_check((const uint8_t *)in, len) != NULL) {
            reason = "not UTF-8";
            goto cleanup;
        }
        nfc = u8_normalize(UNINORM_NFC, (const uint8_t *)in, len, NULL, &nfc_len);
        if (nfc == NULL || nfc_len != len || memcmp(nfc, in, len) != 0) {
            reason = "not in Unicode normalisation form C";
            goto cleanup;
        }
    }
    reason = local_part(in, (size_t)(at - in), &b);
    if (reason != NULL) {
        goto cleanup;
    }
    local_len = b.len;
    if (local_len > MAX_LOCAL) {
        reason = "local part over 64 bytes";
        goto cleanup;
    }
    util_buf_put(&b, "@", 1);
    reason = domain_part(at + 1, len - (size_t)(at - in) - 1, &b);
    if (reason != NULL) {
        goto cleanup;
    }
    if (b.len - local_len - 1 > MAX_DOMAIN) {
        reason = "domain over 253 bytes";
        goto cleanup;
    }
    if (b.len > MAX_TOTAL) {
        reason = "address over 254 bytes";
        goto cleanup;
    }
    *out = util_buf_take(&b);
    if (non_ascii && !again) {
        /* The canonical form must be its own canonical form. */
        char *twice = NULL;

        if (canonical(*out, &twice, NULL, true) != 0 || strcmp(twice, *out) != 0) {
            reason = "address without a stable canonical form";
            free(*out);
            *out = NULL;
        }
        free(twice);
    }
cleanup:
    free(b.p);
    free(nfc);
    if (why != NULL) {
        *why = reason;
    }
    return reason == NULL ? 0 : -1;
}

int
addr_email_check(const char *in, char **out, const char **why)
{
    return canonical(in, out, why, false);
}

int
addr_email_normalise(const char *in, char **out)
{
    return canonical(in, out, NULL, false);
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
