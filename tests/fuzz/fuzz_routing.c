/*
 * fuzz_routing: the homeserver routing file (Tchap's info.yaml format) as
 * routing/ loads it (routing_load, from a memory file), then a few
 * addresses matched against what loaded. The input's first line, when it starts
 * with "# ", is one more address to route (the fuzzer mutates both).
 * Properties, besides no crash, hang or leak: a file that does not load says
 * "file:line: why"; a match names a homeserver and the rule that decided.
 */
#include <stdint.h>

#include "core/util.h"
#include "routing/routing.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
route(const struct routing_map *r, const char *address)
{
    bool is_email = false;
    char *key = routing_key(address, &is_email);
    struct routing_result out;

    FUZZ_ASSERT(key != NULL);
    memset(&out, 0, sizeof(out));
    if (routing_match(r, key, &out)) {
        FUZZ_ASSERT(out.hs != NULL && out.hs[0] != '\0');
        FUZZ_ASSERT(out.rule != NULL);
        FUZZ_ASSERT(out.entry != NULL);
    }
    free(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const addresses[] = {
        "agent@interieur.gouv.fr", "x@sub.agri.gouv.fr", "someone@gmail.com",  "a@b", "@", "",
        "UPPER@EXAMPLE.ORG",       "b@xn--bcher-kva.de", "b@b\303\274cher.de",
    };
    char path[64];
    char err[512] = "";
    int fd = fuzz_file(data, size, path);
    struct routing_map *r = routing_load(path, NULL, err, sizeof(err));

    close(fd);
    if (r == NULL) {
        FUZZ_ASSERT(err[0] != '\0');
        return 0;
    }
    size_t n_exact = 0;

    (void)routing_size(r, &n_exact);
    for (size_t i = 0; i < ANN_ARRAY_LEN(addresses); i++) {
        route(r, addresses[i]);
    }
    if (size > 2 && data[0] == '#' && data[1] == ' ') {
        const uint8_t *nl = memchr(data, '\n', size);
        char *a = fuzz_string(data + 2, (nl ? (size_t)(nl - data) : size) - 2);

        route(r, a);
        free(a);
    }
    routing_release(r);
    return 0;
}
