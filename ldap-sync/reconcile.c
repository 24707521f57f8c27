#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/db.h"
#include "ldap-sync/internal.h"

/*
 * A source run in one transaction: entries are streamed with COPY while they are
 * read, then compared and applied with set-based SQL. Nothing is visible until
 * COMMIT, and nothing is applied unless the whole read succeeded.
 *
 * A source that has no entries yet (its first run) is copied straight into
 * directory_entries: there is nothing to compare with. Any other run goes through a
 * temporary staging table and one diff pass against what the source had.
 */

/* Conflicts, listed: live entries claiming one address more than once, with their
 * source and DN. Followed by the condition that picks the addresses to look at. */
#define CONFLICTS_SQL                                                                     \
    "SELECT m.address, array_to_string(array_agg(e.source || ':' || e.dn"                 \
    "  ORDER BY e.source, e.dn), ' | ')"                                                  \
    " FROM annuaire.directory_entries e CROSS JOIN LATERAL unnest(e.mails) AS m(address)" \
    " WHERE e.deleted_at IS NULL AND "
#define CONFLICTS_END " GROUP BY m.address HAVING count(*) > 1 ORDER BY m.address"
/* After a small run: the addresses it touched, found through the GIN index on mails. */
#define CONFLICTS_TOUCHED                                              \
    CONFLICTS_SQL "e.mails && ARRAY(SELECT address FROM sync_touched)" \
                  " AND m.address IN (SELECT address FROM sync_touched)" CONFLICTS_END
/* After a big one: every address of the source. One pass over the live claims finds
 * the 64-bit hashes claimed twice; a second one, only when there are some, lists
 * the addresses behind them that involve this source. */
#define CANDIDATES_SQL                                                                 \
    "CREATE TEMPORARY TABLE sync_candidates ON COMMIT DROP AS SELECT h FROM"           \
    " (SELECT hashtextextended(m.address, 0) AS h FROM annuaire.directory_entries e"   \
    "  CROSS JOIN LATERAL unnest(e.mails) AS m(address) WHERE e.deleted_at IS NULL) c" \
    " GROUP BY h HAVING count(*) > 1"
#define CONFLICTS_CANDIDATES                                                           \
    CONFLICTS_SQL "hashtextextended(m.address, 0) IN (SELECT h FROM sync_candidates)"  \
                  " GROUP BY m.address HAVING count(*) > 1 AND bool_or(e.source = $1)" \
                  " ORDER BY m.address"

/* Above this many rows a run is planned as a bulk one. */
#define BULK_ROWS 20000

struct lsync_stage {
    PGconn *pg;
    const struct lsync_source *src;
    struct util_buf copy; /* COPY data not yet sent */
    char *cookie;         /* the content-sync cookie stored with the data, or NULL */
    bool delete_mode;     /* the server listed deletions: absent keys are unchanged */
    bool full_due;        /* the last full read is older than ldap.full_every_hours */
    long long entries;    /* live entries after the last applied run */
    long long last_read;  /* entries the last complete read found, or -1 */
    long long marks;      /* entries this run finds absent, not yet removed (m and k) */
    long long backs;      /* missing entries back, unchanged (v) */
    long long staged;     /* rows read into the staging table */
    size_t queued;        /* COPY bytes handed to libpq since its buffer was last empty */
    bool direct;          /* COPY goes straight into directory_entries (first run) */
    bool duplicate;       /* that COPY met a key twice */
    bool copying;
    bool begun;
};

static long long
count_of(PGresult *res, int col)
{
    return PQntuples(res) > 0 && !PQgetisnull(res, 0, col) ? atoll(PQgetvalue(res, 0, col)) : 0;
}

struct lsync_stage *
lsync_stage_begin(PGconn *pg,
                  const struct lsync_source *src,
                  long purge_after_days,
                  bool direct_ok,
                  char *err,
                  size_t err_size)
{
    struct lsync_stage *st = xcalloc(1, sizeof(*st));
    char prio[16], days[16];
    const char *source_params[] = { src->name, src->ministry, prio };
    const char *purge_params[] = { src->name, days };
    char hours[16];
    const char *full_params[] = { src->name, hours };
    PGresult *res;

    st->pg = pg;
    st->src = src;
    snprintf(prio, sizeof(prio), "%d", src->priority);
    snprintf(days, sizeof(days), "%ld", purge_after_days);
    snprintf(hours, sizeof(hours), "%d", src->ldap.full_every_hours);
    if (db_plain_exec(pg, "BEGIN", 0, NULL, NULL, err, err_size) != 0) {
        free(st);
        return NULL;
    }
    st->begun = true;
    if (db_plain_exec(pg,
                      "INSERT INTO annuaire.sync_sources (name, ministry, priority)"
                      " VALUES ($1, $2, $3::integer) ON CONFLICT (name) DO UPDATE"
                      " SET ministry = EXCLUDED.ministry, priority = EXCLUDED.priority",
                      3, source_params, NULL, err, err_size) != 0 ||
        /* One run of a source at a time, whichever machine starts it. */
        db_plain_exec(pg,
                      "SELECT cookie, last_full_at IS NULL OR last_full_at < now() -"
                      " make_interval(hours => $2::integer), entries, coalesce(last_read, -1)"
                      " FROM annuaire.sync_sources WHERE name = $1 FOR UPDATE",
                      2, full_params, &res, err, err_size) != 0 ||
        (st->cookie = PQgetisnull(res, 0, 0) ? NULL : xstrdup(PQgetvalue(res, 0, 0)),
         st->full_due = strcmp(PQgetvalue(res, 0, 1), "t") == 0,
         st->entries = atoll(PQgetvalue(res, 0, 2)), st->last_read = atoll(PQgetvalue(res, 0, 3)),
         PQclear(res), 0) ||
        db_plain_exec(pg,
                      "DELETE FROM annuaire.directory_entries WHERE source = $1"
                      " AND deleted_at < now() - make_interval(days => $2::integer)",
                      2, purge_params, NULL, err, err_size) != 0 ||
        (direct_ok && (db_plain_exec(pg,
                                     "SELECT NOT EXISTS (SELECT 1 FROM annuaire.directory_entries"
                                     " WHERE source = $1)",
                                     1, source_params, &res, err, err_size) != 0 ||
                       (st->direct = strcmp(PQgetvalue(res, 0, 0), "t") == 0, PQclear(res), 0))) ||
        (!st->direct &&
         db_plain_exec(pg,
                       /* state: e = an entry as read, p = present (unchanged), d = deleted */
                       "CREATE TEMPORARY TABLE sync_staging (state \"char\" NOT NULL,"
                       " key text NOT NULL, dn text NOT NULL,"
                       " mails text[] NOT NULL, display_name text, given_name text, surname text,"
                       " entity text, title text, mobile text, mobile_e164 text,"
                       " hidden boolean NOT NULL, disabled boolean NOT NULL,"
                       " content_hash text NOT NULL) ON COMMIT DROP",
                       0, NULL, NULL, err, err_size) != 0)) {
        lsync_stage_abort(st);
        return NULL;
    }
    if (st->direct) {
        /* Nothing to start from: a full read, whatever mark is stored. */
        free(st->cookie);
        st->cookie = NULL;
        st->full_due = true;
    }
    res = PQexec(pg, st->direct ? "COPY annuaire.directory_entries (source, key, dn, mails,"
                                  " display_name, given_name, surname, entity, title, mobile,"
                                  " mobile_e164, hidden, disabled, content_hash) FROM STDIN"
                                : "COPY sync_staging FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        snprintf(err, err_size, "database: %s", PQerrorMessage(pg));
        PQclear(res);
        lsync_stage_abort(st);
        return NULL;
    }
    PQclear(res);
    st->copying = true;
    PQsetnonblocking(pg, 1); /* see flush_copy */
    return st;
}

/* COPY text format: backslash, tab, newline and carriage return escaped; NULL as \N. */
static void
copy_field(struct util_buf *b, const char *s, bool last)
{
    if (s == NULL) {
        util_buf_put(b, "\\N", 2);
    } else {
        for (;;) {
            size_t plain = strcspn(s, "\\\t\n\r");

            util_buf_put(b, s, plain);
            s += plain;
            if (*s == '\0') {
                break;
            }
            util_buf_put(b,
                         *s == '\\'   ? "\\\\"
                         : *s == '\t' ? "\\t"
                         : *s == '\n' ? "\\n"
                                      : "\\r",
                         2);
            s++;
        }
    }
    util_buf_put(b, last ? "\n" : "\t", 1);
}

static char *
array_literal(char *const *items, size_t n)
{
    struct util_buf b = { 0 };

    util_buf_put(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const char *c = items[i];

        util_buf_put(&b, i ? ",\"" : "\"", i ? 2 : 1);
        for (;;) {
            size_t plain = strcspn(c, "\"\\");

            util_buf_put(&b, c, plain);
            c += plain;
            if (*c == '\0') {
                break;
            }
            util_buf_put(&b, "\\", 1);
            util_buf_put(&b, c++, 1);
        }
        util_buf_put(&b, "\"", 1);
    }
    util_buf_put(&b, "}", 1);
    return util_buf_take(&b);
}

/* A digest of every mapped field: equal digests, unchanged entry. */
static char *
content_hash(const struct lsync_entry *e, const char *mails)
{
    const char *fields[] = {
        e->dn,     mails,    e->display_name, e->given_name,         e->surname,
        e->entity, e->title, e->mobile,       e->hidden ? "1" : "0", e->disabled ? "1" : "0"
    };
    struct util_buf b = { 0 };
    unsigned char d[CX_SHA256_LEN];
    char *out;

    for (size_t i = 0; i < ANN_ARRAY_LEN(fields); i++) {
        util_buf_puts(&b, fields[i] ? fields[i] : "\x1e");
        util_buf_put(&b, "\x1f", 1);
    }
    cx_sha256(b.p, b.len, d);
    free(b.p);
    out = cx_b64_encode(d, 16, CX_B64_URL);
    return out;
}

/* The COPY failed: the server's own error, and whether it is a key met twice. */
static void
copy_failed(struct lsync_stage *st, PGresult *res, char *err, size_t err_size)
{
    PGresult *next;
    bool own = res == NULL;

    PQsetnonblocking(st->pg, 0);
    if (own && st->copying) {
        /* libpq may still be copying (a local failure): end the COPY so that the
         * results below come to an end. After an error from the server this does
         * nothing, and the server's error is what follows. */
        PQputCopyEnd(st->pg, "the sync run stopped");
    }
    if (own) {
        res = PQgetResult(st->pg);
    }
    if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        st->duplicate = st->direct && state != NULL && strcmp(state, "23505") == 0;
        snprintf(err, err_size, "database: %s", PQresultErrorMessage(res));
    } else {
        snprintf(err, err_size, "database: %s", PQerrorMessage(st->pg));
    }
    if (own) {
        PQclear(res);
    }
    st->copying = false;
    while ((next = PQgetResult(st->pg)) != NULL) {
        PQclear(next);
    }
}

/*
 * COPY data goes out without waiting for PostgreSQL (the connection is non-blocking
 * while copying): what the socket does not take yet waits in libpq's buffer, so the
 * directory and the database work at the same time. Past COPY_AHEAD bytes queued
 * since the buffer was last empty, the reader waits for the database to catch up.
 * (The count overestimates what is pending: a wait may come early, never late.)
 */
#define COPY_AHEAD (8 * 1024 * 1024)

/* Waits until the connection can take more data (and reads what the server sent
 * meanwhile, an error perhaps). @return 0, or -1 when the connection failed */
static int
wait_writable(struct lsync_stage *st)
{
    struct pollfd p = { .fd = PQsocket(st->pg), .events = POLLOUT | POLLIN };

    if (poll(&p, 1, -1) < 0) {
        return errno == EINTR ? 0 : -1;
    }
    return (p.revents & POLLIN) && PQconsumeInput(st->pg) == 0 ? -1 : 0;
}

static int
flush_copy(struct lsync_stage *st, bool drain, char *err, size_t err_size)
{
    int r = 0;

    if (st->copy.len > 0) {
        /* 0: libpq could not queue it yet; it will once the socket takes some. */
        while ((r = PQputCopyData(st->pg, st->copy.p, (int)st->copy.len)) == 0) {
            if (wait_writable(st) != 0 || PQflush(st->pg) < 0) {
                r = -1;
                break;
            }
        }
        if (r != 1) {
            copy_failed(st, NULL, err, err_size);
            return -1;
        }
        st->queued += st->copy.len;
        st->copy.len = 0;
    }
    while ((r = PQflush(st->pg)) == 1 && (drain || st->queued >= COPY_AHEAD)) {
        if (wait_writable(st) != 0) {
            r = -1;
            break;
        }
    }
    if (r < 0) {
        copy_failed(st, NULL, err, err_size);
        return -1;
    }
    if (r == 0) {
        st->queued = 0;
    }
    return 0;
}

/* COPY data leaves in pieces of this size: PostgreSQL reads 64 kB at a time. */
#define COPY_PIECE (64 * 1024)

/* A row was added to the COPY buffer: sends a full piece. @return 0 or -1 */
static int
row_done(struct lsync_stage *st, char *err, size_t err_size)
{
    return st->copy.len >= COPY_PIECE ? flush_copy(st, false, err, err_size) : 0;
}

int
lsync_stage_put(struct lsync_stage *st, const struct lsync_entry *e, char *err, size_t err_size)
{
    char *mails = array_literal(e->mails, e->n_mails);
    char *hash = content_hash(e, mails);

    /* Staging rows start with their state; direct ones with their source. */
    copy_field(&st->copy, st->direct ? st->src->name : "e", false);
    copy_field(&st->copy, e->key, false);
    copy_field(&st->copy, e->dn, false);
    copy_field(&st->copy, mails, false);
    copy_field(&st->copy, e->display_name, false);
    copy_field(&st->copy, e->given_name, false);
    copy_field(&st->copy, e->surname, false);
    copy_field(&st->copy, e->entity, false);
    copy_field(&st->copy, e->title, false);
    copy_field(&st->copy, e->mobile, false);
    copy_field(&st->copy, e->mobile_e164, false);
    copy_field(&st->copy, e->hidden ? "t" : "f", false);
    copy_field(&st->copy, e->disabled ? "t" : "f", false);
    copy_field(&st->copy, hash, true);
    free(mails);
    free(hash);
    return row_done(st, err, err_size);
}

int
lsync_stage_put_key(struct lsync_stage *st, char state, const char *key, char *err, size_t err_size)
{
    char s[2] = { state, '\0' };

    if (st->direct && state == 'p') {
        return 0; /* nothing to keep: the source has no entries yet */
    }
    if (st->direct) {
        /* Only an incremental read lists keys, and a first run reads everything. */
        snprintf(err, err_size, "the server listed changes to a source with no entries");
        return -1;
    }
    copy_field(&st->copy, s, false);
    copy_field(&st->copy, key, false);
    util_buf_puts(&st->copy, "\t{}\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tf\tf\t-\n");
    return row_done(st, err, err_size);
}

long long
lsync_stage_last_read(const struct lsync_stage *st)
{
    return st->last_read;
}

long long
lsync_stage_entries(const struct lsync_stage *st)
{
    return st->entries;
}

const char *
lsync_stage_cookie(const struct lsync_stage *st)
{
    return st->cookie;
}

bool
lsync_stage_duplicate(const struct lsync_stage *st)
{
    return st->duplicate;
}

bool
lsync_stage_full_due(const struct lsync_stage *st)
{
    return st->full_due;
}

void
lsync_stage_set_delete_mode(struct lsync_stage *st, bool delete_mode)
{
    st->delete_mode = delete_mode;
}

int
lsync_stage_count(struct lsync_stage *st,
                  struct lsync_counts *c,
                  int grace_runs,
                  int grace_seconds,
                  char *err,
                  size_t err_size)
{
    char runs[16], secs[16];
    const char *diff_params[] = { st->src->name, st->delete_mode ? "true" : "false", runs, secs };
    char entries[24];
    const char *count_params[] = { st->src->name, diff_params[1], entries };
    PGresult *res = NULL;
    long long dups, twice;

    snprintf(entries, sizeof(entries), "%lld", st->entries);
    snprintf(runs, sizeof(runs), "%d", grace_runs);
    snprintf(secs, sizeof(secs), "%d", grace_seconds);
    if (flush_copy(st, true, err, err_size) != 0) {
        return -1;
    }
    if (PQsetnonblocking(st->pg, 0) != 0 || PQputCopyEnd(st->pg, NULL) != 1) {
        copy_failed(st, NULL, err, err_size);
        return -1;
    }
    st->copying = false;
    res = PQgetResult(st->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        copy_failed(st, res, err, err_size);
        PQclear(res);
        return -1;
    }
    st->staged = atoll(PQcmdTuples(res));
    PQclear(res);
    while ((res = PQgetResult(st->pg)) != NULL) {
        PQclear(res);
    }
    if (st->direct) {
        c->added = st->staged; /* everything is new */
        return 0;
    }
    /* A key twice in one read. After a restart slapd sends a changed entry and lists it
     * present as well: the entry wins (then a deletion, then presence), and that is no
     * fault. An entry sent twice is (the source is inconsistent): one is kept, the
     * other counted as rejected. */
    if (db_plain_exec(st->pg,
                      "SELECT count(*), coalesce(sum(e - 1) FILTER (WHERE e > 1), 0) FROM"
                      " (SELECT count(*) FILTER (WHERE state = 'e') AS e FROM sync_staging"
                      "  GROUP BY key HAVING count(*) > 1) d",
                      0, NULL, &res, err, err_size) != 0) {
        return -1;
    }
    twice = count_of(res, 0);
    dups = count_of(res, 1);
    PQclear(res);
    if (twice > 0 && db_plain_exec(st->pg,
                                   "DELETE FROM sync_staging s USING sync_staging t"
                                   " WHERE s.key = t.key AND s.ctid <> t.ctid"
                                   " AND (position(s.state IN 'pde'), s.ctid)"
                                   "  < (position(t.state IN 'pde'), t.ctid)",
                                   0, NULL, NULL, err, err_size) != 0) {
        return -1;
    }
    c->rejected += dups;
    /* One pass over the read and the source's current entries says what each key is:
     * a (added, or back from a soft delete), c (changed), u (unchanged), v (unchanged,
     * back from missing), r (removed), m (absent: missing from now on), k (still
     * missing, within the grace), x (nothing to do). An absence is a removal only once
     * it lasted grace_runs more complete reads and grace_seconds; a deletion the server
     * lists is one at once. */
    /* A big read joins everything with everything: hash joins, and no time spent on
     * statistics. A small one (an incremental run) gets statistics, so that the planner
     * picks index lookups in a big table. */
    if ((st->staged > BULK_ROWS
             ? db_plain_exec(st->pg, "SET LOCAL enable_nestloop = off", 0, NULL, NULL, err,
                             err_size)
             : db_plain_exec(st->pg, "ANALYZE sync_staging", 0, NULL, NULL, err, err_size)) != 0 ||
        db_plain_exec(
            st->pg,
            "CREATE TEMPORARY TABLE sync_diff ON COMMIT DROP AS"
            " SELECT s.key, CASE"
            "  WHEN s.state = 'd' THEN CASE WHEN e.deleted_at IS NULL AND e.key IS NOT NULL"
            "   THEN 'r' ELSE 'x' END"
            "  WHEN e.key IS NULL OR e.deleted_at IS NOT NULL THEN CASE WHEN s.state = 'p'"
            "   THEN 'x' ELSE 'a' END"
            "  WHEN s.state = 'p' OR e.content_hash = s.content_hash THEN CASE"
            "   WHEN e.missing_since IS NULL THEN 'u' ELSE 'v' END"
            "  ELSE 'c' END AS kind"
            " FROM sync_staging s LEFT JOIN (SELECT key, content_hash, deleted_at, missing_since"
            "  FROM annuaire.directory_entries WHERE source = $1) e ON e.key = s.key"
            /* Deletions listed by the server: what it did not mention is unchanged.
             * Otherwise what is not in the read is absent, and every entry of the
             * source is looked at. */
            " UNION ALL SELECT e.key, CASE"
            "  WHEN $3::integer = 0 AND $4::integer = 0 THEN 'r'"
            "  WHEN e.missing_since IS NULL THEN 'm'"
            "  WHEN e.missing_runs >= $3::integer"
            "   AND e.missing_since <= now() - make_interval(secs => $4::integer) THEN 'r'"
            "  ELSE 'k' END"
            " FROM annuaire.directory_entries e"
            " WHERE NOT $2 AND e.source = $1 AND e.deleted_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM sync_staging s WHERE s.key = e.key)",
            4, diff_params, NULL, err, err_size) != 0 ||
        /* Temporary tables have no statistics until analysed: without them the planner
         * takes them for tiny and nests loops over a million rows. */
        db_plain_exec(st->pg, "ANALYZE sync_diff", 0, NULL, NULL, err, err_size) != 0 ||
        db_plain_exec(
            st->pg,
            "SELECT count(*) FILTER (WHERE kind = 'a'), count(*) FILTER (WHERE kind = 'c'),"
            " count(*) FILTER (WHERE kind = 'r'),"
            /* Listed deletions: the count kept with the source, not a pass over
             * all its entries. */
            " CASE WHEN $2 THEN $3::bigint ELSE (SELECT count(*)"
            "  FROM annuaire.directory_entries"
            "  WHERE source = $1 AND deleted_at IS NULL) END,"
            " count(*) FILTER (WHERE kind IN ('m', 'k')), count(*) FILTER (WHERE kind = 'v'),"
            /* Listed deletions: the missing that the run did not mention stay so. */
            " CASE WHEN $2 THEN (SELECT count(*) FROM annuaire.directory_entries e"
            "  WHERE e.source = $1 AND e.missing_since IS NOT NULL AND e.deleted_at IS NULL"
            "  AND NOT EXISTS (SELECT 1 FROM sync_diff d WHERE d.key = e.key)) ELSE 0 END,"
            " count(*) FILTER (WHERE kind = 'm')"
            " FROM sync_diff",
            3, count_params, &res, err, err_size) != 0) {
        return -1;
    }
    c->added = count_of(res, 0);
    c->changed = count_of(res, 1);
    c->removed = count_of(res, 2);
    c->live_before = count_of(res, 3);
    st->marks = count_of(res, 4);
    st->backs = count_of(res, 5);
    c->missing = st->marks + count_of(res, 6);
    c->marked = count_of(res, 7);
    c->unchanged = c->live_before - c->changed - c->removed - c->missing;
    PQclear(res);
    return 0;
}

/* Lists the conflicts the run is concerned with (see CONFLICTS_SQL). */
static int
list_conflicts(struct lsync_stage *st, bool bulk, PGresult **out, char *err, size_t err_size)
{
    const char *params[] = { st->src->name };
    PGresult *res;

    *out = NULL;
    if (!bulk) {
        return db_plain_exec(st->pg, CONFLICTS_TOUCHED, 0, NULL, out, err, err_size);
    }
    if (db_plain_exec(st->pg, CANDIDATES_SQL, 0, NULL, &res, err, err_size) != 0) {
        return -1;
    }
    bool none = atoll(PQcmdTuples(res)) == 0;

    PQclear(res);
    return none ? 0 : db_plain_exec(st->pg, CONFLICTS_CANDIDATES, 1, params, out, err, err_size);
}

int
lsync_stage_apply(struct lsync_stage *st,
                  struct lsync_counts *c,
                  const char *new_cookie,
                  const char *mode,
                  const char *status,
                  json_t *report,
                  char *err,
                  size_t err_size)
{
    const char *params[] = { st->src->name };
    char live[24];
    char read[24];
    const char *cookie_params[] = { st->src->name, new_cookie, st->delete_mode ? "true" : "false",
                                    live, read };
    /* Many changes: conflicts are looked for among all the source's addresses in one
     * pass rather than address by address. */
    bool bulk = st->direct || (c->added + c->changed > BULK_ROWS &&
                               (c->added + c->changed) * 10 > c->live_before);
    char *report_text = NULL;
    PGresult *res = NULL;
    int ret = -1;

    snprintf(live, sizeof(live), "%lld", c->live_before + c->added - c->removed);
    snprintf(read, sizeof(read), "%lld", c->read);

    if (!st->direct &&
        /* What changes: keys added, changed, restored or removed. Their old and new
         * addresses are the ones whose claimants may have changed. */
        ((!bulk && db_plain_exec(st->pg,
                                 "CREATE TEMPORARY TABLE sync_touched ON COMMIT DROP AS"
                                 " SELECT DISTINCT unnest(e.mails) AS address"
                                 " FROM annuaire.directory_entries e JOIN sync_diff d USING (key)"
                                 " WHERE e.source = $1 AND d.kind IN ('c', 'r')"
                                 " UNION SELECT DISTINCT unnest(s.mails)"
                                 " FROM sync_staging s JOIN sync_diff d USING (key)"
                                 " WHERE d.kind IN ('a', 'c')",
                                 1, params, NULL, err, err_size) != 0) ||
         db_plain_exec(
             st->pg,
             "INSERT INTO annuaire.directory_entries (source, key, dn, mails, display_name,"
             " given_name, surname, entity, title, mobile, mobile_e164, hidden, disabled,"
             " content_hash)"
             " SELECT $1, s.key, s.dn, s.mails, s.display_name, s.given_name, s.surname,"
             " s.entity, s.title, s.mobile, s.mobile_e164, s.hidden, s.disabled,"
             " s.content_hash FROM sync_staging s JOIN sync_diff d USING (key)"
             " WHERE d.kind IN ('a', 'c')"
             " ON CONFLICT (source, key) DO UPDATE SET dn = EXCLUDED.dn,"
             " mails = EXCLUDED.mails, display_name = EXCLUDED.display_name,"
             " given_name = EXCLUDED.given_name, surname = EXCLUDED.surname,"
             " entity = EXCLUDED.entity, title = EXCLUDED.title,"
             " mobile = EXCLUDED.mobile, mobile_e164 = EXCLUDED.mobile_e164,"
             " hidden = EXCLUDED.hidden, disabled = EXCLUDED.disabled,"
             " content_hash = EXCLUDED.content_hash, last_seen_at = now(),"
             " last_changed_at = now(), deleted_at = NULL, missing_since = NULL,"
             " missing_runs = 0",
             1, params, NULL, err, err_size) != 0 ||
         (c->removed > 0 &&
          db_plain_exec(st->pg,
                        "UPDATE annuaire.directory_entries e SET deleted_at = now(),"
                        " missing_since = NULL, missing_runs = 0"
                        " FROM sync_diff d WHERE e.source = $1 AND e.key = d.key AND d.kind = 'r'",
                        1, params, NULL, err, err_size) != 0) ||
         /* Absent: missing from now on, or one more read without it. */
         (st->marks > 0 && db_plain_exec(st->pg,
                                         "UPDATE annuaire.directory_entries e"
                                         " SET missing_since = coalesce(e.missing_since, now()),"
                                         " missing_runs = e.missing_runs + 1"
                                         " FROM sync_diff d WHERE e.source = $1 AND e.key = d.key"
                                         " AND d.kind IN ('m', 'k')",
                                         1, params, NULL, err, err_size) != 0) ||
         (st->backs > 0 &&
          db_plain_exec(st->pg,
                        "UPDATE annuaire.directory_entries e SET missing_since = NULL,"
                        " missing_runs = 0, last_seen_at = now()"
                        " FROM sync_diff d WHERE e.source = $1 AND e.key = d.key AND d.kind = 'v'",
                        1, params, NULL, err, err_size) != 0) ||
         (!bulk &&
          db_plain_exec(st->pg, "ANALYZE sync_touched", 0, NULL, NULL, err, err_size) != 0))) {
        goto cleanup;
    }
    /* The table may have just grown a lot: fresh statistics of the columns the next
     * runs join on, so that they do not wait for autovacuum. */
    if ((c->added + c->changed > BULK_ROWS &&
         db_plain_exec(st->pg, "ANALYZE annuaire.directory_entries (source, key, deleted_at)", 0,
                       NULL, NULL, err, err_size) != 0) ||
        /* The new cookie goes with the data it describes, in the same transaction. */
        db_plain_exec(st->pg,
                      "UPDATE annuaire.sync_sources SET cookie = $2, last_full_at = CASE WHEN $3"
                      " THEN last_full_at ELSE now() END, entries = $4::bigint,"
                      " last_read = CASE WHEN $5::bigint >= 0 THEN $5::bigint ELSE last_read END"
                      " WHERE name = $1",
                      5, cookie_params, NULL, err, err_size) != 0 ||
        /* Addresses claimed by more than one live entry: the view directory_addresses
         * gives each to the source with the lowest priority number; the run says so. */
        list_conflicts(st, bulk, &res, err, err_size) != 0) {
        goto cleanup;
    }
    c->conflicts = res ? PQntuples(res) : 0;
    for (int i = 0; i < PQntuples(res) && i < 100; i++) {
        json_array_append_new(report, json_pack("{s:s, s:s}", "conflict", PQgetvalue(res, i, 0),
                                                "claimed_by", PQgetvalue(res, i, 1)));
    }
    PQclear(res);
    res = NULL;
    /* The pending removals, named in the run record (the first of them). */
    if (c->missing > 0) {
        if (db_plain_exec(st->pg,
                          "SELECT dn, key, to_char(missing_since, 'YYYY-MM-DD HH24:MI:SS TZ'),"
                          " missing_runs FROM annuaire.directory_entries"
                          " WHERE source = $1 AND missing_since IS NOT NULL AND deleted_at IS NULL"
                          " ORDER BY missing_since, key LIMIT 100",
                          1, params, &res, err, err_size) != 0) {
            goto cleanup;
        }
        for (int i = 0; i < PQntuples(res); i++) {
            json_array_append_new(
                report, json_pack("{s:s, s:s, s:s, s:i}", "missing", PQgetvalue(res, i, 0), "key",
                                  PQgetvalue(res, i, 1), "since", PQgetvalue(res, i, 2), "runs",
                                  atoi(PQgetvalue(res, i, 3))));
        }
        PQclear(res);
        res = NULL;
    }
    report_text = json_dumps(report, JSON_COMPACT);
    {
        char n[8][24];
        const char *run[] = { st->src->name, mode, status, n[0], n[1],        n[2], n[3],
                              n[4],          n[5], n[6],   n[7], report_text, read };

        snprintf(n[0], sizeof(n[0]), "%lld", c->added);
        snprintf(n[1], sizeof(n[1]), "%lld", c->changed);
        snprintf(n[2], sizeof(n[2]), "%lld", c->removed);
        snprintf(n[3], sizeof(n[3]), "%lld", c->unchanged);
        snprintf(n[4], sizeof(n[4]), "%lld", c->rejected);
        snprintf(n[5], sizeof(n[5]), "%lld", c->conflicts);
        snprintf(n[6], sizeof(n[6]), "%lld", c->missing);
        snprintf(n[7], sizeof(n[7]), "%lld", c->dropped);
        if (c->read < 0) {
            run[12] = NULL;
        }
        if (db_plain_exec(st->pg,
                          "INSERT INTO annuaire.sync_runs (source, mode, started_at, status, added,"
                          " changed, removed, unchanged, rejected, conflicts, missing, dropped,"
                          " report, entries_read)"
                          " VALUES ($1, $2, now(), $3, $4, $5, $6, $7, $8, $9, $10, $11,"
                          " $12::jsonb, $13::bigint)",
                          13, run, NULL, err, err_size) != 0 ||
            db_plain_exec(st->pg, "COMMIT", 0, NULL, NULL, err, err_size) != 0) {
            goto cleanup;
        }
    }
    st->begun = false;
    ret = 0;
cleanup:
    PQclear(res);
    free(report_text);
    return ret;
}

void
lsync_stage_abort(struct lsync_stage *st)
{
    if (st == NULL) {
        return;
    }
    PQsetnonblocking(st->pg, 0);
    if (st->copying) {
        PQputCopyEnd(st->pg, "aborted");
        PGresult *res;

        while ((res = PQgetResult(st->pg)) != NULL) {
            PQclear(res);
        }
    }
    if (st->begun) {
        PQclear(PQexec(st->pg, "ROLLBACK"));
    }
    free(st->copy.p);
    free(st->cookie);
    free(st);
}
