#include "core/metrics.h"

#include <stdlib.h>

#include "core/db.h"
#include "core/util.h"
#include "ldap-sync/ldap_sync.h"

static const struct db_stmt stmts[] = {
    { "lsync_metrics",
      "SELECT s.name, s.entries,"
      " extract(epoch FROM r.ended_at)::bigint, r.status, r.added, r.changed, r.removed,"
      " r.rejected, r.conflicts, r.missing,"
      " (SELECT extract(epoch FROM max(ended_at))::bigint FROM annuaire.sync_runs o"
      "  WHERE o.source = s.name AND o.status IN ('success', 'partial'))"
      " FROM annuaire.sync_sources s LEFT JOIN LATERAL (SELECT * FROM annuaire.sync_runs r"
      "  WHERE r.source = s.name ORDER BY r.id DESC LIMIT 1) r ON true ORDER BY s.name" },
};

static void
collect(struct util_buf *o, struct db_conn *db)
{
    static const char *const counters[] = { "added",    "changed",   "removed",
                                            "rejected", "conflicts", "missing" };
    PGresult *res = NULL;

    if (db_exec(db, "lsync_metrics", 0, NULL, &res) < 0) {
        return; /* the database is down: /health says so */
    }
    util_buf_puts(o, "# HELP annuaire_sync_entries Live entries of each source.\n"
                     "# TYPE annuaire_sync_entries gauge\n");
    for (int i = 0; i < PQntuples(res); i++) {
        util_buf_printf(o, "annuaire_sync_entries{source=\"%s\"} %s\n", PQgetvalue(res, i, 0),
                        PQgetvalue(res, i, 1));
    }
    util_buf_puts(o, "# HELP annuaire_sync_last_run_timestamp_seconds End of the last sync run.\n"
                     "# TYPE annuaire_sync_last_run_timestamp_seconds gauge\n");
    for (int i = 0; i < PQntuples(res); i++) {
        if (!PQgetisnull(res, i, 2)) {
            util_buf_printf(o,
                            "annuaire_sync_last_run_timestamp_seconds{source=\"%s\",status=\"%s\"}"
                            " %s\n",
                            PQgetvalue(res, i, 0), PQgetvalue(res, i, 3), PQgetvalue(res, i, 2));
        }
    }
    util_buf_puts(o, "# HELP annuaire_sync_last_success_timestamp_seconds End of the last run "
                     "that applied.\n"
                     "# TYPE annuaire_sync_last_success_timestamp_seconds gauge\n");
    for (int i = 0; i < PQntuples(res); i++) {
        if (!PQgetisnull(res, i, 10)) {
            util_buf_printf(o, "annuaire_sync_last_success_timestamp_seconds{source=\"%s\"} %s\n",
                            PQgetvalue(res, i, 0), PQgetvalue(res, i, 10));
        }
    }
    util_buf_puts(o, "# HELP annuaire_sync_last_run_entries What the last run did, by kind.\n"
                     "# TYPE annuaire_sync_last_run_entries gauge\n");
    for (int i = 0; i < PQntuples(res); i++) {
        for (size_t k = 0; k < ANN_ARRAY_LEN(counters) && !PQgetisnull(res, i, 2); k++) {
            util_buf_printf(o, "annuaire_sync_last_run_entries{source=\"%s\",kind=\"%s\"} %s\n",
                            PQgetvalue(res, i, 0), counters[k], PQgetvalue(res, i, 4 + (int)k));
        }
    }
    PQclear(res);
}

void
lsync_metrics_init(void)
{
    db_register(stmts, ANN_ARRAY_LEN(stmts));
    metrics_add_collector(collect);
}
