/*
 * The service's counters (core/metrics.h): requests by route and status, a
 * latency histogram, database errors, mail deliveries, counted lock-free by
 * every thread, and their Prometheus text. No HTTP and no database here: GET
 * /metrics (core/ops_metrics_get.c) serves the text.
 */
#include "core/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"

#define N_STATUS 500 /* 100..599 */

static const double bucket_bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10 };
#define N_BUCKETS (ANN_ARRAY_LEN(bucket_bounds) + 1) /* + Inf */

struct route_stats {
    atomic_ulong status[N_STATUS];
    atomic_ulong buckets[N_BUCKETS]; /* not cumulative; summed on output */
    atomic_ulong count;
    atomic_ullong sum_ns;
};

static const struct router *router;
static struct route_stats *stats; /* one per route, then one for "no route" */
static size_t n_stats;
static atomic_ulong db_errors[METRICS_DB__COUNT];

static atomic_ulong db_reads[2]; /* primary, replica */
static atomic_ulong replica_fallbacks;
static atomic_int replica_state;
static _Atomic long long replica_lag_ms = -1;
static const char *const replica_state_names[] = { "none",  "unknown", "fresh",
                                                   "stale", "down",    "not_standby" };

static atomic_ulong mail_counts[2]; /* failed, delivered */
static metrics_collector_fn collectors[8];
static size_t n_collectors;
static const char *const db_kind_names[] = { "connect", "query", "retry" };

void
metrics_init(const struct router *rt)
{
    router = rt;
    n_stats = router_count(rt) + 1;
    stats = xcalloc(n_stats, sizeof(*stats));
}

void
metrics_shutdown(void)
{
    free(stats);
    stats = NULL;
    n_stats = 0;
}

void
metrics_observe_request(size_t route_index, unsigned status, long long duration_ns)
{
    struct route_stats *s;
    double secs = (double)duration_ns / 1e9;
    size_t b = 0;

    if (stats == NULL) {
        return;
    }
    s = &stats[route_index < n_stats - 1 ? route_index : n_stats - 1];
    if (status >= 100 && status < 600) {
        atomic_fetch_add_explicit(&s->status[status - 100], 1, memory_order_relaxed);
    }
    while (b < ANN_ARRAY_LEN(bucket_bounds) && secs > bucket_bounds[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns, (unsigned long long)duration_ns, memory_order_relaxed);
}

void
metrics_db_error(enum metrics_db kind)
{
    atomic_fetch_add_explicit(&db_errors[kind], 1, memory_order_relaxed);
}

void
metrics_db_read(bool from_replica)
{
    atomic_fetch_add_explicit(&db_reads[from_replica ? 1 : 0], 1, memory_order_relaxed);
}

void
metrics_replica_fallback(void)
{
    atomic_fetch_add_explicit(&replica_fallbacks, 1, memory_order_relaxed);
}

void
metrics_replica_state(int state, long long lag_ms)
{
    atomic_store_explicit(&replica_state, state, memory_order_relaxed);
    atomic_store_explicit(&replica_lag_ms, lag_ms, memory_order_relaxed);
}

void
metrics_add_collector(metrics_collector_fn fn)
{
    if (n_collectors < ANN_ARRAY_LEN(collectors)) {
        collectors[n_collectors++] = fn;
    }
}

void
metrics_mail(bool delivered)
{
    atomic_fetch_add_explicit(&mail_counts[delivered ? 1 : 0], 1, memory_order_relaxed);
}

static void
route_label(size_t i, char *buf, size_t size)
{
    if (i < n_stats - 1) {
        const struct route *rt = router_at(router, i);

        snprintf(buf, size, "%s %s", rt->method, rt->pattern);
    } else {
        snprintf(buf, size, "unmatched");
    }
}

void
metrics_write(struct util_buf *out, struct db_conn *db)
{
    char label[300];

    util_buf_printf(out,
                    "# HELP annuaire_build_info Version of the running binary.\n"
                    "# TYPE annuaire_build_info gauge\n"
                    "annuaire_build_info{version=\"%s\"} 1\n",
                    ANNUAIRE_VERSION);
    util_buf_printf(out, "# HELP annuaire_http_requests_total HTTP requests by route and status.\n"
                         "# TYPE annuaire_http_requests_total counter\n");
    for (size_t i = 0; i < n_stats; i++) {
        route_label(i, label, sizeof(label));
        for (unsigned st = 0; st < N_STATUS; st++) {
            unsigned long v = atomic_load_explicit(&stats[i].status[st], memory_order_relaxed);

            if (v > 0) {
                util_buf_printf(out,
                                "annuaire_http_requests_total{route=\"%s\",status=\"%u\"} %lu\n",
                                label, st + 100, v);
            }
        }
    }
    util_buf_printf(out, "# HELP annuaire_http_request_duration_seconds Time from first byte to "
                         "reply, by route.\n"
                         "# TYPE annuaire_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n_stats; i++) {
        unsigned long count = atomic_load_explicit(&stats[i].count, memory_order_relaxed);
        unsigned long cum = 0;

        if (count == 0) {
            continue;
        }
        route_label(i, label, sizeof(label));
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += atomic_load_explicit(&stats[i].buckets[b], memory_order_relaxed);
            if (b < ANN_ARRAY_LEN(bucket_bounds)) {
                util_buf_printf(out,
                                "annuaire_http_request_duration_seconds_bucket{route=\"%s\","
                                "le=\"%g\"} %lu\n",
                                label, bucket_bounds[b], cum);
            } else {
                util_buf_printf(out,
                                "annuaire_http_request_duration_seconds_bucket{route=\"%s\","
                                "le=\"+Inf\"} %lu\n",
                                label, cum);
            }
        }
        util_buf_printf(out, "annuaire_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                        label, (double)atomic_load(&stats[i].sum_ns) / 1e9);
        util_buf_printf(out, "annuaire_http_request_duration_seconds_count{route=\"%s\"} %lu\n",
                        label, cum);
    }
    util_buf_printf(out, "# HELP annuaire_db_errors_total Database errors by kind.\n"
                         "# TYPE annuaire_db_errors_total counter\n");
    for (size_t k = 0; k < METRICS_DB__COUNT; k++) {
        util_buf_printf(out, "annuaire_db_errors_total{kind=\"%s\"} %lu\n", db_kind_names[k],
                        atomic_load(&db_errors[k]));
    }
    util_buf_printf(out,
                    "# HELP annuaire_db_reads_total Reads that may lag (lookups, hash_details, "
                    "/info, directory search) by the server that answered, with database.replica "
                    "set.\n"
                    "# TYPE annuaire_db_reads_total counter\n"
                    "annuaire_db_reads_total{server=\"primary\"} %lu\n"
                    "annuaire_db_reads_total{server=\"replica\"} %lu\n"
                    "# HELP annuaire_db_replica_fallbacks_total Reads the replica failed that the "
                    "primary answered.\n"
                    "# TYPE annuaire_db_replica_fallbacks_total counter\n"
                    "annuaire_db_replica_fallbacks_total %lu\n",
                    atomic_load(&db_reads[0]), atomic_load(&db_reads[1]),
                    atomic_load(&replica_fallbacks));
    util_buf_printf(out, "# HELP annuaire_db_replica_state The read replica as last checked (1: "
                         "its state).\n"
                         "# TYPE annuaire_db_replica_state gauge\n");
    for (int i = 0; i < METRICS_REPLICA__COUNT; i++) {
        util_buf_printf(out, "annuaire_db_replica_state{state=\"%s\"} %d\n", replica_state_names[i],
                        atomic_load(&replica_state) == i);
    }
    util_buf_printf(out,
                    "# HELP annuaire_db_replica_lag_seconds The replica's replay lag at the last "
                    "check, to the second (-1: unknown).\n"
                    "# TYPE annuaire_db_replica_lag_seconds gauge\n"
                    "annuaire_db_replica_lag_seconds %.3f\n",
                    atomic_load(&replica_lag_ms) < 0 ? -1.0
                                                     : (double)atomic_load(&replica_lag_ms) / 1e3);
    util_buf_printf(out,
                    "# HELP annuaire_mail_attempts_total SMTP deliveries by result.\n"
                    "# TYPE annuaire_mail_attempts_total counter\n"
                    "annuaire_mail_attempts_total{result=\"delivered\"} %lu\n"
                    "annuaire_mail_attempts_total{result=\"failed\"} %lu\n",
                    atomic_load(&mail_counts[1]), atomic_load(&mail_counts[0]));
    for (size_t i = 0; i < n_collectors; i++) {
        collectors[i](out, db);
    }
}
