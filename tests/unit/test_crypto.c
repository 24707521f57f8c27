/* unit.core.crypto: SHA-256, unpadded base64, Ed25519 (RFC 8032 vectors), tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"

static void
hex_decode(const char *hex, unsigned char *out, size_t *len)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;

        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    *len = n;
}

static void
test_sha256(void **state)
{
    unsigned char d[CX_SHA256_LEN];
    char *b64;

    cx_sha256("abc", 3, d);
    b64 = cx_b64_encode(d, sizeof(d), CX_B64_STD);
    /* FIPS 180-2 "abc": ba7816bf 8f01cfea ... in base64 */
    assert_string_equal(b64, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
    free(b64);
    /* The Matrix lookup hash vector (pepper "matrixrocks"), URL-safe unpadded. */
    cx_sha256("alice@example.com email matrixrocks", 35, d);
    b64 = cx_b64_encode(d, sizeof(d), CX_B64_URL);
    assert_string_equal(b64, "4kenr7N9drpCJ4AfalmlGQVsOn3o2RHjkADUpXJWZUc");
    free(b64);
}

struct b64_case {
    const char *raw;
    const char *std;
};

static void
test_b64(void **state)
{
    /* RFC 4648 section 10, without padding. */
    static const struct b64_case cases[] = {
        { "", "" },           { "f", "Zg" },          { "fo", "Zm8" },          { "foo", "Zm9v" },
        { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
    };
    static const unsigned char bin[] = { 0xfb, 0xff, 0xfe };
    unsigned char *out = NULL;
    size_t len = 0;
    char *s;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s = cx_b64_encode(cases[i].raw, strlen(cases[i].raw), CX_B64_STD);
        assert_string_equal(s, cases[i].std);
        free(s);
        assert_int_equal(cx_b64_decode(cases[i].std, strlen(cases[i].std), CX_B64_STD, &out, &len),
                         0);
        assert_int_equal(len, strlen(cases[i].raw));
        assert_memory_equal(out, cases[i].raw, len);
        free(out);
    }
    s = cx_b64_encode(bin, sizeof(bin), CX_B64_STD);
    assert_string_equal(s, "+//+");
    free(s);
    s = cx_b64_encode(bin, sizeof(bin), CX_B64_URL);
    assert_string_equal(s, "-__-");
    free(s);
    /* Padded input is accepted too. */
    assert_int_equal(cx_b64_decode("Zm8=", 4, CX_B64_STD, &out, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(out, "fo", 2);
    free(out);
    /* Wrong alphabet, bad length, blanks and stray padding are refused. */
    assert_int_equal(cx_b64_decode("-__-", 4, CX_B64_STD, &out, &len), -1);
    assert_null(out);
    assert_int_equal(cx_b64_decode("+//+", 4, CX_B64_URL, &out, &len), -1);
    assert_int_equal(cx_b64_decode("Zm9vY", 5, CX_B64_STD, &out, &len), -1);
    assert_int_equal(cx_b64_decode("Zm 9v", 5, CX_B64_STD, &out, &len), -1);
    assert_int_equal(cx_b64_decode("Zm=v", 4, CX_B64_STD, &out, &len), -1);
}

struct rfc8032 {
    const char *secret, *public, *msg, *sig;
};

static void
test_ed25519_rfc8032(void **state)
{
    /* RFC 8032 section 7.1, tests 1 to 3. */
    static const struct rfc8032 v[] = {
        { "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
          "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
          "701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
        { "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
          "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
          "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f36"
          "13d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
        { "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
          "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
          "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f7"
          "60984dc6594a7c15e9716ed28dc027beceea1ec40a" },
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char seed[32], pub[32], msg[8], want[64], sig[64];
        size_t n = 0, mlen = 0;
        struct cx_ed25519 *key;

        hex_decode(v[i].secret, seed, &n);
        hex_decode(v[i].public, pub, &n);
        hex_decode(v[i].msg, msg, &mlen);
        hex_decode(v[i].sig, want, &n);
        key = cx_ed25519_from_seed(seed);
        assert_non_null(key);
        assert_memory_equal(cx_ed25519_public(key), pub, 32);
        assert_int_equal(cx_ed25519_sign(key, msg, mlen, sig), 0);
        assert_memory_equal(sig, want, 64);
        assert_true(cx_ed25519_verify(pub, msg, mlen, sig));
        sig[10] ^= 1;
        assert_false(cx_ed25519_verify(pub, msg, mlen, sig));
        cx_ed25519_free(key);
    }
}

static void
test_ed25519_generate(void **state)
{
    unsigned char seed[32], seed2[32], sig[64];
    struct cx_ed25519 *a = cx_ed25519_generate(seed);
    struct cx_ed25519 *b = cx_ed25519_generate(seed2);
    struct cx_ed25519 *again;

    assert_non_null(a);
    assert_non_null(b);
    assert_memory_not_equal(seed, seed2, 32);
    again = cx_ed25519_from_seed(seed);
    assert_memory_equal(cx_ed25519_public(a), cx_ed25519_public(again), 32);
    assert_int_equal(cx_ed25519_sign(a, "hello", 5, sig), 0);
    assert_true(cx_ed25519_verify(cx_ed25519_public(again), "hello", 5, sig));
    assert_false(cx_ed25519_verify(cx_ed25519_public(b), "hello", 5, sig));
    cx_ed25519_free(a);
    cx_ed25519_free(b);
    cx_ed25519_free(again);
    cx_ed25519_free(NULL);
}

static void
test_tokens_and_compare(void **state)
{
    char *t1 = cx_random_token(32);
    char *t2 = cx_random_token(32);

    assert_int_equal(strlen(t1), 43);
    assert_int_equal(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     43);
    assert_string_not_equal(t1, t2);
    assert_true(cx_streq(t1, t1));
    assert_false(cx_streq(t1, t2));
    assert_false(cx_streq("abc", "abcd"));
    assert_true(cx_equal("same", "same", 4));
    assert_false(cx_equal("same", "sane", 4));
    free(t1);
    free(t2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_ed25519_rfc8032),
        cmocka_unit_test(test_ed25519_generate),
        cmocka_unit_test(test_tokens_and_compare),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
