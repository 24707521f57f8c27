/*
 * The SQL of directory search (directory/search_store.c), for directory/search.c only:
 * the walks over what sql/019_search.sql keeps (postings of a word list, the visible
 * entries of an exact name or of entities), the vocabulary, and the hits' details.
 * Rows are handed one by one to a callback; strings are borrowed for the call.
 */
#ifndef ANN_DIRECTORY_SEARCH_STORE_H
#define ANN_DIRECTORY_SEARCH_STORE_H

#include <stdbool.h>

#include "core/db.h"

extern const struct db_stmt dir_search_stmts[];
extern const size_t dir_search_n_stmts;

/* A candidate: key is the posting's word (walks of words), its entity (walks of
 * entities) or "" (exact name); doc and edoc are ' w1 w2 ... ' of its words and of its
 * entity's words; name is its folded display name, entity its entity (or NULL). */
struct dir_search_row {
    const char *key;
    long long id;
    const char *doc;
    const char *edoc;
    const char *name;
    const char *entity;
};
/** @return 0 to go on, 1 to stop reading the rows */
typedef int (*dir_search_row_fn)(void *ctx, const struct dir_search_row *row);

/* What every walk is restricted to; NULL members mean no restriction. */
struct dir_search_filter {
    const char *sources; /* a text[] literal: the sources of the ministry asked for */
    const char *entity;
    const char *domain;
};

/** The sources of a ministry label, as a text[] literal (owned by the caller). */
enum db_status
dir_search_store_sources(struct db_conn *c, const char *ministry, char **out) ANN_MUST_CHECK;

/** How many postings word and its prefixes have, counted up to cap. */
enum db_status
dir_search_store_count(struct db_conn *c, const char *word, long cap, long *out) ANN_MUST_CHECK;

/**
 * How common each word of words (a text[] literal of n) is among the postings, from the
 * planner's statistics, into freqs (left as they are when there are none; 0 for a word
 * not among the most common), and the postings' estimated count into *total.
 * @return rows (0: no statistics yet)
 */
enum db_status dir_search_store_freqs(struct db_conn *c,
                                      const char *words,
                                      double *freqs,
                                      size_t n,
                                      double *total) ANN_MUST_CHECK;

/** How many postings the words of a text[] literal have together, estimated from the
 * planner's statistics (0 when there are none yet). */
enum db_status
dir_search_store_postings(struct db_conn *c, const char *words, long *out) ANN_MUST_CHECK;

typedef void (*dir_search_term_fn)(void *ctx, const char *word, bool person, bool entity);
/**
 * The vocabulary words that may match word: itself and the words it begins, those that
 * contain it (like: '%word%', when inside), and those sharing a deletion key with it
 * (keys: a text[] literal, or NULL). The caller checks each.
 */
enum db_status dir_search_store_expand(struct db_conn *c,
                                       const char *word,
                                       const char *like,
                                       const char *keys,
                                       dir_search_term_fn fn,
                                       void *ctx) ANN_MUST_CHECK;

/** The visible entries whose folded name is name, by id, after after_id. */
enum db_status dir_search_store_name(struct db_conn *c,
                                     const char *name,
                                     long long after_id,
                                     int limit,
                                     const struct dir_search_filter *f,
                                     dir_search_row_fn fn,
                                     void *ctx) ANN_MUST_CHECK;

/**
 * The postings of the words of a text[] literal, by (word, id) after (after_key,
 * after_id), whose entry's words (' w1 w2 '; wide: with its entity's words after them)
 * match every regular expression of patterns (a text[] literal).
 */
enum db_status dir_search_store_words(struct db_conn *c,
                                      const char *words,
                                      const char *after_key,
                                      long long after_id,
                                      const char *patterns,
                                      bool wide,
                                      int limit,
                                      const struct dir_search_filter *f,
                                      dir_search_row_fn fn,
                                      void *ctx) ANN_MUST_CHECK;

typedef void (*dir_search_entity_fn)(void *ctx, const char *entity, const char *doc);
/** The entities one of whose words is in words (a text[] literal). */
enum db_status dir_search_store_entities(struct db_conn *c,
                                         const char *words,
                                         dir_search_entity_fn fn,
                                         void *ctx) ANN_MUST_CHECK;

/** The visible members of the entities of a text[] literal, by (entity bytewise, id),
 * whose words and entity's words (' w1 w2 ' of both) match every regular expression of
 * patterns (a text[] literal). */
enum db_status dir_search_store_members(struct db_conn *c,
                                        const char *entities,
                                        const char *after_key,
                                        long long after_id,
                                        const char *patterns,
                                        int limit,
                                        const struct dir_search_filter *f,
                                        dir_search_row_fn fn,
                                        void *ctx) ANN_MUST_CHECK;

/* The details of one entry found; strings borrowed (entity, address, mxid may be NULL). */
struct dir_search_detail {
    long long id;
    const char *display_name;
    const char *entity;
    const char *ministry;
    const char *address;
    const char *mxid;
};
typedef void (*dir_search_detail_fn)(void *ctx, const struct dir_search_detail *d);
/** The details of the visible entries among ids (a bigint[] literal). */
enum db_status dir_search_store_hits(struct db_conn *c,
                                     const char *ids,
                                     dir_search_detail_fn fn,
                                     void *ctx) ANN_MUST_CHECK;

/** The visible entry that owns address (directory_owner), 0 in *id when none. */
enum db_status
dir_search_store_owner(struct db_conn *c, const char *address, long long *id) ANN_MUST_CHECK;

/** The address (medium email) mxid is bound to, the first one; NULL when none. */
enum db_status
dir_search_store_bound(struct db_conn *c, const char *mxid, char **address) ANN_MUST_CHECK;

#endif
