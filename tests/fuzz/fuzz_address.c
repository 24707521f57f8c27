/*
 * fuzz_address: core/address.c addr_email_normalise(), the one canonical form of an
 * e-mail address. Properties, besides no crash, leak or undefined behaviour:
 * - the output is valid UTF-8, bounded (at most 254 bytes, as the input), with no
 *   control character, space or ASCII upper case;
 * - it is canonical: normalising it again gives it back (idempotence);
 * - one canonical form: the input with its ASCII letters' case changed is accepted
 *   or refused alike, and gives the same output.
 */
#include <stdint.h>

#include "core/address.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_output(const char *out)
{
    size_t n = strlen(out);

    FUZZ_ASSERT(n > 0 && n <= 254);
    FUZZ_ASSERT(fuzz_utf8_ok(out, n));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];

        FUZZ_ASSERT(c > ' ' && c != 0x7f);
        FUZZ_ASSERT(!(c >= 'A' && c <= 'Z'));
    }
    FUZZ_ASSERT(strchr(out, '@') != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_string(data, size);
    char *out = NULL;
    char *again = NULL;
    char *flipped_out = NULL;
    int rc = addr_email_normalise(in, &out);
    int rc_flipped;

    FUZZ_ASSERT(rc == 0 || rc == -1);
    FUZZ_ASSERT((rc == 0) == (out != NULL));
    if (rc == 0) {
        check_output(out);
        FUZZ_ASSERT(addr_email_normalise(out, &again) == 0);
        FUZZ_ASSERT(strcmp(again, out) == 0);
    }
    /* Flip the case of every ASCII letter. */
    for (char *p = in; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            *p ^= 0x20;
        }
    }
    rc_flipped = addr_email_normalise(in, &flipped_out);
    FUZZ_ASSERT(rc_flipped == rc);
    if (rc == 0) {
        FUZZ_ASSERT(strcmp(flipped_out, out) == 0);
    }
    free(flipped_out);
    free(again);
    free(out);
    free(in);
    return 0;
}
