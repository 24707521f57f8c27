/*
 * The SQL of directory search: named prepared statements over the tables that
 * sql/019_search.sql keeps from the entries' words (registered by dir_init), one function
 * each, rows handed to a callback and columns read by name.
 */
#include "directory/search_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* A visible entry, as the triggers of 019 index them. */
#define VISIBLE \
    " NOT e.hidden AND NOT e.disabled AND e.deleted_at IS NULL AND e.search_words IS NOT NULL"
/* Two of the filters of each walk: the sources of a ministry, the entity (the domain
 * is tested apart: postings carry it, entries compute it). */
#define FILTERS(src, ent, x)                                                 \
    " AND (" src "::text[] IS NULL OR " x ".source = ANY (" src "::text[]))" \
    " AND (" ent "::text IS NULL OR " x ".entity = " ent "::text)"

/* The postings of the words $1 after ($2, $3) whose doc (an expression of the row p)
 * meets every regular expression of $4, under the filters $6 to $8, at most $5. */
#define WORDS_ROWS(doc)                                                             \
    "SELECT p.word AS key, p.id, p.doc, p.edoc, p.name, p.entity"                   \
    " FROM (SELECT DISTINCT u.w COLLATE \"C\" AS w"                                 \
    "  FROM unnest($1::text[]) AS u(w)"                                             \
    "  WHERE u.w COLLATE \"C\" >= $2"                                               \
    "  ORDER BY 1) v"                                                               \
    " CROSS JOIN LATERAL (SELECT p.word, p.id, p.doc, p.edoc, p.name, p.entity"     \
    "  FROM annuaire.search_postings p"                                             \
    "  WHERE p.word = v.w"                                                          \
    "  AND (p.word, p.id) > ($2, $3::bigint)"                                       \
    "  AND " doc " ~ ALL ($4::text[])" FILTERS(                                     \
        "$6", "$7", "p") "  AND ($8::text IS NULL OR p.domains @> ARRAY[$8::text])" \
                         "  ORDER BY p.id"                                          \
                         "  LIMIT $5::integer) p"                                   \
                         " ORDER BY v.w, p.id"                                      \
                         " LIMIT $5::integer"

const struct db_stmt dir_search_stmts[] = {
    { "dir_search_store_sources",
      "SELECT coalesce(array_agg(s.name ORDER BY s.name), '{}')::text AS sources"
      " FROM annuaire.sync_sources s"
      " WHERE s.ministry = $1" },
    { "dir_search_store_count", "SELECT count(*) AS n"
                                " FROM (SELECT 1 FROM annuaire.search_postings p"
                                "  WHERE p.word >= $1 AND p.word <= $1 || '~'"
                                "  LIMIT $2::bigint) x" },
    /* How common each word is among the postings, from the planner's statistics (0:
     * not among the most common ones); no row before the table was first analysed. */
    { "dir_search_store_freqs",
      "SELECT u.n, coalesce((SELECT m.f"
      "  FROM unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS m(v, f)"
      "  WHERE m.v = u.w), 0) AS f, c.reltuples AS total"
      " FROM unnest($1::text[]) WITH ORDINALITY AS u(w, n)"
      " CROSS JOIN pg_stats s"
      " CROSS JOIN pg_class c"
      " WHERE s.schemaname = 'annuaire' AND s.tablename = 'search_postings'"
      " AND s.attname = 'word' AND c.oid = 'annuaire.search_postings'::regclass"
      " ORDER BY u.n" },
    /* How many postings the words have, estimated from the same statistics: a common
     * word's frequency, the others' average; 0 before the table was first analysed. */
    { "dir_search_store_postings",
      "SELECT coalesce(sum(coalesce(m.f, x.rest) * x.total), 0)::bigint AS n"
      " FROM (SELECT s.most_common_vals::text::text[] AS vals, s.most_common_freqs AS freqs,"
      "   c.reltuples AS total,"
      "   (1 - (SELECT coalesce(sum(f), 0) FROM unnest(s.most_common_freqs) AS f))"
      "   / greatest(CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples"
      "     ELSE s.n_distinct END - coalesce(cardinality(s.most_common_freqs), 0), 1) AS rest"
      "  FROM pg_stats s CROSS JOIN pg_class c"
      "  WHERE s.schemaname = 'annuaire' AND s.tablename = 'search_postings'"
      "  AND s.attname = 'word' AND c.oid = 'annuaire.search_postings'::regclass) x"
      " CROSS JOIN unnest($1::text[]) AS u(w)"
      " LEFT JOIN unnest(x.vals, x.freqs) AS m(v, f) ON m.v = u.w" },
    /* Exact and prefix, inside a word (trigram index), one typo (deletion keys). */
    { "dir_search_store_expand", "SELECT t.word, t.person, t.entity"
                                 " FROM annuaire.search_terms t"
                                 " WHERE t.word >= $1 AND t.word <= $1 || '~'"
                                 " UNION"
                                 " SELECT t.word, t.person, t.entity"
                                 " FROM annuaire.search_terms t"
                                 " WHERE $2::text IS NOT NULL AND t.word LIKE $2::text"
                                 " UNION"
                                 " SELECT t.word, t.person, t.entity"
                                 " FROM annuaire.search_term_dels d"
                                 " JOIN annuaire.search_terms t ON t.word = d.word"
                                 " WHERE d.del = ANY ($3::text[])" },
    { "dir_search_store_name",
      "SELECT '' AS key, e.id, annuaire.search_doc(e.search_words) AS doc,"
      " annuaire.search_doc(e.search_entity_words) AS edoc, e.search_name AS name, e.entity"
      " FROM annuaire.directory_entries e"
      " WHERE e.search_name = $1"
      " AND" VISIBLE " AND e.id > $2::bigint" FILTERS(
          "$4",
          "$5",
          "e") " AND ($6::text IS NULL OR annuaire.search_domains(e.mails) @> ARRAY[$6::text])"
               " ORDER BY e.id"
               " LIMIT $3::integer" },
    /* The words in order, each one's postings by id: the sort stops at the limit. The
     * regular expressions are checked on the index (it holds doc), the row read only for
     * those that pass. */
    { "dir_search_store_words",
      "SELECT q.word AS key, q.id, p.doc, p.edoc, p.name, p.entity"
      " FROM (SELECT DISTINCT u.w COLLATE \"C\" AS w"
      "  FROM unnest($1::text[]) AS u(w)"
      "  WHERE u.w COLLATE \"C\" >= $2"
      "  ORDER BY 1) v"
      " CROSS JOIN LATERAL (SELECT q.word, q.id"
      "  FROM annuaire.search_postings q"
      "  WHERE q.word = v.w"
      "  AND (q.word, q.id) > ($2, $3::bigint)"
      "  AND q.doc ~ ALL ($4::text[])"
      "  ORDER BY q.id"
      "  LIMIT $5::integer) q"
      " JOIN annuaire.search_postings p ON p.word = q.word AND p.id = q.id"
      " ORDER BY v.w, q.id"
      " LIMIT $5::integer" },
    /* The same under filters, which need the row. */
    { "dir_search_store_words_filtered", WORDS_ROWS("p.doc") },
    /* The same, the regular expressions met by the entry's words and its entity's words
     * together (' w1 w2  e1 e2 '), under the filters when there are some. */
    { "dir_search_store_words_wide", WORDS_ROWS("(p.doc || p.edoc)") },
    { "dir_search_store_entities", "SELECT s.entity, s.doc"
                                   " FROM annuaire.search_entities s"
                                   " WHERE s.words && $1::text[]" },
    /* The entities in bytewise order, each one's members by id; compared to the entry's
     * entity in its own collation, so that the partial index on (entity, id) serves. */
    { "dir_search_store_members",
      "SELECT m.entity AS key, m.id, m.doc, m.edoc, m.name, m.entity"
      " FROM (SELECT DISTINCT u.x COLLATE \"C\" AS x"
      "  FROM unnest($1::text[]) AS u(x)"
      "  WHERE u.x COLLATE \"C\" >= $2"
      "  ORDER BY 1) v"
      " CROSS JOIN LATERAL (SELECT e.entity, e.id, annuaire.search_doc(e.search_words) AS doc,"
      "   annuaire.search_doc(e.search_entity_words) AS edoc, e.search_name AS name"
      "  FROM annuaire.directory_entries e"
      "  WHERE e.entity = (v.x COLLATE \"default\")"
      "  AND" VISIBLE "  AND (v.x > $2 OR e.id > $3::bigint)" FILTERS(
          "$5",
          "$6",
          "e") "  AND ($7::text IS NULL OR annuaire.search_domains(e.mails) @> ARRAY[$7::text])"
               "  AND (annuaire.search_doc(e.search_words)"
               "   || annuaire.search_doc(e.search_entity_words)) ~ ALL ($8::text[])"
               "  ORDER BY e.id"
               "  LIMIT $4::integer) m"
               " ORDER BY v.x, m.id"
               " LIMIT $4::integer" },
    { "dir_search_store_hits",
      "SELECT e.id, coalesce(e.display_name, '') AS display_name, e.entity,"
      " so.ministry, o.address, a.mxid"
      " FROM unnest($1::bigint[]) WITH ORDINALITY AS i(id, n)"
      " JOIN annuaire.directory_entries e ON e.id = i.id"
      " JOIN annuaire.sync_sources so ON so.name = e.source"
      /* The addresses the entry owns (another source with a lower priority number may
       * hold the others): shown only through them, and not at all without one. */
      " CROSS JOIN LATERAL (SELECT array_agg(m.address ORDER BY m.k) AS owned,"
      "   (array_agg(m.address ORDER BY m.k))[1] AS address"
      "  FROM unnest(e.mails) WITH ORDINALITY AS m(address, k)"
      "  CROSS JOIN LATERAL annuaire.directory_owner(m.address) w"
      "  WHERE w.source = e.source AND w.key = e.key) o"
      " LEFT JOIN LATERAL (SELECT x.mxid FROM annuaire.associations x"
      "  WHERE x.medium = 'email' AND x.address = ANY (o.owned)"
      "  ORDER BY x.address LIMIT 1) a ON true"
      " WHERE" VISIBLE " AND o.address IS NOT NULL ORDER BY i.n" },
    { "dir_search_store_owner",
      "SELECT e.id"
      " FROM annuaire.directory_owner($1) o"
      " JOIN annuaire.directory_entries e ON e.source = o.source AND e.key = o.key"
      " WHERE" VISIBLE },
    { "dir_search_store_bound", "SELECT x.address"
                                " FROM annuaire.associations x"
                                " WHERE x.medium = 'email' AND x.mxid = $1"
                                " ORDER BY x.address"
                                " LIMIT 1" },
};
const size_t dir_search_n_stmts = ANN_ARRAY_LEN(dir_search_stmts);

static const char *
value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* The one value (column col of the first row) of a statement, or NULL without rows. */
static enum db_status
first_value(struct db_conn *c,
            const char *stmt,
            int n,
            const char *const *params,
            const char *col,
            char **out)
{
    const char *names[] = { col };
    int cols[1];
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, stmt, n, params, names, cols, 1, &res);

    *out = st > 0 ? xstrdup(PQgetvalue(res, 0, cols[0])) : NULL;
    PQclear(res);
    return st;
}

/* The same, a number (0 without rows). */
static enum db_status
first_number(struct db_conn *c,
             const char *stmt,
             int n,
             const char *const *params,
             const char *col,
             long long *out)
{
    char *v = NULL;
    enum db_status st = first_value(c, stmt, n, params, col, &v);

    *out = v != NULL ? strtoll(v, NULL, 10) : 0;
    free(v);
    return st;
}

enum db_status
dir_search_store_sources(struct db_conn *c, const char *ministry, char **out)
{
    const char *params[] = { ministry };

    return first_value(c, "dir_search_store_sources", 1, params, "sources", out);
}

enum db_status
dir_search_store_count(struct db_conn *c, const char *word, long cap, long *out)
{
    char cap_s[24];
    const char *params[] = { word, cap_s };
    long long n = 0;
    enum db_status st;

    snprintf(cap_s, sizeof(cap_s), "%ld", cap);
    st = first_number(c, "dir_search_store_count", 2, params, "n", &n);
    *out = (long)n;
    return st;
}

enum db_status
dir_search_store_freqs(struct db_conn *c, const char *words, double *freqs, size_t n, double *total)
{
    static const char *const names[] = { "n", "f", "total" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { words };
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "dir_search_store_freqs", 1, params, names, cols,
                                        ANN_ARRAY_LEN(names), &res);

    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        long i = strtol(PQgetvalue(res, row, cols[0]), NULL, 10);

        if (i >= 1 && (size_t)i <= n) {
            freqs[i - 1] = strtod(PQgetvalue(res, row, cols[1]), NULL);
        }
        *total = strtod(PQgetvalue(res, row, cols[2]), NULL);
    }
    PQclear(res);
    return st;
}

enum db_status
dir_search_store_postings(struct db_conn *c, const char *words, long *out)
{
    const char *params[] = { words };
    long long n = 0;
    enum db_status st = first_number(c, "dir_search_store_postings", 1, params, "n", &n);

    *out = (long)n;
    return st;
}

enum db_status
dir_search_store_expand(struct db_conn *c,
                        const char *word,
                        const char *like,
                        const char *keys,
                        dir_search_term_fn fn,
                        void *ctx)
{
    static const char *const names[] = { "word", "person", "entity" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { word, like, keys };
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "dir_search_store_expand", 3, params, names, cols,
                                        ANN_ARRAY_LEN(names), &res);

    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        fn(ctx, PQgetvalue(res, row, cols[0]), PQgetvalue(res, row, cols[1])[0] == 't',
           PQgetvalue(res, row, cols[2])[0] == 't');
    }
    PQclear(res);
    return st;
}

/* The candidates of a walk, to fn until it says stop. */
static enum db_status
walk(struct db_conn *c,
     const char *stmt,
     int n,
     const char *const *params,
     dir_search_row_fn fn,
     void *ctx)
{
    static const char *const names[] = { "key", "id", "doc", "edoc", "name", "entity" };
    int cols[ANN_ARRAY_LEN(names)];
    PGresult *res = NULL;
    enum db_status st =
        db_exec_columns(c, stmt, n, params, names, cols, ANN_ARRAY_LEN(names), &res);

    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        struct dir_search_row r = {
            .key = PQgetvalue(res, row, cols[0]),
            .id = strtoll(PQgetvalue(res, row, cols[1]), NULL, 10),
            .doc = PQgetvalue(res, row, cols[2]),
            .edoc = PQgetvalue(res, row, cols[3]),
            .name = value(res, row, cols[4]),
            .entity = value(res, row, cols[5]),
        };

        if (fn(ctx, &r) != 0) {
            break;
        }
    }
    PQclear(res);
    return st;
}

enum db_status
dir_search_store_name(struct db_conn *c,
                      const char *name,
                      long long after_id,
                      int limit,
                      const struct dir_search_filter *f,
                      dir_search_row_fn fn,
                      void *ctx)
{
    char after_s[24], limit_s[16];
    const char *params[] = { name, after_s, limit_s, f->sources, f->entity, f->domain };

    snprintf(after_s, sizeof(after_s), "%lld", after_id);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    return walk(c, "dir_search_store_name", ANN_ARRAY_LEN(params), params, fn, ctx);
}

enum db_status
dir_search_store_words(struct db_conn *c,
                       const char *words,
                       const char *after_key,
                       long long after_id,
                       const char *patterns,
                       bool wide,
                       int limit,
                       const struct dir_search_filter *f,
                       dir_search_row_fn fn,
                       void *ctx)
{
    char after_s[24], limit_s[16];
    const char *params[] = { words,   after_key,  after_s,   patterns,
                             limit_s, f->sources, f->entity, f->domain };

    snprintf(after_s, sizeof(after_s), "%lld", after_id);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    if (wide) {
        return walk(c, "dir_search_store_words_wide", ANN_ARRAY_LEN(params), params, fn, ctx);
    }
    if (f->sources == NULL && f->entity == NULL && f->domain == NULL) {
        return walk(c, "dir_search_store_words", 5, params, fn, ctx);
    }
    return walk(c, "dir_search_store_words_filtered", ANN_ARRAY_LEN(params), params, fn, ctx);
}

enum db_status
dir_search_store_entities(struct db_conn *c, const char *words, dir_search_entity_fn fn, void *ctx)
{
    static const char *const names[] = { "entity", "doc" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { words };
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "dir_search_store_entities", 1, params, names, cols,
                                        ANN_ARRAY_LEN(names), &res);

    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        fn(ctx, PQgetvalue(res, row, cols[0]), PQgetvalue(res, row, cols[1]));
    }
    PQclear(res);
    return st;
}

enum db_status
dir_search_store_members(struct db_conn *c,
                         const char *entities,
                         const char *after_key,
                         long long after_id,
                         const char *patterns,
                         int limit,
                         const struct dir_search_filter *f,
                         dir_search_row_fn fn,
                         void *ctx)
{
    char after_s[24], limit_s[16];
    const char *params[] = { entities,   after_key, after_s,   limit_s,
                             f->sources, f->entity, f->domain, patterns };

    snprintf(after_s, sizeof(after_s), "%lld", after_id);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    return walk(c, "dir_search_store_members", ANN_ARRAY_LEN(params), params, fn, ctx);
}

enum db_status
dir_search_store_hits(struct db_conn *c, const char *ids, dir_search_detail_fn fn, void *ctx)
{
    static const char *const names[] = { "id",       "display_name", "entity",
                                         "ministry", "address",      "mxid" };
    int cols[ANN_ARRAY_LEN(names)];
    const char *params[] = { ids };
    PGresult *res = NULL;
    enum db_status st = db_exec_columns(c, "dir_search_store_hits", 1, params, names, cols,
                                        ANN_ARRAY_LEN(names), &res);

    for (int row = 0; st > 0 && row < PQntuples(res); row++) {
        struct dir_search_detail d = {
            .id = strtoll(PQgetvalue(res, row, cols[0]), NULL, 10),
            .display_name = PQgetvalue(res, row, cols[1]),
            .entity = value(res, row, cols[2]),
            .ministry = PQgetvalue(res, row, cols[3]),
            .address = value(res, row, cols[4]),
            .mxid = value(res, row, cols[5]),
        };

        fn(ctx, &d);
    }
    PQclear(res);
    return st;
}

enum db_status
dir_search_store_owner(struct db_conn *c, const char *address, long long *id)
{
    const char *params[] = { address };

    return first_number(c, "dir_search_store_owner", 1, params, "id", id);
}

enum db_status
dir_search_store_bound(struct db_conn *c, const char *mxid, char **address)
{
    const char *params[] = { mxid };

    return first_value(c, "dir_search_store_bound", 1, params, "address", address);
}
