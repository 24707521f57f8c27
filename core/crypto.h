/* Cryptographic primitives, all through OpenSSL. */
#ifndef ANN_CORE_CRYPTO_H
#define ANN_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

#define CX_SHA256_LEN       32
#define CX_ED25519_SEED_LEN 32
#define CX_ED25519_PUB_LEN  32
#define CX_ED25519_SIG_LEN  64

enum cx_b64 {
    CX_B64_STD, /* RFC 4648 section 4, '+' and '/' */
    CX_B64_URL, /* RFC 4648 section 5, '-' and '_' */
};

/** SHA-256 of len bytes. */
void cx_sha256(const void *data, size_t len, unsigned char out[CX_SHA256_LEN]);

/** HMAC-SHA256 of len bytes of data under key. */
void cx_hmac_sha256(const unsigned char *key,
                    size_t key_len,
                    const void *data,
                    size_t len,
                    unsigned char out[CX_SHA256_LEN]);

/* A stored token's form: the SHA-256 of the token, in lower-case hex. */
#define CX_TOKEN_HASH_LEN (2 * CX_SHA256_LEN)

/** What is stored of a token (access tokens, admin tokens), never the token itself. */
void cx_token_hash(const char *token, char out[CX_TOKEN_HASH_LEN + 1]);

/**
 * Unpadded base64 of len bytes.
 * @return a new NUL-terminated string owned by the caller
 */
char *cx_b64_encode(const void *data, size_t len, enum cx_b64 alphabet);

/**
 * Decodes base64 in the given alphabet, padded or unpadded.
 *
 * @param[out] out      decoded bytes, owned by the caller (NULL on error)
 * @param[out] out_len  number of decoded bytes
 * @return 0, or -1 on a character outside the alphabet, bad padding or a bad length
 */
int cx_b64_decode(const char *s,
                  size_t len,
                  enum cx_b64 alphabet,
                  unsigned char **out,
                  size_t *out_len) ANN_MUST_CHECK;

/** Fills buf from OpenSSL's CSPRNG. @return 0 or -1 */
int cx_random_bytes(void *buf, size_t len) ANN_MUST_CHECK;

/**
 * A random token of nbytes of entropy, as unpadded URL-safe base64 (so within
 * the Matrix [0-9a-zA-Z.=_-] alphabet). Aborts if the RNG fails.
 * @return a new string owned by the caller
 */
char *cx_random_token(size_t nbytes);

/** Constant-time comparison of two buffers of the same length. */
bool cx_equal(const void *a, const void *b, size_t len);

/** Constant-time string comparison (time depends on the lengths only). */
bool cx_streq(const char *a, const char *b);

/* An Ed25519 key pair. The private key is held by OpenSSL. */
struct cx_ed25519;

/** Makes a key pair from a 32-byte seed. @return a new key (cx_ed25519_free) or NULL */
struct cx_ed25519 *cx_ed25519_from_seed(const unsigned char seed[CX_ED25519_SEED_LEN]);

/** Generates a fresh key pair; its seed is written to seed_out. @return key or NULL */
struct cx_ed25519 *cx_ed25519_generate(unsigned char seed_out[CX_ED25519_SEED_LEN]);

/** The 32-byte public key (borrowed). */
const unsigned char *cx_ed25519_public(const struct cx_ed25519 *key);

/** Signs msg. @return 0 or -1 */
int cx_ed25519_sign(const struct cx_ed25519 *key,
                    const void *msg,
                    size_t len,
                    unsigned char sig[CX_ED25519_SIG_LEN]) ANN_MUST_CHECK;

/** Verifies a signature against a raw public key. @return true when valid */
bool cx_ed25519_verify(const unsigned char pub[CX_ED25519_PUB_LEN],
                       const void *msg,
                       size_t len,
                       const unsigned char sig[CX_ED25519_SIG_LEN]);

/**
 * A secret derived from the private key: SHA-256(label || the 32-byte seed), for a key
 * every holder of the same signing key computes alike and nobody else can.
 * @param[out] out  the secret (the caller wipes it with OPENSSL_cleanse)
 * @return 0 or -1
 */
int cx_ed25519_derive(const struct cx_ed25519 *key,
                      const char *label,
                      unsigned char out[CX_SHA256_LEN]) ANN_MUST_CHECK;

/** Frees a key pair, wiping the private key. Takes NULL. */
void cx_ed25519_free(struct cx_ed25519 *key);

#endif
