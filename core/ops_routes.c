/* The route table of the operators' endpoints (core/ops.h): GET /health, GET /metrics. */
#include "core/ops.h"
#include "core/util.h"

const struct route ops_routes[] = {
    { "GET", "/health", ops_health_get, 0 },
    { "GET", "/metrics", ops_metrics_get, ROUTE_OPS },
};
const size_t ops_n_routes = ANN_ARRAY_LEN(ops_routes);
