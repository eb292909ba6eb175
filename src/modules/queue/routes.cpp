#include "modules/queue/routes.hpp"

#include "core/json.hpp"
#include "core/validation.hpp"
#include "http/envelope.hpp"

namespace ticketd::queue {

namespace asio = boost::asio;
using core::json::opt;

namespace {

boost::json::object place_json(const Place& p) {
  return {{"status", p.status},
          {"position", p.position},
          {"estimatedWaitSeconds", p.estimated_wait_seconds},
          {"retryAfterMs", p.retry_after_ms},
          {"admissionToken", opt(p.admission_token)},
          {"admissionExpiresAt", opt(p.admission_expires_at)}};
}

}  // namespace

void register_routes(http::Router& router, const std::string& base, Service& service) {
  // Polled by every waiting buyer: the queue class (its own in-flight bound, never shed for the
  // database pool; identified by the token alone, see iam::Service::identify), no body to read.
  router.add(
      http::bhttp::verb::post, base + "/events/:eventId/queue",
      [&service](http::Request& req) -> asio::awaitable<http::Response> {
        const auto& caller = req.require_principal();
        if (const auto* body = req.json_if_present()) {
          core::ObjectReader reader(*body);
          reader.finish();
        }
        std::string event_id(req.param("eventId").value_or(""));
        auto place = co_await service.join(caller, std::move(event_id));
        co_return http::ok(req, place_json(place));
      },
      http::RouteOptions{.traffic = http::TrafficClass::kQueue});
}

}  // namespace ticketd::queue
