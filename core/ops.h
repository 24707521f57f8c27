/*
 * The service's own endpoints, for operators rather than Matrix clients:
 * GET /health (database health) and GET /metrics (Prometheus, core/metrics.h),
 * and their route table.
 */
#ifndef ANN_CORE_OPS_H
#define ANN_CORE_OPS_H

#include <stddef.h>

#include "core/http.h"
#include "core/router.h"

/** GET /health: 200 {"status": "ok"} when the database answers, else 503. */
int ops_health_get(struct http_req *r, const json_t *body);

/** GET /metrics: every counter and collector, in the Prometheus text format. */
int ops_metrics_get(struct http_req *r, const json_t *body);

/* The routes of the handlers above. */
extern const struct route ops_routes[];
extern const size_t ops_n_routes;

#endif
