/*
 * Allocation wrappers that abort on OOM, reading a file with a size cap, integer parsing,
 * the clock and CPU count, a growable string buffer, and util_fill(): {{name}} substitution
 * in a template, HTML-escaped when asked, and the escaping of control characters in text a
 * command prints.
 */
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <unistr.h>

static void
die_oom(size_t n)
{
    char msg[80];
    int len = snprintf(msg, sizeof(msg), "out of memory allocating %zu bytes\n", n);

    if (len > 0) {
        (void)!write(STDERR_FILENO, msg, (size_t)len);
    }
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL) {
        die_oom(n);
    }
    return p;
}

void *
xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);

    if (p == NULL) {
        die_oom(count * size);
    }
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL) {
        die_oom(n);
    }
    return q;
}

char *
xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *out;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        abort();
    }
    out = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

int
util_read_file(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    size_t used = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    buf = xmalloc(max + 1);
    for (;;) {
        ssize_t n = read(fd, buf + used, max + 1 - used);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto fail;
        }
        if (n == 0) {
            break;
        }
        used += (size_t)n;
        if (used > max) {
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    buf[used] = '\0';
    *out = buf;
    if (len != NULL) {
        *len = used;
    }
    return 0;
fail:;
    int saved = errno;

    close(fd);
    explicit_bzero(buf, used); /* the file may be a secret */
    free(buf);
    errno = saved;
    return -1;
}

int
util_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0') {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

long long
util_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
util_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : (n > INT_MAX ? INT_MAX : (int)n);
}

/* Room for n more bytes and the terminating NUL. */
static void
buf_reserve(struct util_buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;

    if (b->len + n + 1 <= b->cap) {
        return;
    }
    while (b->len + n + 1 > cap) {
        cap *= 2;
    }
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void
util_buf_put(struct util_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
util_buf_puts(struct util_buf *b, const char *s)
{
    util_buf_put(b, s, strlen(s));
}

void
util_buf_printf(struct util_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *
util_buf_take(struct util_buf *b)
{
    char *p = b->p ? b->p : xstrdup("");

    memset(b, 0, sizeof(*b));
    return p;
}

static void
put_escaped(struct util_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        const char *e = *s == '<'    ? "&lt;"
                        : *s == '>'  ? "&gt;"
                        : *s == '&'  ? "&amp;"
                        : *s == '"'  ? "&quot;"
                        : *s == '\'' ? "&#39;"
                                     : NULL;

        if (e != NULL) {
            util_buf_puts(b, e);
        } else {
            util_buf_put(b, s, 1);
        }
    }
}

char *
util_fill(const char *tmpl, const struct util_var *vars, size_t n_vars, bool html)
{
    struct util_buf b = { 0 };
    const char *p = tmpl;

    for (;;) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        size_t i;

        if (close == NULL) {
            util_buf_puts(&b, p);
            break;
        }
        util_buf_put(&b, p, (size_t)(open - p));
        for (i = 0; i < n_vars; i++) {
            if (strlen(vars[i].name) == (size_t)(close - open - 2) &&
                strncmp(vars[i].name, open + 2, (size_t)(close - open - 2)) == 0) {
                break;
            }
        }
        if (i == n_vars) {
            /* a variable the caller lacks renders empty: no placeholder reaches a reader */
        } else if (html) {
            put_escaped(&b, vars[i].value);
        } else {
            util_buf_puts(&b, vars[i].value);
        }
        p = close + 2;
    }
    return util_buf_take(&b);
}

bool
util_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        /* UTF-8 spells U+0080 to U+009F as C2 80 to C2 9F. */
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            return true;
        }
    }
    return false;
}

bool
util_utf8_ok(const char *s, size_t len)
{
    return memchr(s, '\0', len) == NULL && u8_check((const uint8_t *)s, len) == NULL;
}

char *
util_esc_text(const char *s)
{
    struct util_buf b = { 0 };
    const uint8_t *p, *end;

    if (s == NULL) {
        return NULL;
    }
    p = (const uint8_t *)s;
    end = p + strlen(s);
    while (p < end) {
        ucs4_t uc;
        int n = u8_mbtoucr(&uc, p, (size_t)(end - p));

        if (n <= 0) {
            util_buf_printf(&b, "\\x%02x", *p);
            n = 1;
        } else if (uc < 0x20 || uc == 0x7f) {
            util_buf_printf(&b, "\\x%02x", (unsigned)uc);
        } else if (uc >= 0x80 && uc <= 0x9f) {
            util_buf_printf(&b, "\\u%04x", (unsigned)uc);
        } else {
            util_buf_put(&b, (const char *)p, (size_t)n);
        }
        p += n;
    }
    return util_buf_take(&b);
}
