/*
 * The sync's section of serve's /metrics: each source's live entries, what its last
 * run did and the runs not made because another held its lock, read from sync_sources,
 * sync_runs and sync_busy (ldap-sync/store.c); retired sources are left out.
 */
#include "core/metrics.h"

#include <stdlib.h>

#include "core/db.h"
#include "core/util.h"
#include "ldap-sync/ldap_sync.h"
#include "ldap-sync/store.h"

/* One family of lines per buffer, printed one after the other. */
struct families {
    struct util_buf entries, last_run, last_success, last_counts, busy;
};

static const char *
or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static void
add_source(void *ctx, const struct lsync_store_metric *row)
{
    static const char *const counters[] = { "added",    "changed",   "removed",
                                            "rejected", "conflicts", "missing" };
    struct families *f = ctx;
    const char *name = or_empty(row->source);

    util_buf_printf(&f->entries, "annuaire_sync_entries{source=\"%s\"} %s\n", name,
                    or_empty(row->entries));
    util_buf_printf(&f->busy, "annuaire_sync_busy_total{source=\"%s\"} %s\n", name,
                    row->busy != NULL ? row->busy : "0");
    if (row->ended_at != NULL) {
        util_buf_printf(&f->last_run,
                        "annuaire_sync_last_run_timestamp_seconds{source=\"%s\",status=\"%s\"}"
                        " %s\n",
                        name, or_empty(row->status), row->ended_at);
    }
    if (row->last_success != NULL) {
        util_buf_printf(&f->last_success,
                        "annuaire_sync_last_success_timestamp_seconds{source=\"%s\"} %s\n", name,
                        row->last_success);
    }
    for (size_t k = 0; k < ANN_ARRAY_LEN(counters) && row->ended_at != NULL; k++) {
        util_buf_printf(&f->last_counts,
                        "annuaire_sync_last_run_entries{source=\"%s\",kind=\"%s\"} %s\n", name,
                        counters[k], or_empty(row->counts[k]));
    }
}

static void
put_buf(struct util_buf *o, struct util_buf *b)
{
    util_buf_put(o, b->p != NULL ? b->p : "", b->len);
    free(b->p);
}

static void
collect(struct util_buf *o, struct db_conn *db)
{
    struct families f = { 0 };

    if (lsync_store_metrics(db, add_source, &f) < 0) {
        free(f.entries.p);
        free(f.last_run.p);
        free(f.last_success.p);
        free(f.last_counts.p);
        free(f.busy.p);
        return; /* the database is down: /health says so */
    }
    util_buf_puts(o, "# HELP annuaire_sync_entries Live entries of each source.\n"
                     "# TYPE annuaire_sync_entries gauge\n");
    put_buf(o, &f.entries);
    util_buf_puts(o, "# HELP annuaire_sync_last_run_timestamp_seconds End of the last sync run.\n"
                     "# TYPE annuaire_sync_last_run_timestamp_seconds gauge\n");
    put_buf(o, &f.last_run);
    util_buf_puts(o, "# HELP annuaire_sync_last_success_timestamp_seconds End of the last run "
                     "that applied.\n"
                     "# TYPE annuaire_sync_last_success_timestamp_seconds gauge\n");
    put_buf(o, &f.last_success);
    util_buf_puts(o, "# HELP annuaire_sync_last_run_entries What the last run did, by kind.\n"
                     "# TYPE annuaire_sync_last_run_entries gauge\n");
    put_buf(o, &f.last_counts);
    util_buf_puts(o, "# HELP annuaire_sync_busy_total Runs not made because another run of "
                     "the source held its lock (a run that hangs with it makes this grow).\n"
                     "# TYPE annuaire_sync_busy_total counter\n");
    put_buf(o, &f.busy);
}

void
lsync_metrics_init(void)
{
    lsync_store_metrics_init();
    metrics_add_collector(collect);
}
