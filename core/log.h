/* Leveled logging to stderr, one line per event. Never pass a secret. */
#ifndef ANN_CORE_LOG_H
#define ANN_CORE_LOG_H

#include <stddef.h>

#include "core/util.h"

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

/** Sets the lowest level that is written (default INFO). Thread-safe. */
void log_set_level(enum log_level level);
/** Whether a message at this level would be written. */
int log_enabled(enum log_level level);
/** Parses "error", "warn", "info" or "debug". @return 0 or -1 */
int log_level_parse(const char *name, enum log_level *out) ANN_MUST_CHECK;

void log_write(enum log_level level, const char *fmt, ...) ANN_PRINTF(2, 3);

#define log_err(...)  log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                               \
    do {                                             \
        if (log_enabled(LOG_LEVEL_DEBUG)) {          \
            log_write(LOG_LEVEL_DEBUG, __VA_ARGS__); \
        }                                            \
    } while (0)
/** A "cannot happen" condition met at run time: logged at ERROR with its place. */
#define log_bug(msg) log_write(LOG_LEVEL_ERROR, "BUG %s:%d: %s", __FILE__, __LINE__, (msg))

/** Size of a buffer that always holds the output of log_esc(). */
#define LOG_ESC_SIZE 208

/**
 * Makes a client-supplied string safe for one log line: control characters,
 * backslashes and quotes are escaped and the result is cut at 200 bytes.
 *
 * @param s    string to escape (NULL gives "-")
 * @param buf  caller storage of LOG_ESC_SIZE bytes
 * @return buf
 */
const char *log_esc(const char *s, char buf[LOG_ESC_SIZE]);

#endif
