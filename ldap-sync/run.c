/*
 * `annuaire sync`: one run of each configured source (the read, the completeness and
 * deletion guards, then apply or refuse, and the run's record) and sync --status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/address.h"
#include "core/util.h"
#include "ldap-sync/internal.h"
#include "ldap-sync/ldap_sync.h"
#include "ldap-sync/store.h"

#define MAX_REPORTED 1000

struct run {
    const struct lsync_source *src;
    const struct lsync_sink *sink;
    char *mark; /* change polling: the highest value of the poll attribute seen */
    struct lsync_stage *st;
    json_t *report;
    long long rejected;
    long long read;    /* entries staged (taken): rejected and cut ones not included */
    long long present; /* keys the server said are present */
    bool cut;          /* the LDIF file ends inside a record, or a line: no complete read */
    long long dropped; /* entries taken with values left out */
    char err[512];
};

static void
report_add(struct run *run, json_t *item)
{
    if (json_array_size(run->report) < MAX_REPORTED) {
        json_array_append_new(run->report, item);
    } else {
        json_decref(item);
    }
}

/* LDIF exports hold organisational units, groups and the like: people only. (An LDAP
 * source says what it wants with its filter.) */
static bool
is_person(const struct lsync_attr *attrs, size_t n)
{
    static const char *const classes[] = { "person", "organizationalPerson", "inetOrgPerson",
                                           "user" };

    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(attrs[i].name, "objectClass") != 0) {
            continue;
        }
        for (size_t v = 0; attrs[i].values != NULL && attrs[i].values[v] != NULL; v++) {
            for (size_t c = 0; c < ANN_ARRAY_LEN(classes); c++) {
                if (attrs[i].values[v]->bv_len == strlen(classes[c]) &&
                    strncasecmp(attrs[i].values[v]->bv_val, classes[c],
                                attrs[i].values[v]->bv_len) == 0) {
                    return true;
                }
            }
        }
    }
    return false;
}

/* Orders two marks: numbers (uSNChanged) by value, timestamps as text. */
static bool
mark_greater(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (strspn(a, "0123456789") == la && strspn(b, "0123456789") == lb && la != lb) {
        return la > lb;
    }
    return strcmp(a, b) > 0;
}

static void
note_mark(struct run *run, const struct lsync_attr *attrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct berval *v;

        if (strcasecmp(attrs[i].name, run->src->attrs.poll) != 0 || attrs[i].values == NULL ||
            (v = attrs[i].values[0]) == NULL || v->bv_len == 0 || v->bv_len > 64 ||
            memchr(v->bv_val, '\0', v->bv_len) != NULL) {
            continue;
        }
        char *value = xstrndup(v->bv_val, v->bv_len);

        if (run->mark == NULL || mark_greater(value, run->mark)) {
            free(run->mark);
            run->mark = value;
        } else {
            free(value);
        }
    }
}

/* Where an incremental poll starts: the mark, less the overlap for a timestamp
 * ("20261129201530Z"), since clocks and replication lag. */
static char *
poll_start(const char *mark, int overlap)
{
    struct tm tm = { 0 };
    char out[32];
    time_t t;

    if (strlen(mark) < 15 || strspn(mark, "0123456789") < 14 ||
        sscanf(mark, "%4d%2d%2d%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6) {
        return xstrdup(mark); /* a counter: no overlap needed */
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm) - overlap;
    gmtime_r(&t, &tm);
    strftime(out, sizeof(out), "%Y%m%d%H%M%SZ", &tm);
    return xstrdup(out);
}

/*
 * The stored cookie says which kind of read made it: "sync:" an RFC 4533 cookie,
 * "mark:" a change-polling mark. A cookie of the other kind is no basis for an
 * incremental read (a source switched from one to the other reads everything once).
 * An untagged one, stored before the tags, is taken as it is.
 */
static const char *
stored_for(const char *stored, const char *tag)
{
    size_t n = strlen(tag);

    if (stored == NULL || stored[0] == '\0') {
        return NULL;
    }
    if (strncmp(stored, tag, n) == 0 && stored[n] == ':') {
        return stored[n + 1] != '\0' ? stored + n + 1 : NULL;
    }
    if (strncmp(stored, "sync:", 5) == 0 || strncmp(stored, "mark:", 5) == 0) {
        return NULL;
    }
    return stored;
}

static char *
tagged(const char *tag, char *value)
{
    char *out = value != NULL ? xasprintf("%s:%s", tag, value) : NULL;

    free(value);
    return out;
}

/* A rejected entry in the report: its DN, its key when known, what was wrong. */
static void
report_rejected(struct run *run, const char *dn, const char *key, const char *attr, const char *why)
{
    char *pdn = lsync_printable(dn != NULL ? dn : "");
    char *pkey = key != NULL ? lsync_printable(key) : NULL;

    report_add(run, json_pack("{s:s, s:s?, s:s?, s:s}", "rejected", pdn, "key", pkey, "attribute",
                              attr, "reason", why));
    free(pkey);
    free(pdn);
}

/* A rejected entry whose key was read is there, whatever was wrong with it: its key is
 * staged as present, so that its stored row is kept as it is. @return 0 or -1 */
static int
keep_key(struct run *run, const char *key)
{
    if (key == NULL || !lsync_utf8(key, strlen(key))) {
        return 0; /* a key that is not text cannot be one that is stored */
    }
    return lsync_stage_put_key(run->st, 'p', key, run->err, sizeof(run->err));
}

/* Maps and stages one entry; a rejected one is reported, its key kept. @return 0 or -1 */
static int
take_entry(struct run *run,
           const char *dn,
           const char *key,
           const struct lsync_attr *attrs,
           size_t n)
{
    struct lsync_entry e;
    const char *bad_attr = NULL;
    json_t *dropped;
    char why[256];
    int ret = 0;
    int rc;

    if (run->src->attrs.poll != NULL) {
        note_mark(run, attrs, n);
    }
    dropped = json_array();
    rc = lsync_map(&run->src->attrs, dn, key, attrs, n, &e, dropped, &bad_attr, why, sizeof(why));
    if (rc == 0 && run->sink->attrs_over > 0) {
        /* A partial entry could lose its key or its addresses: none is mapped. */
        snprintf(why, sizeof(why), "%zu attributes, over the 256 a record may have", n);
        rc = -1;
    }
    if (rc != 0) {
        run->rejected++;
        report_rejected(run, dn, e.key, bad_attr, why);
        ret = keep_key(run, e.key);
    } else {
        if (json_array_size(dropped) > 0) {
            char *pdn = lsync_printable(dn);

            run->dropped++;
            report_add(
                run, json_pack("{s:s, s:s, s:O}", "dropped", pdn, "key", e.key, "values", dropped));
            free(pdn);
        }
        run->read++;
        ret = lsync_stage_put(run->st, &e, run->err, sizeof(run->err));
    }
    lsync_entry_clear(&e);
    json_decref(dropped);
    return ret;
}

static int
on_entry(void *ctx, const char *dn, const char *key, const struct lsync_attr *attrs, size_t n)
{
    struct run *run = ctx;

    if (run->src->ldif != NULL && !is_person(attrs, n)) {
        return 0;
    }
    return take_entry(run, dn, key, attrs, n);
}

/*
 * A record the LDIF file ends inside (no blank line after it), or a line the file ends
 * inside between records: the export was cut. Rejected, and its key, when it has one,
 * is present, so that the entry is not taken for gone; the read is not a complete one.
 */
static int
on_partial(void *ctx, const char *dn, unsigned long line, const struct lsync_attr *attrs, size_t n)
{
    struct run *run = ctx;
    struct lsync_entry e = { 0 };
    char why[256];
    char *reason;
    int rc = 0;

    run->rejected++;
    run->cut = true;
    reason = dn != NULL || n > 0
                 ? xasprintf("line %lu: the file ends inside this record (a cut export)", line)
                 : xasprintf("line %lu: the file ends here, inside a record or a line (a cut "
                             "export)",
                             line);
    if (dn != NULL) {
        (void)lsync_map(&run->src->attrs, dn, NULL, attrs, n, &e, NULL, NULL, why, sizeof(why));
    }
    report_rejected(run, dn, e.key, NULL, reason);
    rc = keep_key(run, e.key);
    lsync_entry_clear(&e);
    free(reason);
    return rc;
}

static int
on_key(void *ctx, char state, const char *key)
{
    struct run *run = ctx;

    if (state == 'p') {
        run->present++;
    }
    return lsync_stage_put_key(run->st, state, key, run->err, sizeof(run->err));
}

/* A run that applied nothing is still recorded, with its audit entry, in its own
 * transaction. */
static void
record(struct db_conn *db,
       const struct lsync_options *opts,
       const char *source,
       const char *mode,
       const char *status,
       const char *error,
       const struct lsync_counts *c)
{
    const struct lsync_store_run run = {
        .source = source,
        .mode = mode,
        .status = status,
        .error = error,
        .removed = c ? c->removed : 0,
        .missing = c ? c->missing : 0,
        .read = c ? c->read : -1,
        .actor_kind = opts->actor_kind,
        .actor = opts->actor,
    };

    if (lsync_store_run_insert(db, &run) < 0) {
        return; /* db.c logged it; the run's own outcome is on stderr already */
    }
}

static void
print_line(FILE *out,
           const char *name,
           const char *status,
           const char *mode,
           const struct lsync_counts *c,
           double secs)
{
    fprintf(out,
            "%s: %s (%s) added=%lld changed=%lld removed=%lld unchanged=%lld rejected=%lld "
            "conflicts=%lld missing=%lld in %.2fs\n",
            name, status, mode, c->added, c->changed, c->removed, c->unchanged, c->rejected,
            c->conflicts, c->missing, secs);
}

/* Whether a complete read of read entries falls short of what the source says a
 * complete export has (min_entries, max_shrink against last, the previous one, else
 * the live entries), or finds none of the live entries the source has. */
static bool
short_read(const struct lsync_source *src,
           long long read,
           long long last,
           long long live,
           char *why,
           size_t size)
{
    if (read == 0 && live > 0) {
        snprintf(why, size,
                 "read no entries, and the source has %lld: refused as an incomplete export; "
                 "check the source, or run again with --allow-mass-delete",
                 live);
        return true;
    }
    if (src->min_entries > 0 && read < src->min_entries) {
        snprintf(why, size,
                 "read %lld entries, fewer than min_entries (%ld): refused as an incomplete "
                 "export; check the source, or run again with --allow-mass-delete",
                 read, src->min_entries);
        return true;
    }
    if (last <= 0) {
        last = live;
    }
    if (src->max_shrink >= 0 && last > 0 && read * 100 < last * (100 - src->max_shrink)) {
        snprintf(why, size,
                 "read %lld entries, over %d%% fewer than the %lld of the last complete read "
                 "(max_shrink): refused as an incomplete export; check the source, or run again "
                 "with --allow-mass-delete",
                 read, src->max_shrink, last);
        return true;
    }
    return false;
}

/* Whether the run would remove, or newly mark missing, more than max_delete_percent of
 * the source's live entries. */
static bool
mass_delete(const struct lsync_counts *c, long pct, char *why, size_t size)
{
    if (c->live_before <= 0) {
        return false;
    }
    if (c->removed * 100 > pct * c->live_before) {
        snprintf(why, size,
                 "would remove %lld of %lld entries (over %ld%%): refused; check the source, "
                 "or run again with --allow-mass-delete",
                 c->removed, c->live_before, pct);
        return true;
    }
    if (c->marked * 100 > pct * c->live_before) {
        snprintf(why, size,
                 "would mark %lld of %lld entries missing (over %ld%%): refused; check the "
                 "source, or run again with --allow-mass-delete",
                 c->marked, c->live_before, pct);
        return true;
    }
    return false;
}

/* A run a guard refused (the reason in run->err): nothing applied, the staging
 * dropped, the refusal recorded (but on a dry run) and said. @return LSYNC_REFUSED */
static enum lsync_outcome
refuse(struct db_conn *db,
       struct run *run,
       const char *mode,
       const struct lsync_counts *c,
       const struct lsync_options *opts,
       FILE *out,
       FILE *err,
       long long t0)
{
    lsync_stage_abort(run->st);
    run->st = NULL;
    if (!opts->dry_run) {
        record(db, opts, run->src->name, mode, "refused", run->err, c);
    }
    fprintf(err, "%s: %s\n", run->src->name, run->err);
    print_line(out, run->src->name, "refused", mode, c, (double)(util_now_ns() - t0) / 1e9);
    return LSYNC_REFUSED;
}

static enum lsync_outcome
run_source(const struct cfg *cfg,
           struct db_conn *db,
           const struct lsync_source *src,
           const struct lsync_options *opts,
           bool direct_ok,
           FILE *out,
           FILE *err)
{
    struct run run = { .src = src, .sink = NULL, .report = json_array() };
    struct lsync_sink sink = {
        .entry = on_entry, .key = on_key, .ctx = &run, .partial = on_partial
    };
    char *new_cookie = NULL;
    bool delete_mode = false;
    struct lsync_counts c = { 0 };
    const char *mode = "full";
    long long t0 = util_now_ns();
    enum lsync_outcome outcome = LSYNC_FAILED;
    bool again = false;   /* read again through staging (a key twice in a direct copy) */
    bool refresh = false; /* read again without the cookie */
    int rc;

    run.sink = &sink;
    run.st = lsync_stage_begin(db, src, cfg->sync.purge_after_days, direct_ok, opts, run.err,
                               sizeof(run.err));
    if (run.st == NULL) {
        goto failed;
    }
    if (src->ldif != NULL) {
        rc = lsync_read_ldif(src->ldif, &sink, run.err, sizeof(run.err));
    } else if (src->ldap.content_sync) {
        /* From the stored cookie, unless a full read is asked for (or none is stored). */
        const char *cookie = opts->full ? NULL : stored_for(lsync_stage_cookie(run.st), "sync");

        mode = cookie ? "incremental" : "full";
        rc = lsync_read_ldap_sync(&src->ldap, &src->attrs, cookie, &sink, &new_cookie, &delete_mode,
                                  run.err, sizeof(run.err));
        new_cookie = tagged("sync", new_cookie);
        lsync_stage_set_delete_mode(run.st, delete_mode);
        if (rc == LSYNC_REFRESH_REQUIRED) {
            /* What was read so far is dropped with the transaction; all of it again. */
            fprintf(err, "%s: %s; reading everything again\n", src->name, run.err);
            refresh = true;
            goto done;
        }
    } else if (src->ldap.poll_attribute != NULL && !opts->full &&
               stored_for(lsync_stage_cookie(run.st), "mark") != NULL &&
               !lsync_stage_full_due(run.st)) {
        /* Changes since the mark; deletions wait for the next full read. */
        char *start =
            poll_start(stored_for(lsync_stage_cookie(run.st), "mark"), src->ldap.poll_overlap);
        char *filter = lsync_poll_filter(src->ldap.poll_attribute, start);

        mode = "incremental";
        delete_mode = true;
        lsync_stage_set_delete_mode(run.st, true);
        rc = lsync_read_ldap(&src->ldap, filter, &src->attrs, &sink, run.err, sizeof(run.err));
        free(filter);
        free(start);
    } else {
        rc = lsync_read_ldap(&src->ldap, NULL, &src->attrs, &sink, run.err, sizeof(run.err));
    }
    if (src->ldap.poll_attribute != NULL && rc == 0) {
        /* The new mark: the highest seen, never lower than the old one. */
        const char *old = stored_for(lsync_stage_cookie(run.st), "mark");
        const char *mark =
            run.mark && (old == NULL || mark_greater(run.mark, old)) ? run.mark : old;

        new_cookie = mark != NULL ? xasprintf("mark:%s", mark) : NULL;
    }
    if (opts->dry_run) {
        mode = "dry-run";
    }
    if (rc != 0) {
        goto failed; /* an incomplete read applies nothing */
    }
    c.rejected = run.rejected;
    c.dropped = run.dropped;
    if (run.cut) {
        /* A cut export is no complete read: what it has is applied, its absences say
         * nothing (nobody goes missing, nobody's grace goes on). */
        delete_mode = true;
        lsync_stage_set_delete_mode(run.st, true);
    }
    /* A complete read says what the source has (an absence is a removal to be); an
     * incremental one only what changed. Only the entries taken (and the keys a server
     * says are present) count: rejected ones do not. */
    c.read = delete_mode ? -1 : run.read + run.present;
    if (c.read >= 0 && !opts->allow_mass_delete &&
        short_read(src, c.read, lsync_stage_last_read(run.st), lsync_stage_entries(run.st), run.err,
                   sizeof(run.err))) {
        outcome = refuse(db, &run, mode, &c, opts, out, err, t0);
        goto done;
    }
    if (lsync_stage_count(
            run.st, &c, src->grace_runs >= 0 ? src->grace_runs : (int)cfg->sync.grace_runs,
            src->grace_seconds >= 0 ? src->grace_seconds : (int)cfg->sync.grace_seconds, run.err,
            sizeof(run.err)) != 0) {
        goto failed;
    }
    if (!opts->allow_mass_delete &&
        mass_delete(&c, cfg->sync.max_delete_percent, run.err, sizeof(run.err))) {
        outcome = refuse(db, &run, mode, &c, opts, out, err, t0);
        goto done;
    }
    if (opts->dry_run) {
        print_line(out, src->name, c.rejected ? "partial" : "success", mode, &c,
                   (double)(util_now_ns() - t0) / 1e9);
        outcome = c.rejected ? LSYNC_PARTIAL : LSYNC_SUCCESS;
        goto done;
    }
    if (lsync_stage_apply(run.st, &c, new_cookie, mode, c.rejected ? "partial" : "success",
                          opts->actor_kind, opts->actor, run.report, run.err,
                          sizeof(run.err)) != 0) {
        goto failed;
    }
    print_line(out, src->name, c.rejected ? "partial" : "success", mode, &c,
               (double)(util_now_ns() - t0) / 1e9);
    outcome = c.rejected ? LSYNC_PARTIAL : LSYNC_SUCCESS;
    goto done;
failed:
    if (run.st != NULL && lsync_stage_duplicate(run.st)) {
        /* A first run copies straight into the table, which refuses a key met twice:
         * read again through staging, which keeps one and reports the rest. */
        fprintf(err, "%s: a key appears twice in the read; reading again\n", src->name);
        again = true;
        goto done;
    }
    lsync_stage_abort(run.st);
    run.st = NULL;
    if (!opts->dry_run) {
        record(db, opts, src->name, mode, "failed", run.err, NULL);
    }
    fprintf(err, "%s: failed, nothing changed: %s\n", src->name, run.err);
done:
    if (!again && !refresh && json_array_size(run.report) > 0) {
        size_t i;
        json_t *item;

        json_array_foreach (run.report, i, item) {
            if (i < 20 && json_object_get(item, "conflict") == NULL) {
                char *line = json_dumps(item, JSON_COMPACT);

                fprintf(err, "%s: %s%s\n", src->name,
                        json_object_get(item, "dropped")   ? "warning: values left out: "
                        : json_object_get(item, "missing") ? "pending removal: "
                                                           : "",
                        line);
                free(line);
            }
        }
    }
    lsync_stage_abort(run.st);
    json_decref(run.report);
    free(new_cookie);
    free(run.mark);
    if (refresh) {
        struct lsync_options full = *opts;

        full.full = true;
        return run_source(cfg, db, src, &full, direct_ok, out, err);
    }
    return again ? run_source(cfg, db, src, opts, false, out, err) : outcome;
}

enum lsync_outcome
lsync_run(const struct cfg *cfg,
          struct db_conn *db,
          const struct lsync_options *opts,
          FILE *out,
          FILE *err)
{
    /* failed > refused > partial > busy > success: a source another run holds never
     * hides a problem of another source (the sync unit takes 5 for a success). */
    static const enum lsync_outcome order[] = { LSYNC_SUCCESS, LSYNC_BUSY, LSYNC_PARTIAL,
                                                LSYNC_REFUSED, LSYNC_FAILED };
    size_t worst = 0;
    size_t i;
    json_t *j;

    if (lsync_check_source(cfg, opts->source, err) != 0) {
        return LSYNC_FAILED;
    }
    /* The soft-deleted entries of retired sources, which have no run of their own. */
    if (!opts->dry_run && lsync_store_purge_retired(db, cfg->sync.purge_after_days) < 0) {
        fprintf(err, "annuaire sync: purging the entries of retired sources: database: %s\n",
                db_conn_error(db));
    }
    addr_init();
    json_array_foreach (cfg->sync.sources, i, j) {
        struct lsync_source src;
        enum lsync_outcome o;
        int locked;

        lsync_source_from_json(j, &src);
        if (opts->source != NULL && strcmp(opts->source, src.name) != 0) {
            continue;
        }
        /* One run of a source at a time, here or on another machine; the lock is
         * taken before the run's transaction and kept through its retries. */
        locked = lsync_lock_take(db, src.name, err);
        if (locked == 0) {
            o = lsync_check_retired(db, src.name, opts, err);
            if (o == LSYNC_SUCCESS) {
                o = run_source(cfg, db, &src, opts, true, out, err);
            }
            lsync_lock_release(db, src.name);
        } else {
            o = locked > 0 ? LSYNC_BUSY : LSYNC_FAILED;
        }
        for (size_t k = worst + 1; k < ANN_ARRAY_LEN(order); k++) {
            if (order[k] == o) {
                worst = k;
            }
        }
    }
    addr_shutdown();
    return order[worst];
}

void
lsync_init(void)
{
    lsync_store_init();
    lsync_store_ops_init();
}

/* Text from LDAP or the database is printed through util_esc_text (control characters
 * escaped), as `annuaire audit` prints it. */
static int
print_missing_entry(void *ctx, const char *dn, const char *key, const char *since, int runs)
{
    char *pdn = util_esc_text(dn);
    char *pkey = util_esc_text(key);

    fprintf(ctx, "    %s (key %s): missing since %s, %d run(s)\n", pdn, pkey, since, runs);
    free(pkey);
    free(pdn);
    return 0;
}

struct status_ctx {
    const struct cfg *cfg;
    struct db_conn *db;
    FILE *out;
    json_t *seen; /* the configured sources the database knows, by name */
};

static bool
is_configured(const struct cfg *cfg, const char *name)
{
    size_t i;
    json_t *j;

    json_array_foreach (cfg->sync.sources, i, j) {
        if (strcmp(json_string_value(json_object_get(j, "name")), name) == 0) {
            return true;
        }
    }
    return false;
}

/* A source and its last run, then its entries pending removal (the first 20). */
static int
print_source(void *ctx, const struct lsync_store_status *s)
{
    struct status_ctx *k = ctx;
    char *name = util_esc_text(s->source);
    char *ministry = util_esc_text(s->ministry);
    char *error = util_esc_text(s->error);

    fprintf(k->out,
            "%s (%s): %s entries; last run %s %s at %s: added=%s changed=%s removed=%s "
            "rejected=%s conflicts=%s missing=%s%s%s\n",
            name, ministry, s->entries, s->mode, s->status, s->started_at, s->added, s->changed,
            s->removed, s->rejected, s->conflicts, s->missing_run, *error ? ": " : "", error);
    if (is_configured(k->cfg, s->source)) {
        json_object_set_new(k->seen, s->source, json_true());
    } else if (*s->retired_at) {
        fprintf(k->out, "  not in the configuration: retired at %s\n", s->retired_at);
    } else {
        fprintf(k->out, "  not in the configuration: run annuaire sync --retire %s\n", name);
    }
    free(error);
    free(ministry);
    free(name);
    if (atoll(s->missing_now) <= 0) {
        return 0;
    }
    fprintf(k->out, "  %s entries pending removal (missing from the source, still agents):\n",
            s->missing_now);
    return lsync_store_missing(k->db, s->source, 20, print_missing_entry, k->out) < 0 ? -1 : 0;
}

int
lsync_print_status(const struct cfg *cfg, struct db_conn *db, FILE *out)
{
    struct status_ctx k = { .cfg = cfg, .db = db, .out = out, .seen = json_object() };
    enum db_status n = lsync_store_status(db, print_source, &k);
    size_t i;
    json_t *j;

    if (n < 0) {
        json_decref(k.seen);
        return -1;
    }
    if (n == DB_NO_ROWS) {
        fprintf(out, "no sync has run yet\n");
    }
    json_array_foreach (cfg->sync.sources, i, j) {
        const char *name = json_string_value(json_object_get(j, "name"));

        if (json_object_get(k.seen, name) == NULL) {
            char *pname = util_esc_text(name);
            char *pministry = util_esc_text(json_string_value(json_object_get(j, "ministry")));

            fprintf(out, "%s (%s): configured, no run yet\n", pname, pministry);
            free(pministry);
            free(pname);
        }
    }
    json_decref(k.seen);
    return 0;
}
