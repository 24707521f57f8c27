/*
 * A source run in one transaction: entries are streamed with COPY while they are
 * read, then compared and applied with set-based SQL (the steps of ldap-sync/store.c,
 * functions of sql/013_sync_steps.sql). Nothing is visible until COMMIT, and nothing
 * is applied unless the whole read succeeded.
 *
 * A source that has no entries yet (its first run) is copied straight into
 * directory_entries: there is nothing to compare with. Any other run goes through a
 * temporary staging table and one diff pass against what the source had.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/db.h"
#include "ldap-sync/internal.h"
#include "ldap-sync/store.h"

/* Above this many rows a run is planned as a bulk one. */
#define BULK_ROWS 20000

/* COPY data leaves in pieces of this size: PostgreSQL reads 64 kB at a time. */
#define COPY_PIECE (64 * 1024)

struct lsync_stage {
    struct db_conn *db;
    const struct lsync_source *src;
    struct lsync_copy *stream; /* the COPY, until the run is counted */
    struct util_buf copy;      /* COPY data not yet sent */
    char *cookie;              /* the content-sync cookie stored with the data, or NULL */
    bool delete_mode;          /* the server listed deletions: absent keys are unchanged */
    bool full_due;             /* the last full read is older than ldap.full_every_hours */
    long long entries;         /* live entries after the last applied run */
    long long last_read;       /* entries the last complete read found, or -1 */
    long long marks;           /* entries this run finds absent, not yet removed (m and k) */
    long long backs;           /* missing entries back, unchanged (v) */
    long long staged;          /* rows read into the staging table */
    bool direct;               /* COPY goes straight into directory_entries (first run) */
    bool begun;
};

/* A statement failed: the database's message. @return -1 */
static int
db_failed(struct lsync_stage *st, char *err, size_t err_size)
{
    snprintf(err, err_size, "database: %s", db_conn_error(st->db));
    return -1;
}

struct lsync_stage *
lsync_stage_begin(struct db_conn *db,
                  const struct lsync_source *src,
                  long purge_after_days,
                  bool direct_ok,
                  const struct lsync_options *opts,
                  char *err,
                  size_t err_size)
{
    struct lsync_stage *st = xcalloc(1, sizeof(*st));
    struct lsync_store_start start;
    bool held = false;

    st->db = db;
    st->src = src;
    if (db_begin(db) < 0) {
        db_failed(st, err, err_size);
        free(st);
        return NULL;
    }
    st->begun = true;
    if (lsync_store_lock_held(db, src->name, &held) < 0) {
        db_failed(st, err, err_size);
        lsync_stage_abort(st);
        return NULL;
    }
    if (!held) {
        snprintf(err, err_size,
                 "the run lock was lost (the connection to the database was reset): run again");
        lsync_stage_abort(st);
        return NULL;
    }
    if (lsync_store_source_begin(db, src, purge_after_days, direct_ok, &start) < 0) {
        db_failed(st, err, err_size);
        lsync_stage_abort(st);
        return NULL;
    }
    if (opts->unretire && lsync_unretire(db, src->name, opts) != 0) {
        lsync_store_start_clear(&start);
        db_failed(st, err, err_size);
        lsync_stage_abort(st);
        return NULL;
    }
    st->cookie = start.cookie; /* taken */
    st->full_due = start.full_due;
    st->entries = start.entries;
    st->last_read = start.last_read;
    st->direct = start.direct;
    if (st->direct) {
        /* Nothing to start from: a full read, whatever mark is stored. */
        free(st->cookie);
        st->cookie = NULL;
        st->full_due = true;
    }
    st->stream = lsync_store_copy_begin(db, st->direct, err, err_size);
    if (st->stream == NULL) {
        lsync_stage_abort(st);
        return NULL;
    }
    return st;
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

/* A row was added to the COPY buffer: sends a full piece. @return 0 or -1 */
static int
row_done(struct lsync_stage *st, char *err, size_t err_size)
{
    return st->copy.len >= COPY_PIECE
               ? lsync_store_copy_put(st->stream, &st->copy, false, err, err_size)
               : 0;
}

int
lsync_stage_put(struct lsync_stage *st, const struct lsync_entry *e, char *err, size_t err_size)
{
    char *mails = db_text_array((const char *const *)e->mails, e->n_mails);
    char *hash = content_hash(e, mails);

    /* Staging rows start with their state; direct ones with their source. */
    lsync_store_copy_field(&st->copy, st->direct ? st->src->name : "e", false);
    lsync_store_copy_field(&st->copy, e->key, false);
    lsync_store_copy_field(&st->copy, e->dn, false);
    lsync_store_copy_field(&st->copy, mails, false);
    lsync_store_copy_field(&st->copy, e->display_name, false);
    lsync_store_copy_field(&st->copy, e->given_name, false);
    lsync_store_copy_field(&st->copy, e->surname, false);
    lsync_store_copy_field(&st->copy, e->entity, false);
    lsync_store_copy_field(&st->copy, e->title, false);
    lsync_store_copy_field(&st->copy, e->mobile, false);
    lsync_store_copy_field(&st->copy, e->mobile_e164, false);
    lsync_store_copy_field(&st->copy, e->hidden ? "t" : "f", false);
    lsync_store_copy_field(&st->copy, e->disabled ? "t" : "f", false);
    lsync_store_copy_field(&st->copy, hash, false);
    lsync_store_copy_field(&st->copy, e->words.words, false);
    lsync_store_copy_field(&st->copy, e->words.entity_words, false);
    lsync_store_copy_field(&st->copy, e->words.name, true);
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
    lsync_store_copy_field(&st->copy, s, false);
    lsync_store_copy_field(&st->copy, key, false);
    util_buf_puts(&st->copy, "\t{}\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tf\tf\t-\t\\N\t\\N\t\\N\n");
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
    return lsync_store_copy_duplicate(st->stream);
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
    struct lsync_store_diff_in in = {
        .source = st->src->name,
        .delete_mode = st->delete_mode,
        .grace_runs = grace_runs,
        .grace_seconds = grace_seconds,
        .entries = st->entries,
    };
    struct lsync_store_diff d;

    if (lsync_store_copy_end(st->stream, &st->copy, &st->staged, err, err_size) != 0) {
        return -1;
    }
    if (st->direct) {
        c->added = st->staged; /* everything is new */
        return 0;
    }
    /* Keys read twice, then what each key is (see annuaire_sync_diff). A big read joins
     * everything with everything; a small one (an incremental run) gets statistics. */
    in.bulk = st->staged > BULK_ROWS;
    if (lsync_store_diff(st->db, &in, &d) < 0) {
        return db_failed(st, err, err_size);
    }
    c->rejected += d.rejected;
    c->added = d.added;
    c->changed = d.changed;
    c->removed = d.removed;
    c->live_before = d.live_before;
    st->marks = d.marks;
    st->backs = d.backs;
    c->missing = st->marks + d.missing_unmentioned;
    c->marked = d.marked;
    c->unchanged = c->live_before - c->changed - c->removed - c->missing;
    return 0;
}

/* The first conflicts in the run record; all of them counted. */
struct conflicts {
    json_t *report;
    int listed;
};

static void
add_conflict(void *ctx, const char *address, const char *claimed_by)
{
    struct conflicts *k = ctx;

    if (k->listed++ < 100) {
        json_array_append_new(
            k->report, json_pack("{s:s, s:s}", "conflict", address, "claimed_by", claimed_by));
    }
}

static int
add_missing(void *ctx, const char *dn, const char *key, const char *since, int runs)
{
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:i}", "missing", dn, "key", key, "since",
                                         since, "runs", runs));
    return 0;
}

int
lsync_stage_apply(struct lsync_stage *st,
                  struct lsync_counts *c,
                  const char *new_cookie,
                  const char *mode,
                  const char *status,
                  const char *actor_kind,
                  const char *actor,
                  json_t *report,
                  char *err,
                  size_t err_size)
{
    /* Many changes: conflicts are looked for among all the source's addresses in one
     * pass rather than address by address. */
    bool bulk = st->direct || (c->added + c->changed > BULK_ROWS &&
                               (c->added + c->changed) * 10 > c->live_before);
    const struct lsync_store_apply apply = {
        .source = st->src->name,
        .direct = st->direct,
        .bulk = bulk,
        .removals = c->removed > 0,
        .absences = st->marks > 0,
        .backs = st->backs > 0,
        .analyze = c->added + c->changed > BULK_ROWS,
        .cookie = new_cookie,
        .delete_mode = st->delete_mode,
        .live = c->live_before + c->added - c->removed,
        .read = c->read,
    };
    struct conflicts conflicts = { .report = report };
    enum db_status n;
    char *report_text = NULL;
    int ret = -1;

    /* Addresses claimed by more than one live entry: the view directory_addresses
     * gives each to the source with the lowest priority number; the run says so. */
    if (lsync_store_apply(st->db, &apply) < 0 ||
        (n = lsync_store_conflicts(st->db, st->src->name, bulk, add_conflict, &conflicts)) < 0) {
        db_failed(st, err, err_size);
        goto cleanup;
    }
    c->conflicts = n;
    /* The pending removals, named in the run record (the first of them). */
    if (c->missing > 0 &&
        lsync_store_missing(st->db, st->src->name, 100, add_missing, report) < 0) {
        db_failed(st, err, err_size);
        goto cleanup;
    }
    report_text = json_dumps(report, JSON_COMPACT);
    {
        const struct lsync_store_run run = {
            .source = st->src->name,
            .mode = mode,
            .status = status,
            .added = c->added,
            .changed = c->changed,
            .removed = c->removed,
            .unchanged = c->unchanged,
            .rejected = c->rejected,
            .conflicts = c->conflicts,
            .missing = c->missing,
            .dropped = c->dropped,
            .read = c->read,
            .report = report_text,
            .actor_kind = actor_kind,
            .actor = actor,
        };

        if (lsync_store_run_insert(st->db, &run) < 0 || db_commit(st->db) < 0) {
            db_failed(st, err, err_size);
            goto cleanup;
        }
    }
    st->begun = false;
    ret = 0;
cleanup:
    free(report_text);
    return ret;
}

void
lsync_stage_abort(struct lsync_stage *st)
{
    if (st == NULL) {
        return;
    }
    lsync_store_copy_free(st->stream);
    if (st->begun) {
        db_rollback(st->db);
    }
    free(st->copy.p);
    free(st->cookie);
    free(st);
}
