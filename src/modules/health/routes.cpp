#include "modules/health/routes.hpp"

#include <fmt/format.h>

#include <boost/json/object.hpp>

#include "core/errors.hpp"
#include "http/envelope.hpp"

namespace ticketd::health {

namespace asio = boost::asio;
using http::bhttp::verb;

void register_routes(http::Router& router, const std::string& api_base, const Service& service,
                     Alerts& alerts, const core::metrics::Registry& metrics) {
  auto live = [](http::Request& req) -> asio::awaitable<http::Response> {
    co_return http::ok(req, boost::json::object{{"status", "ok"}}, "Alive");
  };
  auto ready = [&service](http::Request& req) -> asio::awaitable<http::Response> {
    const Readiness r = co_await service.readiness();
    boost::json::object checks;
    std::vector<core::FieldError> failures;
    for (const auto& [name, result] : r.checks) {
      checks[name] = boost::json::object{{"status", result.ok ? "up" : "down"},
                                         {"detail", result.detail},
                                         {"latencyMs", result.latency_ms}};
      if (!result.ok)
        failures.push_back({"DEPENDENCY_DOWN", name, name + " is down: " + result.detail});
    }
    if (!r.ok) {
      throw core::ApiError(core::ErrorKind::kUnavailable, "NOT_READY", "Service is not ready",
                           std::move(failures))
          .with_retry_after(5);
    }
    co_return http::ok(req, boost::json::object{{"status", "ready"}, {"checks", std::move(checks)}},
                       "Ready");
  };
  // 503 while a critical rule fires, so a load balancer or uptime check needs no JSON parsing;
  // either way the body lists every rule's state.
  auto alerting = [&alerts](http::Request& req) -> asio::awaitable<http::Response> {
    const AlertReport report = co_await alerts.report();
    if (!report.critical_firing()) {
      co_return http::ok(req, report.to_json(),
                         report.firing() > 0 ? "Warnings firing" : "No alert firing");
    }
    std::vector<core::FieldError> firing;
    for (const auto& r : report.rules) {
      if (r.firing && r.severity == Severity::kCritical) {
        firing.push_back({"ALERT_FIRING", r.name,
                          fmt::format("{} is firing: {:g} > {:g}", r.name, r.value, r.threshold)});
      }
    }
    throw core::ApiError(core::ErrorKind::kUnavailable, "ALERT_FIRING", "Critical alert firing",
                         std::move(firing))
        .with_data(report.to_json())
        .with_retry_after(5);
  };
  auto scrape = [&metrics](http::Request&) -> asio::awaitable<http::Response> {
    http::Response res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = metrics.render();
    co_return res;
  };
  std::vector<std::string> bases{""};
  if (!api_base.empty()) bases.push_back(api_base);
  // Never shed nor rate limited: operators must be able to watch an overload.
  const http::RouteOptions ops{.traffic = http::TrafficClass::kOps};
  for (const auto& base : bases) {
    router.add(verb::get, base + "/health/live", live, ops);
    router.add(verb::get, base + "/health/ready", ready, ops);
    router.add(verb::get, base + "/health/alerts", alerting, ops);
    router.add(verb::get, base + "/metrics", scrape, ops);
  }
}

}  // namespace ticketd::health
