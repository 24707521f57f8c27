/*
 * Text folding for directory search: one rule, applied in C to what the annuaire
 * indexes (ldap-sync, while mapping an entry) and to what a caller searches for
 * (directory/search.c), so that the two always agree.
 *
 * The rule: lower case; Latin letters without their accents (é -> e, ç -> c, ÿ -> y),
 * ligatures spelt out (œ -> oe, æ -> ae, ß -> ss); apostrophes (' ’ ʼ ‘ `) removed
 * (FOLD_APOS_JOIN: D'Angelo -> dangelo) or made separators (FOLD_APOS_SPLIT: l'Ain ->
 * l ain); every other run of characters outside [a-z0-9], and every byte that is not
 * valid UTF-8, one space; no space at either end. Characters the rule does not know
 * (Greek, Cyrillic, symbols...) are separators: a folded word is only [a-z0-9].
 */
#ifndef ANN_CORE_FOLD_H
#define ANN_CORE_FOLD_H

#include <stddef.h>

enum fold_apos {
    FOLD_APOS_JOIN,  /* removed: the letters around it make one word */
    FOLD_APOS_SPLIT, /* a separator */
};

/**
 * Folds s (n bytes, UTF-8 or not) into out, which has room for n + 1 bytes (folding
 * never lengthens a text), NUL-terminated.
 * @return the length written
 */
size_t fold_text(const char *s, size_t n, char *out, enum fold_apos apos);

#endif
