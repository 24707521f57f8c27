/*
 * SHA-256, base64 (standard and URL-safe alphabets), random bytes and tokens, constant-time
 * comparison, and Ed25519 keys, signatures and verification, all through OpenSSL.
 */
#include "core/crypto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

struct cx_ed25519 {
    EVP_PKEY *pkey;
    unsigned char pub[CX_ED25519_PUB_LEN];
};

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
cx_sha256(const void *data, size_t len, unsigned char out[CX_SHA256_LEN])
{
    unsigned int n = 0;

    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != CX_SHA256_LEN) {
        abort(); /* only fails on OOM or a broken OpenSSL */
    }
}

void
cx_hmac_sha256(const unsigned char *key,
               size_t key_len,
               const void *data,
               size_t len,
               unsigned char out[CX_SHA256_LEN])
{
    unsigned int n = 0;

    if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) == NULL || n != CX_SHA256_LEN) {
        abort(); /* only fails on OOM or a broken OpenSSL */
    }
}

char *
cx_b64_encode(const void *data, size_t len, enum cx_b64 alphabet)
{
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    int n;

    if (len > (size_t)INT32_MAX / 2) {
        abort();
    }
    n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=') {
        n--;
    }
    out[n] = '\0';
    if (alphabet == CX_B64_URL) {
        for (char *c = out; *c != '\0'; c++) {
            *c = *c == '+' ? '-' : (*c == '/' ? '_' : *c);
        }
    }
    return out;
}

int
cx_b64_decode(const char *s, size_t len, enum cx_b64 alphabet, unsigned char **out, size_t *out_len)
{
    const char *tab = alphabet == CX_B64_URL ? b64_url : b64_std;
    unsigned char *in = NULL;
    unsigned char *buf = NULL;
    size_t pad;
    int n;

    *out = NULL;
    *out_len = 0;
    if (len % 4 == 0 && len >= 4) { /* padded form: strip up to two '=' */
        for (int k = 0; k < 2 && s[len - 1] == '='; k++) {
            len--;
        }
    }
    if (len % 4 == 1 || len > (size_t)INT32_MAX / 2) {
        return -1;
    }
    pad = (4 - len % 4) % 4;
    in = xmalloc(len + pad + 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0' || strchr(tab, s[i]) == NULL) { /* EVP would skip blanks: refuse them */
            free(in);
            return -1;
        }
        in[i] = (unsigned char)(s[i] == '-' ? '+' : (s[i] == '_' ? '/' : s[i]));
    }
    memset(in + len, '=', pad);
    buf = xmalloc((len + pad) / 4 * 3 + 1);
    n = EVP_DecodeBlock(buf, in, (int)(len + pad));
    free(in);
    if (n < 0 || (size_t)n < pad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)n - pad;
    return 0;
}

int
cx_random_bytes(void *buf, size_t len)
{
    return len > (size_t)INT32_MAX || RAND_bytes(buf, (int)len) != 1 ? -1 : 0;
}

char *
cx_random_token(size_t nbytes)
{
    unsigned char raw[128];
    char *tok;

    if (nbytes > sizeof(raw) || cx_random_bytes(raw, nbytes) != 0) {
        abort(); /* a service that cannot draw random numbers must not go on */
    }
    tok = cx_b64_encode(raw, nbytes, CX_B64_URL);
    OPENSSL_cleanse(raw, sizeof(raw));
    return tok;
}

bool
cx_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

bool
cx_streq(const char *a, const char *b)
{
    unsigned char ha[CX_SHA256_LEN];
    unsigned char hb[CX_SHA256_LEN];

    /* Comparing digests keeps the time independent of where the strings differ. */
    cx_sha256(a, strlen(a), ha);
    cx_sha256(b, strlen(b), hb);
    return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

static struct cx_ed25519 *
key_from_pkey(EVP_PKEY *pkey)
{
    struct cx_ed25519 *key;
    size_t n = CX_ED25519_PUB_LEN;

    if (pkey == NULL) {
        return NULL;
    }
    key = xcalloc(1, sizeof(*key));
    key->pkey = pkey;
    if (EVP_PKEY_get_raw_public_key(pkey, key->pub, &n) != 1 || n != CX_ED25519_PUB_LEN) {
        cx_ed25519_free(key);
        return NULL;
    }
    return key;
}

struct cx_ed25519 *
cx_ed25519_from_seed(const unsigned char seed[CX_ED25519_SEED_LEN])
{
    return key_from_pkey(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, CX_ED25519_SEED_LEN));
}

struct cx_ed25519 *
cx_ed25519_generate(unsigned char seed_out[CX_ED25519_SEED_LEN])
{
    struct cx_ed25519 *key;

    if (cx_random_bytes(seed_out, CX_ED25519_SEED_LEN) != 0) {
        return NULL;
    }
    key = cx_ed25519_from_seed(seed_out);
    if (key == NULL) {
        OPENSSL_cleanse(seed_out, CX_ED25519_SEED_LEN);
    }
    return key;
}

const unsigned char *
cx_ed25519_public(const struct cx_ed25519 *key)
{
    return key->pub;
}

int
cx_ed25519_sign(const struct cx_ed25519 *key,
                const void *msg,
                size_t len,
                unsigned char sig[CX_ED25519_SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = CX_ED25519_SIG_LEN;
    int ret = -1;

    if (ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
        EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == CX_ED25519_SIG_LEN) {
        ret = 0;
    }
    EVP_MD_CTX_free(ctx);
    return ret;
}

bool
cx_ed25519_verify(const unsigned char pub[CX_ED25519_PUB_LEN],
                  const void *msg,
                  size_t len,
                  const unsigned char sig[CX_ED25519_SIG_LEN])
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, CX_ED25519_PUB_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = false;

    if (pkey != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1) {
        ok = EVP_DigestVerify(ctx, sig, CX_ED25519_SIG_LEN, msg, len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok;
}

int
cx_ed25519_derive(const struct cx_ed25519 *key, const char *label, unsigned char out[CX_SHA256_LEN])
{
    unsigned char buf[128 + CX_ED25519_SEED_LEN];
    size_t ll = strlen(label);
    size_t seed_len = CX_ED25519_SEED_LEN;
    int ret = -1;

    if (ll <= 128 && EVP_PKEY_get_raw_private_key(key->pkey, buf + ll, &seed_len) == 1 &&
        seed_len == CX_ED25519_SEED_LEN) {
        memcpy(buf, label, ll);
        cx_sha256(buf, ll + seed_len, out);
        ret = 0;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return ret;
}

void
cx_ed25519_free(struct cx_ed25519 *key)
{
    if (key == NULL) {
        return;
    }
    EVP_PKEY_free(key->pkey);
    OPENSSL_cleanse(key, sizeof(*key));
    free(key);
}

void
cx_token_hash(const char *token, char out[CX_TOKEN_HASH_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[CX_SHA256_LEN];

    cx_sha256(token, strlen(token), d);
    for (size_t i = 0; i < CX_SHA256_LEN; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[CX_TOKEN_HASH_LEN] = '\0';
}
