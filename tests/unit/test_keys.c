/* unit.directory.keys: loading the signing key (directory/keys.c): a key that cannot be
 * made leaves the key loaded before in force, its public half included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "core/util.h"
#include "directory/directory.h"

struct fixture {
    char dir[64];
    char path[96];
};

static int
setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    char err[256];

    snprintf(f->dir, sizeof(f->dir), "/tmp/annuaire-unit-keys.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/signing.key", f->dir);
    assert_int_equal(dir_keys_generate(f->path, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    dir_keys_unload();
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void
test_load_publishes_the_key(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";

    assert_int_equal(dir_keys_load(f->path, err, sizeof(err)), 0);
    assert_non_null(dir_signing_key());
    assert_non_null(dir_public_key_b64());
    assert_int_equal(strlen(dir_public_key_b64()), 43); /* 32 bytes, unpadded base64 */
}

/* dir_keys_load with OpenSSL deprived of its algorithms (only the null provider in the
 * default library context): the seed decodes, but no Ed25519 key can be made from it. */
static int
load_without_algorithms(const char *path, char *err, size_t err_size)
{
    OSSL_LIB_CTX *bare = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *null_provider;
    OSSL_LIB_CTX *normal;
    int ret;

    assert_non_null(bare);
    null_provider = OSSL_PROVIDER_load(bare, "null");
    assert_non_null(null_provider);
    normal = OSSL_LIB_CTX_set0_default(bare);
    ret = dir_keys_load(path, err, err_size);
    OSSL_LIB_CTX_set0_default(normal);
    OSSL_PROVIDER_unload(null_provider);
    OSSL_LIB_CTX_free(bare);
    return ret;
}

/* A key that cannot be made leaves the one loaded before in force. */
static void
test_unusable_key_keeps_the_loaded_one(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    char *before;

    assert_int_equal(dir_keys_load(f->path, err, sizeof(err)), 0);
    before = xstrdup(dir_public_key_b64());
    assert_int_equal(load_without_algorithms(f->path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unusable key"));
    assert_non_null(dir_signing_key());
    assert_non_null(dir_public_key_b64());
    assert_string_equal(dir_public_key_b64(), before);
    free(before);
}

/* A key that cannot be made on a first load leaves nothing loaded, and nothing dangling. */
static void
test_unusable_first_key_loads_nothing(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";

    assert_int_equal(load_without_algorithms(f->path, err, sizeof(err)), -1);
    assert_null(dir_signing_key());
    assert_null(dir_public_key_b64());
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_publishes_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_key_keeps_the_loaded_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_first_key_loads_nothing, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
