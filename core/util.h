/* Allocation wrappers and small helpers shared by every module. */
#ifndef ANN_CORE_UTIL_H
#define ANN_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#define ANN_MUST_CHECK   __attribute__((warn_unused_result))
#define ANN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ANN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The x* allocators never return NULL: they abort the process on OOM. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/** Formats into a new heap string owned by the caller. */
char *xasprintf(const char *fmt, ...) ANN_PRINTF(1, 2);

/**
 * Reads a whole file into a new NUL-terminated buffer.
 *
 * @param path      file to read
 * @param max       largest accepted size in bytes
 * @param[out] out  the contents, owned by the caller; NULL on error
 * @param[out] len  bytes read (without the terminating NUL); may be NULL
 * @return 0, or -1 with errno set (EFBIG when the file exceeds max)
 */
int util_read_file(const char *path, size_t max, char **out, size_t *len) ANN_MUST_CHECK;

/**
 * Parses a whole decimal integer within [min, max].
 * @return 0, or -1 when s is empty, has trailing characters or is out of range
 */
int util_parse_long(const char *s, long min, long max, long *out) ANN_MUST_CHECK;

/* A growable, always NUL-terminated byte buffer; zero-initialise it, free(b.p) after. */
struct util_buf {
    char *p;
    size_t len, cap;
};

/** Appends n bytes. */
void util_buf_put(struct util_buf *b, const char *s, size_t n);
/** Appends a string. */
void util_buf_puts(struct util_buf *b, const char *s);
/** Appends formatted text. */
void util_buf_printf(struct util_buf *b, const char *fmt, ...) ANN_PRINTF(2, 3);
/** The contents, handed over to the caller (never NULL); the buffer is left empty. */
char *util_buf_take(struct util_buf *b);

struct util_var {
    const char *name; /* {{name}} in a template */
    const char *value;
};

/**
 * Replaces each {{name}} of tmpl by its value (HTML-escaped when html);
 * a name that vars lacks renders empty (templates are checked for their names
 * when they load, so that is a value a request did not send).
 * @return a new string owned by the caller
 */
char *util_fill(const char *tmpl, const struct util_var *vars, size_t n_vars, bool html);

/** Whether s has a control character: C0 (U+0000 to U+001F), DEL or C1 (U+0080 to
 *  U+009F). */
bool util_has_control(const char *s);

/** Whether the len bytes at s are UTF-8 without a NUL. */
bool util_utf8_ok(const char *s, size_t len);

/**
 * s as a terminal may show it: every C0 control and DEL as \xNN, every C1 control as
 * \u00NN, a byte that is not UTF-8 as \xNN, the rest as it is. For text from the
 * database or a client that a command prints.
 * @return a new string owned by the caller; NULL when s is NULL
 */
char *util_esc_text(const char *s);

/** Monotonic clock in nanoseconds. */
long long util_now_ns(void);

/** Number of CPUs online, at least 1. */
int util_cpu_count(void);

#endif
