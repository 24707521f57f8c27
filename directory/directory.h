/*
 * The annuaire and the Matrix identity API it answers: status checks today;
 * entries, hashed lookup, homeserver routing, search and signing keys to come.
 */
#ifndef ANN_DIRECTORY_DIRECTORY_H
#define ANN_DIRECTORY_DIRECTORY_H

#include <stddef.h>

#include "core/router.h"

struct cx_ed25519;

/** The key id of the long-term signing key. */
#define DIR_SIGNING_KEY_ID "ed25519:0"

/**
 * Writes a new signing key to path (mode 0600); never overwrites a file.
 * @return 0, or -1 with a message in err
 */
int dir_keys_generate(const char *path, char *err, size_t err_size);

/**
 * Loads the signing key that every instance of a deployment shares.
 * @return 0, or -1 with a message in err
 */
int dir_keys_load(const char *path, char *err, size_t err_size);
void dir_keys_unload(void);

/** The loaded signing key (borrowed), or NULL. */
const struct cx_ed25519 *dir_signing_key(void);

/** Its public half as unpadded base64 (borrowed), or NULL. */
const char *dir_public_key_b64(void);

/** The identity API routes this module serves (static table). */
extern const struct route dir_routes[];
extern const size_t dir_n_routes;

#endif
