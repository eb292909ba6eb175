#pragma once
// Runs one request through the pipeline: request id (first, always), route match (404/405),
// middleware in order, handler; maps every failure to the error envelope, answers conditional
// GETs with 304, records metrics and writes one access-log line.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <vector>

#include "core/metrics.hpp"
#include "http/request.hpp"
#include "http/response.hpp"
#include "http/router.hpp"

namespace ticketd::http {

// A middleware may answer in place of the handler (auth failure, rate limit) by returning a
// response, or let the request through with std::nullopt.
using Middleware = std::function<boost::asio::awaitable<std::optional<Response>>(Request&)>;

class Dispatcher {
 public:
  Dispatcher(Router router, core::metrics::Registry& metrics);

  void use(Middleware mw) { middleware_.push_back(std::move(mw)); }

  // Never throws: every outcome is a response.
  boost::asio::awaitable<Response> handle(Request& req);

  // Assigns the request id from X-Request-Id or a fresh one. Called by handle(), and by the
  // server for answers it gives before a request is complete (413, 400 on bad framing).
  static void assign_request_id(Request& req);

  // Body limit for a request line, before its body is read.
  std::optional<std::size_t> body_limit(bhttp::verb method, std::string_view path) const;
  std::size_t largest_body_limit(std::size_t fallback) const noexcept {
    return router_.largest_body_limit(fallback);
  }

  // Records metrics and the access log line for a response the server produced itself.
  void observe(const Request& req, const Response& res) const;

 private:
  boost::asio::awaitable<Response> run(Request& req);

  Router router_;
  std::vector<Middleware> middleware_;
  core::metrics::Family<core::metrics::Counter>& requests_;
  core::metrics::Family<core::metrics::Histogram>& latency_;
  core::metrics::Gauge& in_flight_;
  core::metrics::Counter& internal_errors_;
};

}  // namespace ticketd::http
