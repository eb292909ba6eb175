#include "http/dispatcher.hpp"

#include <chrono>
#include <limits>

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

// The answer to a request whose class is full: at once, before its body or the database.
Response shed(const Request& req) {
  core::ApiError busy(core::ErrorKind::kUnavailable, "SERVER_BUSY",
                      "Too many requests of this kind are in progress, retry shortly");
  busy.with_retry_after(1);
  return error(req.request_id(), busy);
}

}  // namespace

std::string_view method_label(bhttp::verb method) noexcept {
  switch (method) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::post:
    case bhttp::verb::put:
    case bhttp::verb::patch:
    case bhttp::verb::delete_:
    case bhttp::verb::options:
      return bhttp::to_string(method);
    default:
      return "OTHER";
  }
}

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

template <typename Step>
boost::asio::awaitable<std::optional<Response>> Dispatcher::guarded(Request& req, Step step) {
  using core::ApiError;
  using core::ErrorKind;
  // An exception is turned into a response outside the catch blocks: the logging and rendering
  // never throw away the original error.
  std::optional<ApiError> failure;
  try {
    co_return co_await step();
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

boost::asio::awaitable<Dispatcher::Admission> Dispatcher::admit(Request& req,
                                                                std::size_t default_body_limit) {
  using core::ApiError;
  using core::ErrorKind;
  assign_request_id(req);
  in_flight_.inc();
  Admission out;
  auto m = router_.match(req.method(), req.path());
  if (m.handler == nullptr) {
    Response r =
        m.allowed.empty()
            ? error(req.request_id(),
                    ApiError(ErrorKind::kNotFound, "ROUTE_NOT_FOUND", "No such route"))
            : error(req.request_id(), ApiError(ErrorKind::kMethodNotAllowed, "METHOD_NOT_ALLOWED",
                                               "Method not allowed for this resource"));
    if (!m.allowed.empty()) r.header("Allow", join_methods(m.allowed));
    out.answer = std::move(r);
  } else {
    const RouteOptions* options = m.options;
    req.set_route(m.pattern, std::move(m.params), *options->traffic);
    std::optional<Shedder::Slot> slot;
    if (shedder_ != nullptr) slot = shedder_->enter(req.traffic());
    if (shedder_ != nullptr && !slot) {
      out.answer = shed(req);
    } else {
      if (slot) out.slot = std::move(*slot);
      out.answer = co_await guarded(req, [&]() -> boost::asio::awaitable<std::optional<Response>> {
        for (const auto& mw : middleware_) {
          auto early = co_await mw(req);  // not inside the `if`: GCC 12 (README)
          if (early) co_return early;
        }
        if (options->authorize) co_await options->authorize(req);
        co_return std::nullopt;
      });
      out.handler = m.handler;
      out.body_limit = options->body_limit.value_or(default_body_limit);
    }
  }
  in_flight_.dec();
  if (out.answer) {
    out.slot.release();
    out.answer = finish(req, std::move(*out.answer));
  }
  co_return out;
}

boost::asio::awaitable<Response> Dispatcher::respond(Request& req, Admission& admission) {
  in_flight_.inc();
  const Handler& handler = *admission.handler;
  auto res = co_await guarded(req, [&]() -> boost::asio::awaitable<std::optional<Response>> {
    co_return co_await handler(req);
  });
  admission.slot.release();
  in_flight_.dec();
  if (req.method() == bhttp::verb::get && res->status == bhttp::status::ok &&
      etag_matches(req.header(bhttp::field::if_none_match), res->etag)) {
    res->status = bhttp::status::not_modified;
    res->body.clear();
  }
  co_return finish(req, std::move(*res));
}

boost::asio::awaitable<Response> Dispatcher::handle(Request& req) {
  auto admission = co_await admit(req, std::numeric_limits<std::size_t>::max());
  if (admission.answer) co_return std::move(*admission.answer);
  co_return co_await respond(req, admission);
}

Response Dispatcher::finish(const Request& req, Response res) {
  for (const auto& [name, value] : req.response_headers()) res.header(name, value);
  observe(req, res);
  return res;
}

void Dispatcher::observe(const Request& req, const Response& res) const {
  const auto elapsed = std::chrono::steady_clock::now() - req.started();
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const auto status = std::to_string(static_cast<unsigned>(res.status));
  const std::string_view method = method_label(req.method());
  const std::string_view route = req.route();
  requests_.with({method, route, status}).inc();
  latency_.with({method, route, status}).observe(seconds);
  // Who and which tenant, when known: the caller's user (or API key) and the organization named
  // by the path or bound to the API key.
  const core::Principal* caller = req.principal();
  std::optional<std::string_view> user_id;
  std::optional<std::string_view> org_id = req.param("orgId");
  if (caller != nullptr) {
    if (!caller->user_id.empty()) user_id = caller->user_id;
    if (!org_id && caller->api_key_org_id) org_id = *caller->api_key_org_id;
  }
  core::log::info("request", {{"requestId", req.request_id()},
                              {"method", method},
                              {"route", route},
                              {"path", req.path()},
                              {"status", static_cast<unsigned>(res.status)},
                              {"latencyMs", seconds * 1000.0},
                              {"ip", req.remote_ip()},
                              {"userId", user_id},
                              {"orgId", org_id}});
}

}  // namespace ticketd::http
