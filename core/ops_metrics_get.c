/* GET /metrics: the counters of core/metrics.c and the collectors' samples, as Prometheus text. */
#include <stdlib.h>

#include "core/metrics.h"
#include "core/ops.h"
#include "core/util.h"

int
ops_metrics_get(struct http_req *r, const json_t *body)
{
    struct util_buf o = { 0 };
    int ret;

    metrics_write(&o, r->db);
    ret = http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", o.p, o.len);
    free(o.p);
    return ret;
}
