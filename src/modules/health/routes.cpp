#include "modules/health/routes.hpp"

#include <boost/json/object.hpp>

#include "core/errors.hpp"
#include "http/envelope.hpp"

namespace ticketd::health {

namespace asio = boost::asio;
using http::bhttp::verb;

void register_routes(http::Router& router, const std::string& api_base, const Service& service,
                     const core::metrics::Registry& metrics) {
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
    router.add(verb::get, base + "/metrics", scrape, ops);
  }
}

}  // namespace ticketd::health
