/*
 * fuzz_mail: the mail renderer (core/mail.c mail_render) and what enroll/templates.c
 * parses around it (Accept-Language, next_link hosts).
 *
 * Input: the template, then the values of {{from}} {{to}} {{address}} {{link}}
 * {{token}} {{brand}}, the sender's domain (for the Message-ID), an Accept-Language
 * header and a next_link, separated by NUL bytes (missing ones are empty). Properties, besides no
 * crash, hang or leak:
 * - a value with a line break is refused (it could add headers);
 * - a rendered message has CRLF line ends only (no bare CR or LF), a header section
 *   with Date and Message-ID, of header lines ("name:" or folded) in ASCII within 998
 *   bytes (unit.core.mail checks the encoded words themselves), and body lines within
 *   998 bytes too, 997 when one starts with a dot (SMTP doubles it).
 */
#include <stdint.h>
#include <strings.h>

#include "core/cfg.h"
#include "core/mail.h"
#include "core/util.h"
#include "enroll/enroll.h"
#include "enroll/internal.h"
#include "tests/fuzz/fuzz.h"

#define N_VARS 6

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char conf[] = "validation:\n  next_link_domains: [\"app.test\", \"[::1]\"]\n";
    char path[64];
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;
    int fd = fuzz_file((const uint8_t *)conf, sizeof(conf) - 1, path);

    cfg_register(enr_config_sections, enr_config_n_sections); /* validation.* */

    if (cfg_load(path, &cfg, err) != 0) {
        fprintf(stderr, "fuzz_mail: %s\n", err);
        abort();
    }
    close(fd);
    cfg_install(cfg);
    return 0;
}

/* Whether the header line p (n bytes) is (or continues) an address header whose
 * non-ASCII bytes all stand in its address part. */
static bool
raw_address_line(const char *p, size_t n, bool *address_header)
{
    static const char *const names[] = { "From:", "To:", "Cc:", "Reply-To:", "Sender:" };
    const char *v = NULL, *addr;

    if (p[0] == ' ' || p[0] == '\t') {
        v = *address_header ? p : NULL; /* a continuation of the header before */
    } else {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (n >= strlen(names[i]) && strncasecmp(p, names[i], strlen(names[i])) == 0) {
                v = p + strlen(names[i]);
            }
        }
        *address_header = v != NULL;
    }
    if (v == NULL) {
        return false;
    }
    addr = memrchr(v, '<', n - (size_t)(v - p));
    if (addr == NULL) {
        while (v < p + n && *v == ' ') {
            v++;
        }
        return memchr(v, '@', n - (size_t)(v - p)) != NULL &&
               memchr(v, ' ', n - (size_t)(v - p)) == NULL;
    }
    for (const char *c = p; c < addr; c++) {
        if ((unsigned char)*c >= 0x80) {
            return false;
        }
    }
    return true;
}

static void
check_message(const char *msg)
{
    size_t len = strlen(msg);
    const char *body = strstr(msg, "\r\n\r\n");
    bool has_date = false, has_id = false, address_header = false;

    FUZZ_ASSERT(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n');
    for (size_t i = 0; i < len; i++) {
        FUZZ_ASSERT(msg[i] != '\r' || msg[i + 1] == '\n');
        FUZZ_ASSERT(msg[i] != '\n' || (i > 0 && msg[i - 1] == '\r'));
    }
    FUZZ_ASSERT(body != NULL);
    for (const char *p = msg; p < body + 2;) {
        const char *nl = strstr(p, "\r\n");
        size_t n = (size_t)(nl - p);
        const char *colon = memchr(p, ':', n);

        FUZZ_ASSERT(n <= 998 && n > 0);
        FUZZ_ASSERT(p[0] == ' ' || p[0] == '\t' || (colon != NULL && colon > p));
        /* Non-ASCII text is encoded, but for an address of an address header, which
         * goes as UTF-8 (RFC 6532): after its last '<', or the whole value when it
         * holds an '@' and no blank. */
        if (raw_address_line(p, n, &address_header)) {
            FUZZ_ASSERT(fuzz_utf8_ok(p, n));
        } else {
            for (size_t i = 0; i < n; i++) {
                FUZZ_ASSERT((unsigned char)p[i] < 0x80);
            }
        }
        has_date |= strncasecmp(p, "Date:", 5) == 0;
        has_id |= strncasecmp(p, "Message-ID:", 11) == 0;
        p = nl + 2;
    }
    FUZZ_ASSERT(has_date && has_id);
    for (const char *p = body + 4; *p != '\0';) {
        const char *nl = strstr(p, "\r\n");

        FUZZ_ASSERT((size_t)(nl - p) <= (p[0] == '.' ? 997u : 998u));
        p = nl + 2;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[N_VARS] = { "from", "to", "address", "link", "token", "brand" };
    char *in = malloc(size + 1);
    const char *parts[N_VARS + 4];
    struct util_var vars[N_VARS];
    size_t n_parts = 0;
    bool breaks = false;
    char *msg;

    if (in == NULL) {
        abort();
    }
    memcpy(in, data, size);
    in[size] = '\0';
    /* Split at NUL bytes. */
    for (size_t i = 0; n_parts < ANN_ARRAY_LEN(parts);) {
        parts[n_parts++] = in + i;
        i += strlen(in + i) + 1;
        if (i > size) {
            break;
        }
    }
    for (size_t i = n_parts; i < ANN_ARRAY_LEN(parts); i++) {
        parts[i] = "";
    }
    for (size_t i = 0; i < N_VARS; i++) {
        vars[i].name = names[i];
        vars[i].value = parts[1 + i];
        breaks |= strpbrk(vars[i].value, "\r\n") != NULL;
    }
    msg = mail_render(parts[0], vars, N_VARS,
                      parts[N_VARS + 1][0] != '\0' ? parts[N_VARS + 1] : NULL);
    if (breaks) {
        FUZZ_ASSERT(msg == NULL);
    }
    if (msg != NULL) {
        check_message(msg);
    }
    free(msg);
    FUZZ_ASSERT((unsigned)enr_lang_pick(parts[N_VARS + 2]) < ENR_LANG__COUNT);
    if (enr_next_link_ok(parts[N_VARS + 3])) {
        (void)enr_next_link_allowed(parts[N_VARS + 3]);
    }
    free(in);
    return 0;
}
