#include "modules/reservations/routes.hpp"

#include <set>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/validation.hpp"
#include "http/envelope.hpp"
#include "http/pagination.hpp"
#include "http/params.hpp"

namespace ticketd::reservations {

namespace asio = boost::asio;
using http::bhttp::verb;

namespace {

bool valid_key(std::string_view k) {
  if (k.size() < 8 || k.size() > 128) return false;
  for (char c : k) {
    if (c < 0x21 || c > 0x7e) return false;  // visible ASCII
  }
  return true;
}

// {eventId, seatIds?, eventSeatId?, items?: [{ticketTypeId, quantity}], idempotencyKey?} with the
// key also accepted as the Idempotency-Key header.
ReserveRequest read_request(http::Request& req, int max_units) {
  core::ObjectReader r(req.json());
  ReserveRequest out;
  auto event_id = r.string("eventId", true);
  auto single = r.string("eventSeatId", false);
  const auto* seats = r.array("seatIds", false);
  const auto* items = r.array("items", false);
  auto body_key = r.string("idempotencyKey", false);
  auto body_token = r.string("admissionToken", false);
  if (event_id && !core::is_uuid(*event_id)) {
    r.invalid("eventId", "INVALID_ID", "eventId must be an event id");
  }
  std::set<std::string> seen;
  if (seats != nullptr) {
    for (std::size_t i = 0; i < seats->size(); ++i) {
      const std::string path = "seatIds[" + std::to_string(i) + "]";
      const auto& v = (*seats)[i];
      if (!v.is_string()) {
        r.wrong_type(path, path + " must be a string");
        continue;
      }
      auto id = core::canonical_uuid(v.as_string());
      if (!id) {
        r.invalid_at(path, "INVALID_ID", path + " must be a seat id");
      } else if (!seen.insert(*id).second) {
        r.invalid_at(path, "DUPLICATE_SEAT", path + " repeats a seat");
      } else {
        out.seat_ids.push_back(std::move(*id));
      }
    }
  }
  if (single) {
    auto id = core::canonical_uuid(*single);
    if (!id) {
      r.invalid("eventSeatId", "INVALID_ID", "eventSeatId must be a seat id");
    } else if (seen.insert(*id).second) {
      out.seat_ids.push_back(std::move(*id));
    }
  }
  std::int64_t units = static_cast<std::int64_t>(out.seat_ids.size());
  if (items != nullptr) {
    for (std::size_t i = 0; i < items->size(); ++i) {
      core::ObjectReader item((*items)[i], "items[" + std::to_string(i) + "]", r);
      auto type = item.string("ticketTypeId", true);
      auto quantity = item.integer("quantity", true);
      item.finish();
      if (type && !core::is_uuid(*type)) {
        item.invalid("ticketTypeId", "INVALID_ID", "ticketTypeId must be a ticket type id");
        continue;
      }
      if (quantity && (*quantity < 1 || *quantity > max_units)) {
        item.invalid("quantity", "INVALID_QUANTITY",
                     "quantity must be between 1 and " + std::to_string(max_units));
        continue;
      }
      if (type && quantity) {
        units += *quantity;
        out.items.push_back(GaItem{*core::canonical_uuid(*type), *quantity});
      }
    }
  }
  if (out.seat_ids.empty() && out.items.empty() && r.value_error_count() == 0) {
    r.invalid("seatIds", "NOTHING_TO_RESERVE", "give seatIds, eventSeatId or items");
  }
  if (units > max_units) {
    r.invalid("seatIds", "TOO_MANY_SEATS",
              "at most " + std::to_string(max_units) + " seats and tickets per reservation");
  }
  const auto header_key = req.header("Idempotency-Key");
  std::string key = body_key ? *body_key : std::string(header_key);
  if (body_key && !header_key.empty() && header_key != *body_key) {
    r.invalid("idempotencyKey", "IDEMPOTENCY_KEY_MISMATCH",
              "the Idempotency-Key header and idempotencyKey differ");
  } else if (key.empty()) {
    r.invalid("idempotencyKey", "IDEMPOTENCY_KEY_REQUIRED",
              "give idempotencyKey (or the Idempotency-Key header) so retries are safe");
  } else if (!valid_key(key)) {
    r.invalid("idempotencyKey", "INVALID_IDEMPOTENCY_KEY",
              "the idempotency key must be 8 to 128 visible ASCII characters");
  }
  r.finish();
  out.event_id = *core::canonical_uuid(*event_id);  // checked above
  out.idempotency_key = std::move(key);
  // While the event's waiting room runs (modules/queue), in the body or the header.
  if (body_token) {
    out.admission_token = std::move(*body_token);
  } else if (const auto header_token = req.header("X-Admission-Token"); !header_token.empty()) {
    out.admission_token = std::string(header_token);
  }
  return out;
}

}  // namespace

void register_routes(http::Router& router, const std::string& base, Service& service,
                     RouteSettings settings) {
  router.add(
      verb::post, base + "/reservations",
      [&service, settings](http::Request& req) -> asio::awaitable<http::Response> {
        const auto& caller = req.require_principal();
        auto request = read_request(req, settings.max_units);
        core::Actor actor = req.actor();
        auto reserved = co_await service.reserve(caller, std::move(request), std::move(actor));
        co_return http::ok_rendered(
            req, reserved.json, std::string(),
            reserved.created ? http::bhttp::status::created : http::bhttp::status::ok);
      },
      http::RouteOptions{.traffic = http::TrafficClass::kReserve});

  router.add(verb::get, base + "/reservations/:reservationId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "reservationId", "Reservation");
               auto json = co_await service.get(caller, id);
               co_return http::ok_rendered(req, json, std::string());
             });

  router.add(verb::post, base + "/reservations/:reservationId/cancel",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "reservationId", "Reservation");
               // No fields; a body, if sent, is held to the rules of every write (415, 422).
               if (const auto* body = req.json_if_present()) core::ObjectReader(*body).finish();
               core::Actor actor = req.actor();
               auto json = co_await service.cancel(caller, id, std::move(actor));
               co_return http::ok_rendered(req, json, std::string());
             });

  router.add(verb::get, base + "/me/reservations",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               auto page = http::read_page(req, 100);
               auto listing =
                   co_await service.mine(caller, page.limit, (page.page - 1) * page.limit);
               co_return http::list_rendered(req, listing, page);
             });

  router.add(verb::get, base + "/events/:eventId/reservations",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto event_id = http::uuid_param(req, "eventId", "Event");
               auto page = http::read_page(req, 100);
               auto status = req.query_param("status");
               if (status && *status != "ACTIVE" && *status != "CONFIRMED" &&
                   *status != "EXPIRED" && *status != "CANCELLED") {
                 throw http::invalid_query("status", "ACTIVE, CONFIRMED, EXPIRED or CANCELLED");
               }
               auto listing = co_await service.for_event(caller, event_id, std::move(status),
                                                         page.limit, (page.page - 1) * page.limit);
               co_return http::list_rendered(req, listing, page);
             });
}

}  // namespace ticketd::reservations
