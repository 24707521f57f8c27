/*
 * The sync's state as the admin API shows it (GET .../sync/sources, .../sync/runs,
 * .../entries): the sources, configured or only known to the database, with their
 * entries, conflicts and last run; the runs, a page at a time; the entries holding an
 * address and which one owns it. JSON built from ldap-sync/store.c's rows.
 */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "ldap-sync/internal.h"
#include "ldap-sync/ldap_sync.h"
#include "ldap-sync/store.h"

/* The most entries an address is shown in (a person is in a handful). */
#define MAX_ENTRIES 100

void
lsync_admin_init(void)
{
    lsync_store_admin_init();
}

/* A number as the database printed it, JSON null for NULL. */
static json_t *
number_or_null(const char *s)
{
    return s != NULL ? json_integer(strtoll(s, NULL, 10)) : json_null();
}

static json_t *
string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *
run_json(const char *source, const struct lsync_store_run_row *run)
{
    static const char *const counts[] = { "added",     "changed",  "removed",
                                          "unchanged", "rejected", "conflicts",
                                          "missing",   "dropped",  "entries_read" };
    json_t *o;

    if (run->id == NULL) {
        return json_null();
    }
    o = json_pack("{s:o, s:s, s:s, s:o, s:o, s:o}", "id", number_or_null(run->id), "mode",
                  run->mode, "status", run->status, "started_at", string_or_null(run->started_at),
                  "ended_at", string_or_null(run->ended_at), "error", string_or_null(run->error));
    if (source != NULL) {
        json_object_set_new(o, "source", json_string(source));
    }
    for (size_t k = 0; k < ANN_ARRAY_LEN(counts); k++) {
        json_object_set_new(o, counts[k], number_or_null(run->counts[k]));
    }
    return o;
}

static void
add_source(void *ctx, const struct lsync_store_source_row *row)
{
    static const char *const states[] = { "live", "disabled", "hidden", "missing", "deleted" };
    json_t *entries = json_object();

    for (size_t k = 0; k < ANN_ARRAY_LEN(states); k++) {
        json_object_set_new(entries, states[k], number_or_null(row->entries[k]));
    }
    json_object_set_new(ctx, row->name,
                        json_pack("{s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o}", "name", row->name,
                                  "ministry", string_or_null(row->ministry), "priority",
                                  number_or_null(row->priority), "configured", 0, "last_full_at",
                                  string_or_null(row->last_full_at), "entries", entries,
                                  "conflicts", number_or_null(row->conflicts), "last_run",
                                  run_json(NULL, &row->run)));
}

/* A configured source the database has nothing of yet. */
static json_t *
unknown_source(const struct lsync_source *src)
{
    return json_pack("{s:s, s:s, s:i, s:b, s:n, s:{s:i, s:i, s:i, s:i, s:i}, s:i, s:n}", "name",
                     src->name, "ministry", src->ministry, "priority", src->priority, "configured",
                     1, "last_full_at", "entries", "live", 0, "disabled", 0, "hidden", 0, "missing",
                     0, "deleted", 0, "conflicts", 0, "last_run");
}

enum db_status
lsync_admin_sources(const struct cfg *cfg, struct db_conn *db, json_t **out)
{
    json_t *known = json_object(); /* by name, as the database has them */
    json_t *list = json_array();
    enum db_status st = lsync_store_sources(db, add_source, known);
    const char *name;
    size_t i;
    json_t *j;

    *out = NULL;
    if (st < 0) {
        json_decref(known);
        json_decref(list);
        return st;
    }
    json_array_foreach (cfg->sync.sources, i, j) {
        struct lsync_source src;
        json_t *row;

        lsync_source_from_json(j, &src);
        row = json_object_get(known, src.name);
        if (row == NULL) {
            json_array_append_new(list, unknown_source(&src));
            continue;
        }
        /* The configuration says what the source is now; the database what it did. */
        json_object_set_new(row, "configured", json_true());
        json_object_set_new(row, "ministry", json_string(src.ministry));
        json_object_set_new(row, "priority", json_integer(src.priority));
        json_array_append(list, row);
        json_object_del(known, src.name);
    }
    json_object_foreach (known, name, j) {
        json_array_append(list, j);
    }
    json_decref(known);
    *out = list;
    return st;
}

static void
add_run(void *ctx, const char *source, const struct lsync_store_run_row *row)
{
    json_array_append_new(ctx, run_json(source, row));
}

enum db_status
lsync_admin_runs(struct db_conn *db,
                 const char *source,
                 const char *before_id,
                 long limit,
                 json_t **out)
{
    json_t *runs = json_array();
    enum db_status st = lsync_store_runs(db, source, before_id, limit, add_run, runs);

    if (st < 0) {
        json_decref(runs);
        runs = NULL;
    }
    *out = runs;
    return st;
}

struct entries_ctx {
    json_t *entries;
    json_t *owner;
    int live;
};

static void
add_entry(void *ctx, const struct lsync_store_entry_row *row)
{
    struct entries_ctx *k = ctx;

    if (row->deleted_at == NULL) {
        k->live++;
    }
    if (row->owner && k->owner == NULL) {
        k->owner = json_pack("{s:s, s:s}", "source", row->source, "key", row->key);
    }
    json_array_append_new(
        k->entries,
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:b, s:b, s:o, s:o, s:b}", "source",
                  row->source, "key", row->key, "dn", row->dn, "ministry",
                  string_or_null(row->ministry), "entity", string_or_null(row->entity),
                  "display_name", string_or_null(row->display_name), "title",
                  string_or_null(row->title), "disabled", row->disabled, "hidden", row->hidden,
                  "deleted", row->deleted_at != NULL, "deleted_at", string_or_null(row->deleted_at),
                  "missing_since", string_or_null(row->missing_since), "owner", row->owner));
}

enum db_status
lsync_admin_entries(struct db_conn *db,
                    const char *address,
                    json_t **out_entries,
                    json_t **out_owner,
                    bool *out_conflict)
{
    struct entries_ctx k = { .entries = json_array() };
    enum db_status st = lsync_store_entries(db, address, MAX_ENTRIES, add_entry, &k);

    *out_entries = NULL;
    *out_owner = NULL;
    *out_conflict = false;
    if (st < 0) {
        json_decref(k.entries);
        json_decref(k.owner);
        return st;
    }
    *out_entries = k.entries;
    *out_owner = k.owner;
    *out_conflict = k.live > 1;
    return st;
}
