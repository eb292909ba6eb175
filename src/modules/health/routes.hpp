#pragma once
#include <string>

#include "core/metrics.hpp"
#include "http/router.hpp"
#include "modules/health/alerts.hpp"
#include "modules/health/service.hpp"

namespace ticketd::health {

// /health/live, /health/ready, /health/alerts and /metrics, at the root and under `api_base`
// (openapi/openapi.yaml).
void register_routes(http::Router& router, const std::string& api_base, const Service& service,
                     Alerts& alerts, const core::metrics::Registry& metrics);

}  // namespace ticketd::health
