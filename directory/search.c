/*
 * Directory search and identification (directory/search.h): the term folded and split
 * into words, then walked rank after rank over what sql/019_search.sql keeps, each
 * candidate ranked here from the words its row carries, until a page is full.
 *
 * Ranks: 0 the whole folded term is the entry's folded name; 1 every query word is a
 * word of the entry, 2 a word prefix, 3 inside a word (query word of 3 letters or
 * more), 4 one typo (one insertion, deletion, substitution or swap of two adjacent
 * letters; query word of 5 letters or more); 5 to 8 the same four on the words of the
 * entry's entity, after every person-word rank. An entry's rank is the worst over the
 * query words of each one's best match.
 *
 * Order (total, and stable while paging): rank; then, for ranks 1 to 4, the entry's
 * smallest word (bytewise) that the driver matches at its best tier, for ranks 5 to 8
 * the entity's name (bytewise); then the entry's id. The driver is the query word with
 * the fewest postings (counted up to a cap when a search starts; ties: the longer, then
 * the smaller), and the cursor keeps it, so the order of the later pages is the first
 * page's. Ranks 1 to 4 walk the driver's postings in (word, id) order, ranks 5 to 8 the
 * members of the matching entities in (entity, id) order, and each walk stops as soon
 * as the page is full. A search of several words whose driver has few postings reads
 * them once instead, ranks every row here and sorts them in that same order (one_pass);
 * its entity ranks likewise from the postings of a word that matches no entity word.
 */
#include "directory/search.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/db.h"
#include "core/fold.h"
#include "core/log.h"
#include "core/util.h"
#include "directory/search_store.h"
#include "routing/routing.h"

#define RANK_NAME    0
#define RANK_ENTITY  4 /* added to a tier matched on entity words */
#define RANK_MAX     8
#define TIER_NONE    9
#define DRIVER_CAP   2000 /* postings counted per query word to pick the driver */
#define BATCH_MIN    32
/* A search of several words reads the driver's postings once, and ranks them here, when
 * the planner's statistics say they are at most this many... */
#define ONEPASS_MAX  30000
/* ...and when fewer rows than this pass the other words (else the walks rank by rank,
 * which stop at a full page, are cheaper). */
#define ONEPASS_ROWS 4096
#define BATCH_MAX    4096
#define BIND_LEN     12
#define CURSOR_HEAD  (1 + BIND_LEN + 1 + 1 + 8)
#define CURSOR_KEY   1024 /* longest key a cursor carries (an entity name) */
#define CURSOR_CHARS (((CURSOR_HEAD + CURSOR_KEY) * 4 + 2) / 3)
_Static_assert(CURSOR_CHARS <= DIR_SEARCH_MAX_CURSOR, "the API must take back every cursor");

struct query {
    char folded[DIR_SEARCH_MAX_TERM + 1]; /* the whole term folded */
    char buf[DIR_SEARCH_MAX_TERM + 1];    /* its words, NUL-separated */
    const char *words[DIR_SEARCH_MAX_WORDS];
    size_t lens[DIR_SEARCH_MAX_WORDS];
    int n;
    int driver;
    double driver_postings; /* estimated postings of the driver's word, or 0 */
    unsigned char bind[BIND_LEN];
    struct dir_search_filter filter;
};

struct cursor {
    int driver;
    int rank;
    long long id;
    char key[CURSOR_KEY + 1];
};

/* A candidate kept, at its place in the order. */
struct cand {
    int rank;
    char *key;
    long long id;
};

/* The vocabulary of one query word, each with its tier. */
struct term {
    char *word;
    int tier;
    bool person, entity;
};
struct terms {
    const char *q;
    size_t nq;
    struct term *v;
    size_t n;
    bool done; /* read from the vocabulary */
};

/* The state of one search while it walks. */
struct walk {
    const struct query *q;
    struct terms exp[DIR_SEARCH_MAX_WORDS]; /* each query word's vocabulary, read once */
    int rank;                               /* the rank being walked */
    bool single;                            /* one query word */
    struct cand *cands;
    size_t n, want;
    bool entities_done; /* the entity ranks given by the person walk already */
    /* the last row read, where the next batch starts */
    char *last_key;
    long long last_id;
    size_t rows;
};

/* ---- ranking ------------------------------------------------------------------ */

/* One insertion, deletion, substitution or adjacent swap between a and b (not equal). */
static bool
one_typo(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0;

    if (na < nb) {
        const char *t = a;

        a = b;
        b = t;
        na ^= nb;
        nb ^= na;
        na ^= nb;
    }
    if (na - nb > 1) {
        return false;
    }
    while (i < nb && a[i] == b[i]) {
        i++;
    }
    if (i == nb) {
        return na != nb; /* equal, or b + one letter */
    }
    if (na > nb) {
        return memcmp(a + i + 1, b + i, nb - i) == 0;
    }
    if (memcmp(a + i + 1, b + i + 1, nb - i - 1) == 0) {
        return true; /* one substitution */
    }
    return i + 1 < nb && a[i] == b[i + 1] && a[i + 1] == b[i] &&
           memcmp(a + i + 2, b + i + 2, nb - i - 2) == 0;
}

/* How query word q matches word w: 1 exact, 2 prefix, 3 inside, 4 one typo, or none. */
static int
word_tier(const char *q, size_t nq, const char *w, size_t nw)
{
    if (nw == nq && memcmp(w, q, nq) == 0) {
        return 1;
    }
    if (nw > nq && memcmp(w, q, nq) == 0) {
        return 2;
    }
    if (nq >= 3 && nw > nq && memmem(w, nw, q, nq) != NULL) {
        return 3;
    }
    if (nq >= 5 && one_typo(q, nq, w, nw)) {
        return 4;
    }
    return TIER_NONE;
}

/* The best tier of q over the words of doc (' w1 w2 '), and the smallest word at it. */
static int
doc_tier(const char *q, size_t nq, const char *doc, const char **best, size_t *best_len)
{
    int tier = TIER_NONE;
    const char *p = doc;

    *best = NULL;
    *best_len = 0;
    while (*p != '\0') {
        const char *w;
        size_t nw;
        int t;

        while (*p == ' ') {
            p++;
        }
        w = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        nw = (size_t)(p - w);
        if (nw == 0) {
            continue;
        }
        t = word_tier(q, nq, w, nw);
        if (t < tier) {
            tier = t;
            *best = w;
            *best_len = nw;
        } else if (t == tier && t != TIER_NONE) {
            int cmp = memcmp(w, *best, nw < *best_len ? nw : *best_len);

            if (cmp < 0 || (cmp == 0 && nw < *best_len)) {
                *best = w;
                *best_len = nw;
            }
        }
    }
    return tier;
}

/*
 * The rank of a candidate, or -1 when some query word matches none of its words; with
 * the driver's best word (person ranks) in *key.
 */
static int
rank_row(const struct query *q, const struct dir_search_row *r, const char **key, size_t *key_len)
{
    int rank = 0;

    *key = NULL;
    *key_len = 0;
    if (r->name != NULL && strcmp(r->name, q->folded) == 0) {
        return RANK_NAME;
    }
    for (int i = 0; i < q->n; i++) {
        const char *w;
        size_t nw;
        int t = doc_tier(q->words[i], q->lens[i], r->doc, &w, &nw);

        if (t == TIER_NONE) {
            t = doc_tier(q->words[i], q->lens[i], r->edoc, &w, &nw);
            if (t == TIER_NONE) {
                return -1;
            }
            t += RANK_ENTITY;
        }
        if (t > rank) {
            rank = t;
        }
        if (i == q->driver) {
            *key = w;
            *key_len = nw;
        }
    }
    return rank;
}

/* ---- walking ------------------------------------------------------------------ */

static void
cand_push(struct walk *w, const char *key, size_t key_len, long long id)
{
    struct cand *c;

    w->cands = xrealloc(w->cands, (w->n + 1) * sizeof(*w->cands));
    c = &w->cands[w->n++];
    c->rank = w->rank;
    c->key = xstrndup(key, key_len);
    c->id = id;
}

/* Each row read: kept when its rank is the one walked and the row is its place. */
static int
on_row(void *ctx, const struct dir_search_row *r)
{
    struct walk *w = ctx;
    const char *key;
    size_t key_len;
    int rank;

    free(w->last_key);
    w->last_key = xstrdup(r->key);
    w->last_id = r->id;
    w->rows++;
    rank = rank_row(w->q, r, &key, &key_len);
    if (rank != w->rank) {
        return 0;
    }
    if (rank == RANK_NAME) {
        cand_push(w, "", 0, r->id);
    } else if (rank <= 4) {
        /* an entry is met once per word of it the driver matches: kept at the best */
        if (key == NULL || strlen(r->key) != key_len || memcmp(r->key, key, key_len) != 0) {
            return 0;
        }
        cand_push(w, key, key_len, r->id);
    } else {
        cand_push(w, r->key, strlen(r->key), r->id);
    }
    return w->n >= w->want ? 1 : 0;
}

enum walk_kind {
    WALK_NAME,
    WALK_WORDS,
    WALK_MEMBERS,
};

/* One rank's walk over list (a text[] literal; unused for the name), from the cursor. */
static enum db_status
walk_rank(struct db_conn *c,
          struct walk *w,
          enum walk_kind kind,
          const char *list,
          const char *patterns,
          const char *after_key,
          long long after_id)
{
    int batch = BATCH_MIN;

    free(w->last_key);
    w->last_key = xstrdup(after_key);
    w->last_id = after_id;
    while (w->n < w->want) {
        enum db_status st;
        char *from = xstrdup(w->last_key);

        w->rows = 0;
        if (kind == WALK_NAME) {
            st =
                dir_search_store_name(c, w->q->folded, w->last_id, batch, &w->q->filter, on_row, w);
        } else if (kind == WALK_WORDS) {
            st = dir_search_store_words(c, list, from, w->last_id, patterns, false, batch,
                                        &w->q->filter, on_row, w);
        } else {
            st = dir_search_store_members(c, list, from, w->last_id, patterns, batch, &w->q->filter,
                                          on_row, w);
        }
        free(from);
        if (st < 0) {
            return st;
        }
        if (st < batch) {
            break;
        }
        batch = batch * 4 > BATCH_MAX ? BATCH_MAX : batch * 4;
    }
    return DB_NO_ROWS;
}

/* A text[] literal of the strings of v. */
static char *
literal(char *const *v, size_t n)
{
    return db_text_array((const char *const *)v, n);
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
on_term(void *ctx, const char *word, bool person, bool entity)
{
    struct terms *t = ctx;
    int tier = word_tier(t->q, t->nq, word, strlen(word));

    if (tier == TIER_NONE) {
        return;
    }
    t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
    t->v[t->n++] = (struct term){ xstrdup(word), tier, person, entity };
}

static void
terms_clear(struct terms *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].word);
    }
    free(t->v);
    memset(t, 0, sizeof(*t));
}

/* The vocabulary words that q matches: exact, prefix, inside, one typo. */
static enum db_status
expand(struct db_conn *c, const char *q, size_t nq, struct terms *out)
{
    char *like = NULL, *keys = NULL;
    char **dels = NULL;
    size_t n_dels = 0;
    enum db_status st;

    out->q = q;
    out->nq = nq;
    if (nq >= 3) {
        like = xasprintf("%%%s%%", q);
    }
    if (nq >= 5) {
        /* q itself and each one-letter deletion of it */
        dels = xcalloc(nq + 1, sizeof(*dels));
        dels[n_dels++] = xstrdup(q);
        for (size_t i = 0; i < nq; i++) {
            dels[n_dels++] = xasprintf("%.*s%s", (int)i, q, q + i + 1);
        }
        keys = literal(dels, n_dels);
    }
    st = dir_search_store_expand(c, q, like, keys, on_term, out);
    strv_free(dels, n_dels);
    free(like);
    free(keys);
    return st;
}

/* The vocabulary of query word i, read once per search. */
static enum db_status
expand_word(struct db_conn *c, struct walk *w, int i, const struct terms **out)
{
    struct terms *t = &w->exp[i];
    enum db_status st = DB_NO_ROWS;

    if (!t->done) {
        st = expand(c, w->q->words[i], w->q->lens[i], t);
        t->done = st >= 0;
    }
    *out = t;
    return st;
}

/*
 * The regular expressions the other query words must meet, in the row's doc (' w1 w2 '),
 * for a person rank r: ' o ' (a word), ' o' (a prefix), 'o' (inside); at rank 4, a word
 * of 5 letters or more may instead be one of the vocabulary's words one typo away from
 * it (' (t1|t2) '). Words are [a-z0-9]: nothing in them is special to a regex.
 */
static enum db_status
patterns_for(struct db_conn *c, struct walk *w, int r, bool wide, int skip, char **out)
{
    const struct query *q = w->q;
    char *pats[DIR_SEARCH_MAX_WORDS] = { 0 };
    size_t n = 0;
    enum db_status st = DB_NO_ROWS;

    *out = NULL;
    for (int i = 0; i < q->n && st >= 0; i++) {
        const char *o = q->words[i];

        if (i == skip) {
            continue;
        }
        if (r == 1) {
            pats[n++] = xasprintf(" %s ", o);
        } else if (r == 2 || q->lens[i] < 3) {
            pats[n++] = xasprintf(" %s", o);
        } else if (r == 3 || q->lens[i] < 5) {
            pats[n++] = xstrdup(o);
        } else {
            const struct terms *t;
            struct util_buf b = { 0 };

            st = expand_word(c, w, i, &t);
            util_buf_puts(&b, o);
            for (size_t j = 0; j < t->n; j++) {
                if (t->v[j].tier == 4 && (t->v[j].person || (wide && t->v[j].entity))) {
                    util_buf_printf(&b, "| %s ", t->v[j].word);
                }
            }
            pats[n++] = util_buf_take(&b);
        }
    }
    if (st >= 0) {
        *out = literal(pats, n);
    }
    for (size_t i = 0; i < n; i++) {
        free(pats[i]);
    }
    return st;
}

/* The entities matched, each with the best entity tier of any query word. */
struct ents {
    const struct query *q;
    char **names;
    int *tiers;
    size_t n;
};

static void
on_entity(void *ctx, const char *entity, const char *doc)
{
    struct ents *e = ctx;
    int best = TIER_NONE;

    if (e->q->filter.entity != NULL && strcmp(e->q->filter.entity, entity) != 0) {
        return;
    }
    for (int i = 0; i < e->q->n; i++) {
        const char *w;
        size_t nw;
        int t = doc_tier(e->q->words[i], e->q->lens[i], doc, &w, &nw);

        if (t < best) {
            best = t;
        }
    }
    if (best == TIER_NONE) {
        return;
    }
    e->names = xrealloc(e->names, (e->n + 1) * sizeof(*e->names));
    e->tiers = xrealloc(e->tiers, (e->n + 1) * sizeof(*e->tiers));
    e->names[e->n] = xstrdup(entity);
    e->tiers[e->n++] = best;
}

/* The rows of a single pass, ranked here; the candidates at their place. */
struct pass {
    const struct query *q;
    int lo, hi; /* the ranks it gives */
    struct cand *v;
    size_t n;
};

static int
on_pass_row(void *ctx, const struct dir_search_row *r)
{
    struct pass *p = ctx;
    const char *key;
    size_t key_len;
    int rank = rank_row(p->q, r, &key, &key_len);

    /* as on_row: a person rank at the row of the driver's best word; an entity rank
     * keyed by the entity (an entry met once per word: the copies dropped once sorted) */
    if (rank < p->lo || rank > p->hi || (rank > 4 && r->entity == NULL) ||
        (rank <= 4 &&
         (key == NULL || strlen(r->key) != key_len || memcmp(r->key, key, key_len) != 0))) {
        return 0;
    }
    p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
    p->v[p->n++] =
        (struct cand){ rank, rank > 4 ? xstrdup(r->entity) : xstrndup(key, key_len), r->id };
    return 0;
}

static int
cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    int k;

    if (x->rank != y->rank) {
        return x->rank < y->rank ? -1 : 1;
    }
    k = strcmp(x->key, y->key);
    if (k != 0) {
        return k;
    }
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Whether query word i matches some entity word (its vocabulary read). */
static enum db_status
matches_entity(struct db_conn *c, struct walk *w, int i, bool *out)
{
    const struct terms *t;
    enum db_status st = expand_word(c, w, i, &t);

    *out = false;
    for (size_t j = 0; j < t->n; j++) {
        *out = *out || t->v[j].entity;
    }
    return st;
}

/*
 * Ranks lo to hi of a search of several words in one read of the postings of query word
 * walker (every word it matches; the other words checked as loosely as rank 4 does, on
 * the entry's words, or wide: on its words and its entity's words), each row ranked here
 * and the whole sorted in the walks' order, from the cursor (from_rank, key, id); *done
 * false when the postings were more than one read may return (the walks rank by rank
 * are left to do it). Person ranks (lo 1) are read from the driver's postings; entity
 * ranks from those of a word that matches no entity word, which every entry of an
 * entity rank then holds among its own words.
 */
static enum db_status
one_pass(struct db_conn *c,
         struct walk *w,
         int walker,
         int lo,
         int hi,
         bool wide,
         const struct cursor *cur,
         bool *done)
{
    const struct query *q = w->q;
    const struct terms *t;
    struct pass p = { .q = q, .lo = lo, .hi = hi };
    char **list;
    size_t n = 0;
    long est = 0;
    char *lit = NULL, *pats = NULL;
    enum db_status st = expand_word(c, w, walker, &t);

    *done = false;
    if (st < 0) {
        return st;
    }
    list = xcalloc(t->n + 1, sizeof(*list));
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].person) {
            list[n++] = t->v[i].word;
        }
    }
    if (n == 0) {
        free(list);
        return st; /* nothing of the word in the vocabulary: the walks look */
    }
    lit = literal(list, n);
    free(list);
    st = dir_search_store_postings(c, lit, &est);
    if (st >= 0 && est <= ONEPASS_MAX) {
        st = patterns_for(c, w, 4, wide, walker, &pats);
    }
    if (st >= 0 && est <= ONEPASS_MAX) {
        st = dir_search_store_words(c, lit, "", 0, pats, wide, ONEPASS_ROWS, &q->filter,
                                    on_pass_row, &p);
        *done = st >= 0 && st < ONEPASS_ROWS;
    }
    if (*done && p.n > 0) {
        qsort(p.v, p.n, sizeof(*p.v), cand_cmp);
    }
    for (size_t i = 0; i < p.n; i++) {
        const struct cand *x = &p.v[i];
        int k = x->rank == cur->rank ? strcmp(x->key, cur->key) : 0;
        bool again = i > 0 && cand_cmp(x, &p.v[i - 1]) == 0; /* an entity rank's entry */

        if (*done && !again && w->n < w->want &&
            (x->rank > cur->rank || k > 0 || (k == 0 && x->rank == cur->rank && x->id > cur->id))) {
            w->rank = x->rank;
            cand_push(w, x->key, strlen(x->key), x->id);
        }
    }
    for (size_t i = 0; i < p.n; i++) {
        free(p.v[i].key);
    }
    free(p.v);
    free(lit);
    free(pats);
    return st;
}

/*
 * What every query word must meet in a member's words and its entity's words together
 * (' w1 w2  e1 e2 ') for any entity rank: ' o' (a prefix), 'o' (inside, 3 letters or
 * more), and for 5 letters or more one of the vocabulary's words one typo away. Looser
 * than the ranks, which are computed here from the rows.
 */
static char *
member_patterns(const struct walk *w)
{
    const struct query *q = w->q;
    char *pats[DIR_SEARCH_MAX_WORDS] = { 0 };
    char *lit;

    for (int i = 0; i < q->n; i++) {
        struct util_buf b = { 0 };

        util_buf_printf(&b, q->lens[i] < 3 ? " %s" : "%s", q->words[i]);
        for (size_t j = 0; q->lens[i] >= 5 && j < w->exp[i].n; j++) {
            if (w->exp[i].v[j].tier == 4) {
                util_buf_printf(&b, "| %s ", w->exp[i].v[j].word);
            }
        }
        pats[i] = util_buf_take(&b);
    }
    lit = literal(pats, (size_t)q->n);
    for (int i = 0; i < q->n; i++) {
        free(pats[i]);
    }
    return lit;
}

/* The entity ranks (5 to 8), from the cursor's when it is one of them. */
static enum db_status
walk_entities(struct db_conn *c, struct walk *w, int from_rank, const char *key, long long id)
{
    const struct query *q = w->q;
    struct ents ents = { .q = q };
    char **words = NULL;
    size_t n_words = 0;
    char *pats = NULL;
    enum db_status st = DB_NO_ROWS;

    /* several words, one of which matches no entity word: one read of its postings */
    for (int i = 0; !w->single && i < q->n && st >= 0; i++) {
        struct cursor cur = { .rank = from_rank, .id = id };
        bool e = false, done = false;

        snprintf(cur.key, sizeof(cur.key), "%s", key);
        st = matches_entity(c, w, i, &e);
        if (st >= 0 && !e) {
            st = one_pass(c, w, i, 5, RANK_MAX, true, &cur, &done);
        }
        if (st < 0 || done) {
            return st;
        }
        if (!e) {
            break; /* too many postings: the walks */
        }
    }
    for (int i = 0; i < q->n && st >= 0; i++) {
        const struct terms *t;

        st = expand_word(c, w, i, &t);
        for (size_t j = 0; j < t->n; j++) {
            if (t->v[j].entity) {
                words = xrealloc(words, (n_words + 1) * sizeof(*words));
                words[n_words++] = xstrdup(t->v[j].word);
            }
        }
    }
    if (st >= 0 && n_words > 0) {
        char *lit = literal(words, n_words);

        st = dir_search_store_entities(c, lit, on_entity, &ents);
        free(lit);
    }
    if (st >= 0 && ents.n > 0) {
        pats = member_patterns(w);
    }
    for (int r = from_rank < 5 ? 5 : from_rank; st >= 0 && r <= RANK_MAX && w->n < w->want; r++) {
        char **list = xcalloc(ents.n + 1, sizeof(*list));
        size_t n = 0;

        for (size_t i = 0; i < ents.n; i++) {
            /* one word: only the entities it matches at exactly this tier */
            if (w->single ? ents.tiers[i] == r - RANK_ENTITY : ents.tiers[i] <= r - RANK_ENTITY) {
                list[n++] = ents.names[i];
            }
        }
        if (n > 0) {
            char *lit;

            qsort(list, n, sizeof(*list), cmp_str);
            lit = literal(list, n);
            w->rank = r;
            st = walk_rank(c, w, WALK_MEMBERS, lit, pats, r == from_rank ? key : "",
                           r == from_rank ? id : 0);
            free(lit);
        }
        free(list);
    }
    free(pats);
    strv_free(words, n_words);
    strv_free(ents.names, ents.n);
    free(ents.tiers);
    return st;
}

/* The person ranks (1 to 4), from the cursor's when it is one of them. */
static enum db_status
walk_persons(struct db_conn *c, struct walk *w, int from_rank, const char *key, long long id)
{
    const struct query *q = w->q;
    const struct terms *t = NULL;
    enum db_status st = DB_NO_ROWS;

    if (!w->single && w->q->driver_postings <= ONEPASS_MAX) {
        struct cursor cur = { .rank = from_rank, .id = id };
        bool done = false, ent_driver = false, ent_other = false;

        snprintf(cur.key, sizeof(cur.key), "%s", key);
        for (int i = 0; i < q->n && st >= 0; i++) {
            bool e = false;

            st = matches_entity(c, w, i, &e);
            ent_driver = ent_driver || (e && i == q->driver);
            ent_other = ent_other || (e && i != q->driver);
        }
        if (st >= 0) {
            st = one_pass(c, w, q->driver, 1, ent_driver ? 4 : RANK_MAX, !ent_driver && ent_other,
                          &cur, &done);
        }
        if (st < 0 || done) {
            w->entities_done = done && !ent_driver;
            return st;
        }
    }
    for (int r = from_rank < 1 ? 1 : from_rank; st >= 0 && r <= 4 && w->n < w->want; r++) {
        char **list;
        size_t n = 0;

        if (r > 1 && t == NULL) {
            st = expand_word(c, w, q->driver, &t);
        }
        list = xcalloc((t != NULL ? t->n : 0) + 2, sizeof(*list));
        if (r == 1) {
            /* the driver itself: no need of the vocabulary yet */
            list[n++] = (char *)q->words[q->driver];
        }
        for (size_t i = 0; r > 1 && t != NULL && i < t->n; i++) {
            if (t->v[i].person && (w->single ? t->v[i].tier == r : t->v[i].tier <= r)) {
                list[n++] = t->v[i].word;
            }
        }
        if (st >= 0 && n > 0) {
            char *lit = literal(list, n);
            char *pats = NULL;

            st = patterns_for(c, w, r, false, q->driver, &pats);
            w->rank = r;
            if (st >= 0) {
                st = walk_rank(c, w, WALK_WORDS, lit, pats, r == from_rank ? key : "",
                               r == from_rank ? id : 0);
            }
            free(lit);
            free(pats);
        }
        free(list);
    }
    return st;
}

/* ---- the query and its cursor ---------------------------------------------------- */

/* The term folded and split; SHORT and BAD_PARAM as dir_search answers. */
static enum dir_search_status
query_parse(const struct dir_search_query *in, struct query *q)
{
    size_t len, letters = 0;
    char *p;
    struct util_buf bind = { 0 };
    unsigned char digest[CX_SHA256_LEN];
    char *b;

    memset(q, 0, sizeof(*q));
    if (in->term == NULL || in->limit < 1 || in->limit > 100) {
        return DIR_SEARCH_BAD_PARAM;
    }
    len = strlen(in->term);
    if (len > DIR_SEARCH_MAX_TERM) {
        return DIR_SEARCH_BAD_PARAM;
    }
    fold_text(in->term, len, q->folded, FOLD_APOS_JOIN);
    memcpy(q->buf, q->folded, sizeof(q->buf));
    for (p = q->buf; *p != '\0';) {
        char *w = p;
        bool seen = false;

        while (*p != '\0' && *p != ' ') {
            p++;
        }
        if (*p == ' ') {
            *p++ = '\0';
        }
        letters += strlen(w);
        for (int i = 0; i < q->n; i++) {
            seen = seen || strcmp(q->words[i], w) == 0;
        }
        if (!seen && *w != '\0' && q->n < DIR_SEARCH_MAX_WORDS) {
            q->lens[q->n] = strlen(w);
            q->words[q->n++] = w;
        }
    }
    if ((long)letters < in->min_term || q->n == 0) {
        return DIR_SEARCH_SHORT;
    }
    q->filter.entity = in->entity;
    q->filter.domain = in->domain;
    /* what a cursor is bound to: the words and the filters */
    util_buf_puts(&bind, "annuaire search v1");
    for (int i = 0; i < q->n; i++) {
        util_buf_put(&bind, "\0w", 2);
        util_buf_puts(&bind, q->words[i]);
    }
    util_buf_put(&bind, "\0m", 2);
    util_buf_puts(&bind, in->ministry != NULL ? in->ministry : "\x01");
    util_buf_put(&bind, "\0d", 2);
    util_buf_puts(&bind, in->domain != NULL ? in->domain : "\x01");
    util_buf_put(&bind, "\0e", 2);
    util_buf_puts(&bind, in->entity != NULL ? in->entity : "\x01");
    cx_sha256(bind.p, bind.len, digest);
    b = util_buf_take(&bind);
    free(b);
    memcpy(q->bind, digest, BIND_LEN);
    return DIR_SEARCH_OK;
}

static char *
cursor_make(const struct query *q, const struct cand *c)
{
    size_t key_len = strlen(c->key);
    unsigned char buf[CURSOR_HEAD + CURSOR_KEY];
    size_t i = 0;

    if (key_len > CURSOR_KEY) {
        /* cannot happen: the keys are words or entity names, bounded by the sync */
        log_bug("search cursor key too long");
        key_len = CURSOR_KEY;
    }
    buf[i++] = 1;
    memcpy(buf + i, q->bind, BIND_LEN);
    i += BIND_LEN;
    buf[i++] = (unsigned char)q->driver;
    buf[i++] = (unsigned char)c->rank;
    for (int s = 56; s >= 0; s -= 8) {
        buf[i++] = (unsigned char)((unsigned long long)c->id >> s);
    }
    memcpy(buf + i, c->key, key_len);
    return cx_b64_encode(buf, i + key_len, CX_B64_URL);
}

/* Parses a cursor strictly; -1 when it is not one of this search. */
static int
cursor_parse(const struct query *q, const char *s, struct cursor *out)
{
    unsigned char *raw = NULL;
    size_t len = 0, key_len, i = 1 + BIND_LEN;
    unsigned long long id = 0;
    int rc = -1;

    if (strlen(s) > CURSOR_CHARS || cx_b64_decode(s, strlen(s), CX_B64_URL, &raw, &len) != 0) {
        return -1;
    }
    if (len < CURSOR_HEAD || len > CURSOR_HEAD + CURSOR_KEY || raw[0] != 1 ||
        memcmp(raw + 1, q->bind, BIND_LEN) != 0) {
        goto cleanup;
    }
    out->driver = raw[i++];
    out->rank = raw[i++];
    for (int k = 0; k < 8; k++) {
        id = id << 8 | raw[i++];
    }
    key_len = len - CURSOR_HEAD;
    if (out->driver >= q->n || out->rank > RANK_MAX || id > INT64_MAX ||
        memchr(raw + i, '\0', key_len) != NULL) {
        goto cleanup;
    }
    out->id = (long long)id;
    memcpy(out->key, raw + i, key_len);
    out->key[key_len] = '\0';
    if (out->rank == RANK_NAME ? key_len != 0
                               : key_len == 0 || !util_utf8_ok(out->key, key_len) ||
                                     (out->rank <= 4 && key_len > DIR_SEARCH_MAX_WORD)) {
        goto cleanup;
    }
    for (size_t k = 0; out->rank >= 1 && out->rank <= 4 && k < key_len; k++) {
        if (!((out->key[k] >= 'a' && out->key[k] <= 'z') ||
              (out->key[k] >= '0' && out->key[k] <= '9'))) {
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    free(raw);
    return rc;
}

/*
 * The driver: the query word with the fewest postings (ties: longer, then smaller): by
 * the planner's frequencies of the most common words, then, among the words that are
 * not among them (or when there are no statistics), by their postings counted up to a
 * cap, longest first, each count stopping at the best one so far.
 */
static enum db_status
pick_driver(struct db_conn *c, struct query *q)
{
    int order[DIR_SEARCH_MAX_WORDS];
    double freqs[DIR_SEARCH_MAX_WORDS];
    long best = DRIVER_CAP + 1;
    double total = 0;
    int counted = 0;
    char *lit;
    enum db_status st;

    q->driver = 0;
    if (q->n < 2) {
        return DB_NO_ROWS;
    }
    for (int i = 0; i < q->n; i++) {
        int j = i;

        freqs[i] = 0;
        /* by length, longest first, then bytewise: the tie order */
        while (j > 0 && (q->lens[order[j - 1]] < q->lens[i] ||
                         (q->lens[order[j - 1]] == q->lens[i] &&
                          strcmp(q->words[order[j - 1]], q->words[i]) > 0))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    lit = literal((char *const *)q->words, (size_t)q->n);
    st = dir_search_store_freqs(c, lit, freqs, (size_t)q->n, &total);
    free(lit);
    if (st < 0) {
        return st;
    }
    /* the least common of the common words, unless some word is rarer than all of them */
    q->driver = order[0];
    for (int k = 1; k < q->n; k++) {
        if (freqs[order[k]] < freqs[q->driver]) {
            q->driver = order[k];
        }
    }
    if (freqs[q->driver] > 0) {
        q->driver_postings = freqs[q->driver] * total;
        return DB_NO_ROWS;
    }
    for (int k = 0; k < q->n; k++) {
        long n;

        if (freqs[order[k]] > 0) {
            continue;
        }
        st = dir_search_store_count(c, q->words[order[k]], best, &n);
        if (st < 0) {
            return st;
        }
        if (counted++ == 0 || n < best) {
            best = n;
            q->driver = order[k];
        }
    }
    q->driver_postings = (double)best;
    return DB_NO_ROWS;
}

/* ---- the hits -------------------------------------------------------------------- */

struct details {
    struct dir_search_hit *hits; /* by candidate */
    long long *ids;
    size_t n;
};

static void
on_detail(void *ctx, const struct dir_search_detail *d)
{
    struct details *x = ctx;

    for (size_t i = 0; i < x->n; i++) {
        if (x->ids[i] == d->id && x->hits[i].display_name == NULL) {
            x->hits[i].display_name = xstrdup(d->display_name);
            x->hits[i].entity = d->entity != NULL ? xstrdup(d->entity) : NULL;
            x->hits[i].ministry = xstrdup(d->ministry);
            x->hits[i].address = d->address != NULL ? xstrdup(d->address) : NULL;
            x->hits[i].mxid = d->mxid != NULL ? xstrdup(d->mxid) : NULL;
            return;
        }
    }
}

static bool
address_external(const struct routing_map *routes, const char *address)
{
    struct routing_result res;

    if (routes == NULL || address == NULL || !routing_match(routes, address, &res)) {
        return false;
    }
    return res.external || routing_server_external(routes, res.hs);
}

/* The details of ids (n of them) into hits (zeroed, n of them); missing ones stay so. */
static enum db_status
details_get(struct db_conn *c,
            const struct routing_map *routes,
            long long *ids,
            size_t n,
            struct dir_search_hit *hits)
{
    struct details x = { hits, ids, n };
    struct util_buf b = { 0 };
    char *lit;
    enum db_status st;

    util_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++) {
        util_buf_printf(&b, "%s%lld", i > 0 ? "," : "", ids[i]);
    }
    util_buf_puts(&b, "}");
    lit = util_buf_take(&b);
    st = dir_search_store_hits(c, lit, on_detail, &x);
    free(lit);
    for (size_t i = 0; st >= 0 && i < n; i++) {
        hits[i].external = address_external(routes, hits[i].address);
    }
    return st;
}

void
dir_search_hit_clear(struct dir_search_hit *h)
{
    free(h->display_name);
    free(h->entity);
    free(h->ministry);
    free(h->address);
    free(h->mxid);
    memset(h, 0, sizeof(*h));
}

void
dir_search_result_clear(struct dir_search_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        dir_search_hit_clear(&res->hits[i]);
    }
    free(res->hits);
    free(res->next);
    memset(res, 0, sizeof(*res));
}

enum dir_search_status
dir_search(struct db_conn *c,
           const struct routing_map *routes,
           bool include_externals,
           const struct dir_search_query *in,
           struct dir_search_result *out)
{
    struct query q;
    struct cursor cur = { .rank = RANK_NAME, .id = 0 };
    struct walk w = { 0 };
    struct dir_search_hit *hits = NULL;
    long long *ids = NULL;
    char *sources = NULL;
    enum dir_search_status rs;
    enum db_status st = DB_NO_ROWS;
    size_t page;

    memset(out, 0, sizeof(*out));
    rs = query_parse(in, &q);
    if (rs != DIR_SEARCH_OK) {
        return rs;
    }
    if (in->after != NULL && cursor_parse(&q, in->after, &cur) != 0) {
        return DIR_SEARCH_BAD_CURSOR;
    }
    if (in->ministry != NULL) {
        st = dir_search_store_sources(c, in->ministry, &sources);
        q.filter.sources = sources;
    }
    if (st >= 0 && in->after != NULL) {
        q.driver = cur.driver;
    } else if (st >= 0) {
        st = pick_driver(c, &q);
    }
    /* one more than a page: whether there is a next one */
    w.q = &q;
    w.single = q.n == 1;
    w.want = (size_t)in->limit + 1;
    if (st >= 0 && cur.rank == RANK_NAME) {
        w.rank = RANK_NAME;
        st = walk_rank(c, &w, WALK_NAME, NULL, NULL, "", in->after != NULL ? cur.id : 0);
    }
    if (st >= 0 && (cur.rank <= 4 || !w.single) && w.n < w.want) {
        st = walk_persons(c, &w, cur.rank, cur.key, cur.id);
    }
    if (st >= 0 && w.n < w.want && !w.entities_done) {
        st = walk_entities(c, &w, cur.rank, cur.key, cur.id);
    }
    page = w.n < (size_t)in->limit ? w.n : (size_t)in->limit;
    if (st >= 0 && page > 0) {
        ids = xcalloc(page, sizeof(*ids));
        hits = xcalloc(page, sizeof(*hits));
        for (size_t i = 0; i < page; i++) {
            ids[i] = w.cands[i].id;
        }
        st = details_get(c, routes, ids, page, hits);
    }
    if (st < 0) {
        rs = DIR_SEARCH_DB;
        for (size_t i = 0; hits != NULL && i < page; i++) {
            dir_search_hit_clear(&hits[i]);
        }
        free(hits);
    } else {
        out->hits = xcalloc(page + 1, sizeof(*out->hits));
        for (size_t i = 0; i < page; i++) {
            /* gone between the walk and the details, or an external: left out */
            if (hits[i].display_name == NULL || (hits[i].external && !include_externals)) {
                dir_search_hit_clear(&hits[i]);
            } else {
                out->hits[out->n++] = hits[i];
            }
        }
        free(hits);
        if (w.n > page) {
            out->next = cursor_make(&q, &w.cands[page - 1]);
        }
    }
    for (size_t i = 0; i < w.n; i++) {
        free(w.cands[i].key);
    }
    free(w.cands);
    free(w.last_key);
    for (int i = 0; i < DIR_SEARCH_MAX_WORDS; i++) {
        terms_clear(&w.exp[i]);
    }
    free(ids);
    free(sources);
    return rs;
}

int
dir_identify(struct db_conn *c,
             const struct routing_map *routes,
             const char *address,
             const char *mxid,
             struct dir_search_hit *out)
{
    char *bound = NULL;
    long long id = 0;
    enum db_status st = DB_NO_ROWS;

    memset(out, 0, sizeof(*out));
    if ((address == NULL) == (mxid == NULL)) {
        return -1;
    }
    /* the same statements whether or not each step finds something */
    if (mxid != NULL) {
        st = dir_search_store_bound(c, mxid, &bound);
        address = bound != NULL ? bound : "";
    }
    if (st >= 0) {
        st = dir_search_store_owner(c, address, &id);
    }
    if (st >= 0) {
        st = details_get(c, routes, &id, 1, out);
    }
    free(bound);
    if (st < 0) {
        dir_search_hit_clear(out);
        return -1;
    }
    if (out->display_name == NULL) {
        dir_search_hit_clear(out);
        return 0;
    }
    if (mxid != NULL) {
        /* The entry may own other bound addresses: the answer names the one asked for. */
        free(out->mxid);
        out->mxid = strdup(mxid);
        if (out->mxid == NULL) {
            dir_search_hit_clear(out);
            return -1;
        }
    }
    return 1;
}
