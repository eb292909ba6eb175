#include "modules/tickets/routes.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "core/validation.hpp"
#include "http/envelope.hpp"
#include "http/pagination.hpp"
#include "http/params.hpp"

namespace ticketd::tickets {

namespace asio = boost::asio;
using http::bhttp::verb;

namespace {

// Tickets and orders, read by their holders (and staff).
void register_holder_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(verb::get, base + "/tickets/:ticketId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "ticketId", "Ticket");
               auto json = co_await service.ticket(caller, id);
               co_return http::ok_rendered(req, json, std::string());
             });

  router.add(verb::get, base + "/orders/:orderId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "orderId", "Order");
               auto json = co_await service.order(caller, id);
               co_return http::ok_rendered(req, json, std::string());
             });

  router.add(verb::get, base + "/me/tickets",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               auto page = http::read_page(req, 100);
               auto listing =
                   co_await service.my_tickets(caller, page.limit, (page.page - 1) * page.limit);
               co_return http::list_rendered(req, listing, page);
             });

  router.add(verb::get, base + "/me/orders",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               auto page = http::read_page(req, 100);
               auto listing =
                   co_await service.my_orders(caller, page.limit, (page.page - 1) * page.limit);
               co_return http::list_rendered(req, listing, page);
             });
}

// An event's tickets, orders and stats, check-in at the door, and the ticket-signing key.
void register_staff_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(verb::get, base + "/events/:eventId/tickets",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto event_id = http::uuid_param(req, "eventId", "Event");
               auto page = http::read_page(req, 100);
               auto listing = co_await service.event_tickets(caller, event_id, page.limit,
                                                             (page.page - 1) * page.limit);
               co_return http::list_rendered(req, listing, page);
             });

  router.add(verb::get, base + "/events/:eventId/orders",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto event_id = http::uuid_param(req, "eventId", "Event");
               auto page = http::read_page(req, 100);
               auto listing = co_await service.event_orders(caller, event_id, page.limit,
                                                            (page.page - 1) * page.limit);
               co_return http::list_rendered(req, listing, page);
             });

  router.add(verb::get, base + "/events/:eventId/stats",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto event_id = http::uuid_param(req, "eventId", "Event");
               auto json = co_await service.event_stats(caller, event_id);
               co_return http::ok_rendered(req, json, std::string());
             });

  router.add(verb::post, base + "/events/:eventId/check-ins",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto event_id = http::uuid_param(req, "eventId", "Event");
               core::ObjectReader r(req.json());
               auto code = r.string("code", true);
               if (code && (code->empty() || code->size() > 512)) {
                 r.invalid("code", "INVALID_CODE", "code must be 1-512 characters");
               }
               r.finish();
               std::string scanned = *code;
               auto json = co_await service.check_in(caller, event_id, std::move(scanned));
               co_return http::ok_rendered(req, json, std::string());
             });

  router.add(verb::get, base + "/orgs/:orgId/ticket-key",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto org_id = http::uuid_param(req, "orgId", "Organization");
               auto key = co_await service.public_key(org_id);
               if (!key) {
                 throw core::ApiError(core::ErrorKind::kNotFound, "NOT_FOUND",
                                      "Organization not found");
               }
               boost::json::object o;
               o["orgId"] = key->org_id;
               o["keyId"] = key->key_id;
               o["algorithm"] = "Ed25519";
               o["publicKey"] = core::base64url_encode(key->public_key);
               o["encoding"] = "base64url";
               o["createdAt"] = key->created_at;
               o["codeFormat"] =
                   "TK1 + base64url(ticketId[16] || signature[64]); the signature covers "
                   "\"ticketd/ticket/v1\" || ticketId[16] || eventId[16] (UUID bytes)";
               const auto body = boost::json::serialize(o);
               co_return http::ok_rendered(req, body, core::weak_etag(body));
             });
}

}  // namespace

void register_routes(http::Router& router, const std::string& base, Service& service) {
  register_holder_routes(router, base, service);
  register_staff_routes(router, base, service);
}

}  // namespace ticketd::tickets
