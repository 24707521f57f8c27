/*
 * Leveled logging to stderr: one line per event (UTC timestamp, level, message, line breaks
 * replaced), written in one write(2) so threads never interleave; log_esc() escapes control
 * characters, backslashes and quotes in client strings and cuts them at about 200 bytes.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = LOG_LEVEL_INFO;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void
log_set_level(enum log_level level)
{
    atomic_store(&min_level, (int)level);
}

int
log_enabled(enum log_level level)
{
    return (int)level <= atomic_load_explicit(&min_level, memory_order_relaxed);
}

int
log_level_parse(const char *name, enum log_level *out)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };

    for (size_t i = 0; i < ANN_ARRAY_LEN(names); i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void
log_write(enum log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t len;
    va_list ap;
    int n;

    if (!log_enabled(level)) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line + len, sizeof(line) - len, ".%03ldZ %s ", ts.tv_nsec / 1000000L,
                 level_names[level]);
    len += n > 0 ? (size_t)n : 0;
    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    len += (size_t)n;
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2; /* truncated: keep it one line */
    }
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';
        }
    }
    line[len++] = '\n';
    /* One write per line so concurrent threads never interleave inside a line. */
    (void)!write(STDERR_FILENO, line, len);
}

const char *
log_esc(const char *s, char buf[LOG_ESC_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (s == NULL) {
        return "-";
    }
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (o > 196) {
            buf[o++] = '.';
            buf[o++] = '.';
            buf[o++] = '.';
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '"') {
            buf[o++] = '\\';
            if (c == '\\' || c == '"') {
                buf[o++] = (char)c;
            } else {
                buf[o++] = 'x';
                buf[o++] = hex[c >> 4];
                buf[o++] = hex[c & 15];
            }
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o] = '\0';
    return buf;
}
