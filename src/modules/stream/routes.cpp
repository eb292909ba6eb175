#include "modules/stream/routes.hpp"

#include "http/sse.hpp"

namespace ticketd::stream {

void register_routes(http::Router& router, const std::string& base,
                     const std::shared_ptr<Fanout>& fanout) {
  // Anyone may watch a published event; Accept and Last-Event-ID need no handling: every
  // connection, first or reconnect, starts with a fresh snapshot.
  router.add(
      http::bhttp::verb::get, base + "/events/:eventId/stream",
      [fanout](http::Request& req) -> boost::asio::awaitable<http::Response> {
        std::string id(req.param("eventId").value_or(""));
        Viewer viewer{req.remote_ip(), {}};
        if (const auto* caller = req.principal()) viewer.user_id = caller->user_id;
        auto stream = co_await fanout->open(std::move(id), std::move(viewer));
        co_return http::sse::respond(std::move(stream));
      },
      http::RouteOptions{.traffic = http::TrafficClass::kStream});
}

}  // namespace ticketd::stream
