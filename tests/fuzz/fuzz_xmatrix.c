/*
 * fuzz_xmatrix: the X-Matrix Authorization header parser of core/xmatrix.c
 * (parse_header, static there: the file is compiled into this target as it is).
 * Properties: a header it accepts has origin, key and sig, each NUL-terminated
 * within its field; a refused one leaves them empty or partial, never overflowing.
 */
#include <stdint.h>

#include "core/xmatrix.c" /* the parser is private to that file */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = fuzz_string(data, size);
    struct xmatrix_auth x;
    int rc = parse_header(h, &x);

    FUZZ_ASSERT(rc == 0 || rc == -1);
    FUZZ_ASSERT(memchr(x.origin, '\0', sizeof(x.origin)) != NULL);
    FUZZ_ASSERT(memchr(x.key, '\0', sizeof(x.key)) != NULL);
    FUZZ_ASSERT(memchr(x.sig, '\0', sizeof(x.sig)) != NULL);
    if (rc == 0) {
        FUZZ_ASSERT(x.origin[0] != '\0' && x.key[0] != '\0' && x.sig[0] != '\0');
        FUZZ_ASSERT(strncmp(h, "X-Matrix ", 9) == 0);
    }
    free(h);
    return 0;
}
