/*
 * The annuaire and the Matrix identity API it answers: status checks today;
 * entries, hashed lookup, homeserver routing, search and signing keys to come.
 */
#ifndef ANN_DIRECTORY_DIRECTORY_H
#define ANN_DIRECTORY_DIRECTORY_H

#include <stddef.h>

#include "core/router.h"

/** The identity API routes this module serves (static table). */
extern const struct route dir_routes[];
extern const size_t dir_n_routes;

#endif
