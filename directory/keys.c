/*
 * The long-term Ed25519 signing key (ed25519:0): written by `keys generate` (one line,
 * "ed25519 0 <base64 seed>", mode 0600, never over an existing file), loaded once by serve;
 * the key and its public half in base64, borrowed by the handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/util.h"
#include "directory/directory.h"

/* The long-term signing key, loaded once at start-up and read-only after. */
static struct cx_ed25519 *signing_key;
static char *public_b64;

/* File format, one line: "ed25519 <version> <unpadded base64 seed>". */
#define KEY_VERSION "0"

int
dir_keys_generate(const char *path, char *err, size_t err_size)
{
    unsigned char seed[CX_ED25519_SEED_LEN];
    struct cx_ed25519 *key = cx_ed25519_generate(seed);
    char *b64 = NULL;
    char *line = NULL;
    int fd = -1;
    int ret = -1;

    if (key == NULL) {
        snprintf(err, err_size, "cannot generate a key");
        return -1;
    }
    b64 = cx_b64_encode(seed, sizeof(seed), CX_B64_STD);
    line = xasprintf("ed25519 " KEY_VERSION " %s\n", b64);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_size, "%s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (an existing key is never overwritten)" : "");
        goto cleanup;
    }
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) || fsync(fd) != 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        unlink(path);
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    OPENSSL_cleanse(seed, sizeof(seed));
    if (line != NULL) {
        OPENSSL_cleanse(line, strlen(line));
    }
    if (b64 != NULL) {
        OPENSSL_cleanse(b64, strlen(b64));
    }
    free(line);
    free(b64);
    cx_ed25519_free(key);
    return ret;
}

int
dir_keys_load(const char *path, char *err, size_t err_size)
{
    char *text = NULL;
    char version[16];
    char b64[64];
    unsigned char *seed = NULL;
    size_t seed_len = 0;
    struct cx_ed25519 *key;
    struct stat st;
    int ret = -1;

    if (util_read_file(path, 4096, &text, NULL) != 0) {
        snprintf(err, err_size,
                 "cannot read the signing key %s: %s (create one with 'annuaire keys "
                 "generate')",
                 path, strerror(errno));
        return -1;
    }
    if (sscanf(text, "ed25519 %15s %63s", version, b64) != 2 || strcmp(version, KEY_VERSION) != 0 ||
        cx_b64_decode(b64, strlen(b64), CX_B64_STD, &seed, &seed_len) != 0 ||
        seed_len != CX_ED25519_SEED_LEN) {
        snprintf(err, err_size, "%s: not an annuaire signing key (\"ed25519 0 <base64 seed>\")",
                 path);
        goto cleanup;
    }
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
        log_warn("signing key %s is readable by other users: chmod 600 it", path);
    }
    key = cx_ed25519_from_seed(seed);
    if (key == NULL) {
        /* The key loaded before, if any, stays in force, with its public half. */
        snprintf(err, err_size, "%s: unusable key", path);
        goto cleanup;
    }
    dir_keys_unload();
    signing_key = key;
    public_b64 = cx_b64_encode(cx_ed25519_public(key), CX_ED25519_PUB_LEN, CX_B64_STD);
    ret = 0;
cleanup:
    if (seed != NULL) {
        OPENSSL_cleanse(seed, seed_len);
    }
    OPENSSL_cleanse(b64, sizeof(b64));
    OPENSSL_cleanse(text, strlen(text));
    free(seed);
    free(text);
    return ret;
}

void
dir_keys_unload(void)
{
    cx_ed25519_free(signing_key);
    signing_key = NULL;
    free(public_b64);
    public_b64 = NULL;
}

const struct cx_ed25519 *
dir_signing_key(void)
{
    return signing_key;
}

const char *
dir_public_key_b64(void)
{
    return public_b64;
}
