/* Private to routing/: a loaded mapping as its files share it, and the tail index. */
#ifndef ANN_ROUTING_INTERNAL_H
#define ANN_ROUTING_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "routing/routing.h"

/** The longest pattern a mapping file may hold, in bytes. */
#define ROUTING_MAX_PATTERN_LEN 4096

struct routing_rule {
    struct routing_result route; /* strings borrowed from route.entry */
    pcre2_code *re;              /* NULL for an exact entry */
    bool jit;                    /* re was JIT-compiled */
    atomic_bool warned;          /* a match error was logged */
    char *text;                  /* the pattern, or the exact address */
    char *tail; /* ASCII text every matching address ends with (lower case), or NULL */
    size_t tail_len;
};

struct routing_map {
    atomic_int refs;
    struct routing_rule *rules; /* exact entries first, then patterns in file order */
    size_t n_rules, n_exact;
    json_t *exact;   /* normalised address -> index in rules */
    json_t *entries; /* owns every route.entry */
    json_t *servers; /* every hs and shadow_hs, lower case -> true */
    /* The externals' servers, lower case -> true: routing.external_servers, or, when that
     * list is empty, the hs and shadow_hs of every entry that requires an invitation. */
    json_t *external;
    bool external_listed; /* routing.external_servers was not empty */
    char *path;
    /* Patterns by the text they end with: an address is tried only against the
     * patterns whose ending it has, and those without one (see routing_tail_of). */
    json_t *tails;               /* tail -> [rule index, ...] ascending */
    pcre2_match_context *limits; /* bounds the work of one match */
    size_t *tail_lens;           /* the distinct tail lengths, ascending */
    size_t n_tail_lens;
    size_t *untailed; /* rules without a tail, ascending */
    size_t n_untailed;
};

/* --- tail.c: the literal-ending index ------------------------------------------- */

/**
 * The literal text a pattern ends with, when every address it matches must end with
 * it (lower case, ASCII only), e.g. "ministere.gouv.fr" for
 * '.*@(.*\.|)ministere\.gouv\.fr'. Conservative: NULL whenever that is not certain.
 * @param len  the pattern's length, at most ROUTING_MAX_PATTERN_LEN (NULL beyond)
 * @return the ending, owned by the caller, or NULL
 */
char *routing_tail_of(const char *pattern, size_t len);

/** Builds m's index (tails, tail_lens, untailed) from the tail of each pattern rule. */
void routing_tail_index(struct routing_map *m);

/* Rule indexes, on the stack until there are more than 64. */
struct routing_candidates {
    size_t stack[64];
    size_t *v; /* stack, or a heap copy once it is full */
    size_t n, cap;
};

/**
 * The pattern rules that have a tail and may match a normalised address of len bytes,
 * ascending (file order): those whose tail the address ends with, or, for an address
 * with a non-ASCII byte, every one that has a tail. The rules without a tail
 * (m->untailed) are the caller's to try too.
 * @param[out] out  initialised here; routing_candidates_clear frees it
 */
void routing_tail_candidates(const struct routing_map *m,
                             const char *normalised,
                             size_t len,
                             struct routing_candidates *out);

void routing_candidates_clear(struct routing_candidates *c);

#endif
