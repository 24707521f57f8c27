/*
 * The search words of a directory entry (sql/019_search.sql says what each column
 * holds), folded by core/fold.c while the sync maps the entry, as PostgreSQL text[]
 * literals for the COPY of a run and for `annuaire migrate`, which fills them in, with
 * this same code, for the entries stored before the search columns existed.
 */
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/fold.h"
#include "ldap-sync/internal.h"
#include "ldap-sync/ldap_sync.h"
#include "ldap-sync/store.h"

/* The bounds of sql/019_search.sql: at most this many words, each at most this long (a
 * longer word is cut: words are ASCII). */
#define MAX_WORDS 32
#define MAX_WORD  64

/* search_name is cut to at most this many bytes, at the end of a word: PostgreSQL's btree
 * index on it takes at most 2704 bytes an entry, and the exact-name tier compares it with
 * a folded term of at most 256 bytes (DIR_SEARCH_MAX_TERM). */
#define MAX_NAME 256

/* Texts up to this long are folded on the stack (mapped values are at most 4096 bytes). */
#define STACK_TEXT 4096

/* Entries `annuaire migrate` fills per transaction. */
#define FILL_BATCH 2000

/*
 * French stop words, left out of the entity's words: a constant list (articles,
 * elided articles, and the prepositions and conjunctions of administrative names:
 * "Direction des systèmes d'information" -> direction, information, systemes).
 */
static const char *const stop_words[] = {
    "a",  "au", "aux", "d",  "de",  "des", "du",   "en",
    "et", "l",  "la",  "le", "les", "par", "pour", "sur",
};

struct word_set {
    char word[MAX_WORDS][MAX_WORD + 1];
    size_t n;
};

static void
add_word(struct word_set *ws, const char *w, size_t len)
{
    if (len == 0 || ws->n == MAX_WORDS) {
        return;
    }
    if (len > MAX_WORD) {
        len = MAX_WORD;
    }
    for (size_t i = 0; i < ws->n; i++) {
        if (strncmp(ws->word[i], w, len) == 0 && ws->word[i][len] == '\0') {
            return;
        }
    }
    memcpy(ws->word[ws->n], w, len);
    ws->word[ws->n][len] = '\0';
    ws->n++;
}

/* The next word of a folded text at *p (words are separated by spaces, possibly several
 * once digits are blanked). @return its length, 0 at the end */
static size_t
next_word(const char **p, const char **start)
{
    const char *s = *p;
    size_t len;

    while (*s == ' ') {
        s++;
    }
    len = strcspn(s, " ");
    *start = s;
    *p = s + len;
    return len;
}

static void
blank_digits(char *s)
{
    for (; *s != '\0'; s++) {
        if (*s >= '0' && *s <= '9') {
            *s = ' ';
        }
    }
}

/* A text folded twice into one buffer: apostrophes joined, then split. */
struct folded {
    char stack[2 * (STACK_TEXT + 1)];
    char *heap;
    const char *join, *split;
};

static void
fold_both(struct folded *f, const char *s, size_t n, bool digits_out)
{
    char *buf = f->stack;

    f->heap = NULL;
    if (n > STACK_TEXT) {
        buf = f->heap = xmalloc(2 * (n + 1));
    }
    fold_text(s, n, buf, FOLD_APOS_JOIN);
    fold_text(s, n, buf + n + 1, FOLD_APOS_SPLIT);
    if (digits_out) {
        blank_digits(buf);
        blank_digits(buf + n + 1);
    }
    f->join = buf;
    f->split = buf + n + 1;
}

/*
 * The words of one text: each word with its apostrophes joined (d'angelo -> dangelo)
 * and, for a word that had some, the part after each (angelo). The split form has the
 * same letters as the joined one, with a space more where an apostrophe was: its words
 * are consumed until they make up the joined word, and each one after the first starts
 * a part.
 */
static void
add_text(struct word_set *ws, const char *s, size_t n, bool digits_out)
{
    struct folded f;
    const char *jp, *sp, *jw, *sw;
    size_t jl;

    fold_both(&f, s, n, digits_out);
    jp = f.join;
    sp = f.split;
    while ((jl = next_word(&jp, &jw)) > 0) {
        size_t got = next_word(&sp, &sw);

        add_word(ws, jw, jl);
        while (got < jl) {
            size_t more = next_word(&sp, &sw);

            if (more == 0) {
                break; /* cannot happen: the same letters */
            }
            add_word(ws, jw + got, jl - got);
            got += more;
        }
    }
    free(f.heap);
}

/* Cuts a folded text of len bytes (words of [a-z0-9], one space between them) to at most
 * max bytes: after its last word that ends within them, else, for a first word longer
 * than max, inside it. @return the new length */
static size_t
cut_at_word(char *s, size_t len, size_t max)
{
    size_t n = max;

    if (len <= max) {
        return len;
    }
    if (s[max] != ' ') {
        while (n > 0 && s[n - 1] != ' ') {
            n--;
        }
        n = n > 0 ? n - 1 : max;
    }
    s[n] = '\0';
    return n;
}

static int
word_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool
stop_word(const char *w, size_t len)
{
    for (size_t i = 0; i < ANN_ARRAY_LEN(stop_words); i++) {
        if (strncmp(stop_words[i], w, len) == 0 && stop_words[i][len] == '\0') {
            return true;
        }
    }
    return false;
}

/* The sorted set as a text[] literal. Words are [a-z0-9] only, nothing to escape; each
 * is quoted all the same, so that a word such as "null" stays a word. @return owned */
static char *
array_literal(struct word_set *ws)
{
    char *out = xmalloc(ws->n * (MAX_WORD + 3) + 3);
    size_t o = 0;

    qsort(ws->word, ws->n, sizeof(ws->word[0]), word_cmp);
    out[o++] = '{';
    for (size_t i = 0; i < ws->n; i++) {
        size_t len = strlen(ws->word[i]);

        if (i > 0) {
            out[o++] = ',';
        }
        out[o++] = '"';
        memcpy(out + o, ws->word[i], len);
        o += len;
        out[o++] = '"';
    }
    out[o++] = '}';
    out[o] = '\0';
    return out;
}

void
lsync_words_compute(const struct lsync_words_in *in, struct lsync_words *out)
{
    struct word_set ws = { .n = 0 };
    const char *names[] = { in->display_name, in->given_name, in->surname };

    for (size_t i = 0; i < ANN_ARRAY_LEN(names); i++) {
        if (names[i] != NULL) {
            add_text(&ws, names[i], strlen(names[i]), false);
        }
    }
    for (size_t i = 0; i < in->n_mails; i++) {
        const char *at = strrchr(in->mails[i], '@');

        add_text(&ws, in->mails[i], at != NULL ? (size_t)(at - in->mails[i]) : 0, true);
    }
    out->words = array_literal(&ws);

    ws.n = 0;
    if (in->entity != NULL) {
        struct folded f;
        const char *p, *w;
        size_t len;

        fold_both(&f, in->entity, strlen(in->entity), false);
        p = f.split;
        while ((len = next_word(&p, &w)) > 0) {
            if (!stop_word(w, len)) {
                add_word(&ws, w, len);
            }
        }
        free(f.heap);
    }
    out->entity_words = array_literal(&ws);

    out->name = NULL;
    if (in->display_name != NULL) {
        size_t n = strlen(in->display_name);
        char *name = xmalloc(n + 1);
        size_t len = fold_text(in->display_name, n, name, FOLD_APOS_JOIN);

        if (cut_at_word(name, len, MAX_NAME) > 0) {
            out->name = name;
        } else {
            free(name);
        }
    }
}

void
lsync_words_clear(struct lsync_words *w)
{
    free(w->words);
    free(w->entity_words);
    free(w->name);
    memset(w, 0, sizeof(*w));
}

/* ---- annuaire migrate: the words of the entries that have none ---- */

struct fill_batch {
    long long last_id;
    size_t n;
    char *ids[FILL_BATCH];
    char *words[FILL_BATCH], *entity_words[FILL_BATCH], *names[FILL_BATCH];
};

static void
fill_row(void *ctx, const struct lsync_store_words_row *row)
{
    struct fill_batch *b = ctx;
    struct lsync_words w;

    if (b->n == FILL_BATCH) {
        return; /* cannot happen: the statement's LIMIT */
    }
    lsync_words_compute(&row->in, &w);
    b->ids[b->n] = xasprintf("%lld", row->id);
    b->words[b->n] = w.words;
    b->entity_words[b->n] = w.entity_words;
    b->names[b->n] = w.name;
    b->n++;
    b->last_id = row->id;
}

static void
fill_batch_clear(struct fill_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->ids[i]);
        free(b->words[i]);
        free(b->entity_words[i]);
        free(b->names[i]);
    }
    b->n = 0;
}

void
lsync_words_init(void)
{
    lsync_store_words_init();
}

int
lsync_words_fill(struct db_conn *db, long long *out_filled, char *err, size_t err_size)
{
    struct fill_batch *b = xcalloc(1, sizeof(*b));
    long long filled = 0;
    int rc = -1;

    for (;;) {
        enum db_status st;
        long long updated = 0;
        size_t got;

        if (db_begin(db) < 0) {
            goto failed;
        }
        st = lsync_store_words_pending(db, b->last_id, FILL_BATCH, fill_row, b);
        got = b->n;
        if (st >= 0 && got > 0) {
            st = lsync_store_words_set(
                db, (const char *const *)b->ids, (const char *const *)b->words,
                (const char *const *)b->entity_words, (const char *const *)b->names, got, &updated);
        }
        fill_batch_clear(b);
        if (st < 0 || db_commit(db) < 0) {
            db_rollback(db);
            goto failed;
        }
        filled += updated;
        if (got < FILL_BATCH) {
            break;
        }
    }
    *out_filled = filled;
    rc = 0;
    goto cleanup;
failed:
    snprintf(err, err_size, "database: %s", db_conn_error(db));
cleanup:
    free(b);
    return rc;
}
