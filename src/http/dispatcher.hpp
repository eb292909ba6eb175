#pragma once
// Runs one request through the pipeline in two phases. admit(), on the request head alone:
// request id (first, always), route match (404/405), middleware (authentication) and the route's
// own authorizer, so a caller who may not use a route never gets its body read. respond(), once
// the body arrived: the handler. Every failure becomes the error envelope; conditional GETs are
// answered with 304; each request is counted in the metrics and gets one access-log line.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <vector>

#include "core/metrics.hpp"
#include "http/request.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "http/shedding.hpp"

namespace ticketd::http {

// A middleware may answer in place of the handler (auth failure, rate limit) by returning a
// response, or let the request through with std::nullopt. It sees the request head only.
using Middleware = std::function<boost::asio::awaitable<std::optional<Response>>(Request&)>;

class Dispatcher {
 public:
  Dispatcher(Router router, core::metrics::Registry& metrics);

  void use(Middleware mw) { middleware_.push_back(std::move(mw)); }
  // Bounds requests in flight per traffic class (admit() answers 503 past it). Without one,
  // nothing is shed. `shedder` must outlive the dispatcher.
  void shed_with(Shedder& shedder) { shedder_ = &shedder; }

  // The outcome of admit(): either the final answer (observed already), or the route to run
  // once a body of at most `body_limit` bytes has been read.
  struct Admission {
    std::optional<Response> answer;
    const Handler* handler = nullptr;
    std::size_t body_limit = 0;
    // The request's place in its traffic class, held while its body is read and its handler
    // runs; respond() gives it back.
    Shedder::Slot slot;
  };
  // Phase one, before the body is read. Never throws. `default_body_limit` applies to routes
  // that declare none.
  boost::asio::awaitable<Admission> admit(Request& req, std::size_t default_body_limit);
  // Phase two, with the body in `req`: runs the admitted handler. Never throws.
  boost::asio::awaitable<Response> respond(Request& req, Admission& admission);
  // Both phases for a request whose body is already in `req`.
  boost::asio::awaitable<Response> handle(Request& req);

  // Assigns the request id from X-Request-Id or a fresh one. Called by admit(), and by the
  // server for answers it gives before a request is complete (413, 400 on bad framing).
  static void assign_request_id(Request& req);

  std::size_t largest_body_limit(std::size_t fallback) const noexcept {
    return router_.largest_body_limit(fallback);
  }

  // Records metrics and the access log line for a response the server produced itself.
  void observe(const Request& req, const Response& res) const;

 private:
  // Runs `step`, turning any exception into the error envelope.
  template <typename Step>
  boost::asio::awaitable<std::optional<Response>> guarded(Request& req, Step step);
  Response finish(const Request& req, Response res);

  Router router_;
  std::vector<Middleware> middleware_;
  Shedder* shedder_ = nullptr;
  core::metrics::Family<core::metrics::Counter>& requests_;
  core::metrics::Family<core::metrics::Histogram>& latency_;
  core::metrics::Gauge& in_flight_;
  core::metrics::Counter& internal_errors_;
};

// The metrics label of a request method: the method itself when it is one the API knows,
// "OTHER" for anything a client invented (label values must not come from clients).
std::string_view method_label(bhttp::verb method) noexcept;

}  // namespace ticketd::http
