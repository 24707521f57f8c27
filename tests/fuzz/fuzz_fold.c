/*
 * fuzz_fold: core/fold.c fold_text(), the folding rule of directory search, on any bytes
 * (NUL bytes included). Properties, besides no crash, leak or undefined behaviour, in
 * both apostrophe modes:
 * - the output is only [a-z0-9 ], with no space at either end and never two in a row;
 * - it is no longer than the input (the output buffer is exactly n + 1 bytes) and its
 *   length is what fold_text returns;
 * - folding the output again gives it back (idempotence);
 * - the two modes agree but for spaces: the split output without its spaces is the
 *   joined output without its spaces.
 */
#include <stdint.h>

#include "core/fold.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
check_output(const char *out, size_t len, size_t size)
{
    FUZZ_ASSERT(len <= size);
    FUZZ_ASSERT(strlen(out) == len);
    FUZZ_ASSERT(strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789 ") == len);
    FUZZ_ASSERT(len == 0 || (out[0] != ' ' && out[len - 1] != ' '));
    FUZZ_ASSERT(strstr(out, "  ") == NULL);
    return len;
}

/* s without its spaces, in place. */
static void
squeeze(char *s)
{
    char *w = s;

    for (; *s != '\0'; s++) {
        if (*s != ' ') {
            *w++ = *s;
        }
    }
    *w = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out[2], *again;
    enum fold_apos modes[2] = { FOLD_APOS_JOIN, FOLD_APOS_SPLIT };

    for (int m = 0; m < 2; m++) {
        size_t len;

        out[m] = malloc(size + 1);
        FUZZ_ASSERT(out[m] != NULL);
        len = check_output(out[m], fold_text((const char *)data, size, out[m], modes[m]), size);
        again = malloc(len + 1);
        FUZZ_ASSERT(again != NULL);
        FUZZ_ASSERT(fold_text(out[m], len, again, modes[m]) == len);
        FUZZ_ASSERT(memcmp(again, out[m], len + 1) == 0);
        free(again);
    }
    squeeze(out[0]);
    squeeze(out[1]);
    FUZZ_ASSERT(strcmp(out[0], out[1]) == 0);
    free(out[0]);
    free(out[1]);
    return 0;
}
