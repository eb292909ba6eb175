#include "http/dispatcher.hpp"

#include <chrono>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "http/envelope.hpp"

namespace ticketd::http {
namespace {

std::string join_methods(const std::vector<bhttp::verb>& verbs) {
  std::string out;
  for (auto v : verbs) {
    if (out.find(bhttp::to_string(v)) != std::string::npos) continue;
    if (!out.empty()) out += ", ";
    out += bhttp::to_string(v);
  }
  return out;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty() || etag.empty()) return false;
  if (if_none_match == "*") return true;
  // Weak comparison (RFC 9110 §8.8.3.2): W/"x" and "x" are the same validator.
  auto opaque = [](std::string_view t) {
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (t.starts_with("W/")) t.remove_prefix(2);
    return t;
  };
  const auto want = opaque(etag);
  std::size_t i = 0;
  while (i <= if_none_match.size()) {
    auto j = if_none_match.find(',', i);
    if (j == std::string_view::npos) j = if_none_match.size();
    if (opaque(if_none_match.substr(i, j - i)) == want) return true;
    i = j + 1;
  }
  return false;
}

}  // namespace

Dispatcher::Dispatcher(Router router, core::metrics::Registry& metrics)
    : router_(std::move(router)),
      requests_(metrics.counter("ticketd_http_requests_total", "HTTP requests by route and status",
                                {"method", "route", "status"})),
      latency_(metrics.histogram("ticketd_http_request_duration_seconds",
                                 "HTTP request latency by route and status",
                                 {"method", "route", "status"})),
      in_flight_(metrics.gauge("ticketd_http_requests_in_flight", "Requests being handled").get()),
      internal_errors_(metrics
                           .counter("ticketd_http_internal_errors_total",
                                    "Unexpected exceptions answered with 500")
                           .get()) {}

void Dispatcher::assign_request_id(Request& req) {
  const auto given = req.header("X-Request-Id");
  req.set_request_id(is_acceptable_request_id(given) ? std::string(given) : core::new_uuid());
}

std::optional<std::size_t> Dispatcher::body_limit(bhttp::verb method, std::string_view path) const {
  auto m = router_.match(method, path);
  if (m.options == nullptr) return std::nullopt;
  return m.options->body_limit;
}

boost::asio::awaitable<Response> Dispatcher::handle(Request& req) {
  assign_request_id(req);
  in_flight_.inc();
  Response res = co_await run(req);
  in_flight_.dec();
  if (req.method() == bhttp::verb::get && res.status == bhttp::status::ok &&
      etag_matches(req.header(bhttp::field::if_none_match), res.etag)) {
    res.status = bhttp::status::not_modified;
    res.body.clear();
  }
  observe(req, res);
  co_return res;
}

boost::asio::awaitable<Response> Dispatcher::run(Request& req) {
  using core::ApiError;
  using core::ErrorKind;
  // An exception is turned into a response outside the catch blocks: the logging and rendering
  // never throw away the original error.
  std::optional<ApiError> failure;
  try {
    auto m = router_.match(req.method(), req.path());
    if (m.handler == nullptr) {
      if (!m.allowed.empty()) {
        Response r =
            error(req.request_id(), ApiError(ErrorKind::kMethodNotAllowed, "METHOD_NOT_ALLOWED",
                                             "Method not allowed for this resource"));
        r.header("Allow", join_methods(m.allowed));
        co_return r;
      }
      co_return error(req.request_id(),
                      ApiError(ErrorKind::kNotFound, "ROUTE_NOT_FOUND", "No such route"));
    }
    req.set_route(m.pattern, std::move(m.params));
    for (const auto& mw : middleware_) {
      if (auto early = co_await mw(req)) co_return std::move(*early);
    }
    co_return co_await (*m.handler)(req);
  } catch (const ApiError& e) {
    failure = e;
  } catch (const core::InfraError& e) {
    // Dependency failures are expected outcomes with a generic text; the cause goes to the log.
    core::log::warn("dependency failure", {{"requestId", req.request_id()},
                                           {"route", req.route()},
                                           {"code", e.code()},
                                           {"error", e.what()}});
    ApiError api(e.kind(), e.code(),
                 e.kind() == ErrorKind::kUnavailable ? "A dependency is unavailable, retry later"
                 : e.kind() == ErrorKind::kConflict  ? "The request conflicts with existing data"
                                                     : "The request could not be processed");
    if (e.kind() == ErrorKind::kUnavailable) api.with_retry_after(1);
    failure = std::move(api);
  } catch (const std::exception& e) {
    internal_errors_.inc();
    core::log::error(
        "unhandled exception",
        {{"requestId", req.request_id()}, {"route", req.route()}, {"error", e.what()}});
    failure = ApiError(ErrorKind::kInternal, "INTERNAL_ERROR", "Internal server error");
  }
  co_return error(req.request_id(), *failure);
}

void Dispatcher::observe(const Request& req, const Response& res) const {
  const auto elapsed = std::chrono::steady_clock::now() - req.started();
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const auto status = std::to_string(static_cast<unsigned>(res.status));
  const std::string_view method = req.method_string();
  const std::string_view route = req.route();
  requests_.with({method, route, status}).inc();
  latency_.with({method, route, status}).observe(seconds);
  core::log::info("request", {{"requestId", req.request_id()},
                              {"method", method},
                              {"route", route},
                              {"path", req.path()},
                              {"status", static_cast<unsigned>(res.status)},
                              {"latencyMs", seconds * 1000.0},
                              {"ip", req.remote_ip()}});
}

}  // namespace ticketd::http
