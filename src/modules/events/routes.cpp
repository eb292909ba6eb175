#include "modules/events/routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"
#include "core/validation.hpp"
#include "http/envelope.hpp"
#include "http/pagination.hpp"
#include "http/params.hpp"

namespace ticketd::events {

namespace asio = boost::asio;
using http::bhttp::verb;

namespace {

constexpr std::size_t kMaxSeatIds = 5'000;
constexpr std::size_t kMaxLayoutIds = 1'000;
constexpr std::int64_t kMaxMoney = 1'000'000'000'000;  // minor units
constexpr std::int64_t kMaxCapacity = 1'000'000;

// A list of UUIDs (lower-cased, in request order so errors can name positions). A malformed entry
// is reported with `bad_code` (an id that cannot exist is as unknown as one that does not).
std::vector<std::string> read_ids(core::ObjectReader& r, std::string_view field, std::size_t max,
                                  std::string_view bad_code, bool required = false) {
  std::vector<std::string> out;
  const auto* arr = r.array(field, required);
  if (arr == nullptr) return out;
  if (arr->size() > max || (required && arr->empty())) {
    r.invalid(field, "INVALID_COUNT",
              std::string(field) + " must have " + (required ? "1" : "0") + " to " +
                  std::to_string(max) + " ids");
    return out;
  }
  out.reserve(arr->size());
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto& v = (*arr)[i];
    const std::string path = r.path(field) + "[" + std::to_string(i) + "]";
    if (!v.is_string()) {
      r.wrong_type(path, path + " must be a string");
      continue;
    }
    auto canonical = core::canonical_uuid(v.as_string());
    if (!canonical) {
      r.invalid_at(path, bad_code, path + " is not a valid id");
      continue;
    }
    std::string id = std::move(*canonical);
    out.push_back(std::move(id));
  }
  return out;
}

void check_money(core::ObjectReader& r, std::string_view field, std::optional<std::int64_t> v) {
  if (v && (*v < 0 || *v > kMaxMoney)) {
    r.invalid(field, "INVALID_AMOUNT",
              std::string(field) + " must be a non-negative integer amount in minor units");
  }
}

bool is_ticket_code(std::string_view c) {
  if (c.empty() || c.size() > 32) return false;
  for (char ch : c) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') return false;
  }
  return true;
}

void check_window(core::ObjectReader& r, const std::optional<std::string>& start,
                  std::string_view end_field, const std::optional<std::string>& end) {
  // Both normalized to the same fixed-width format, so text order is time order.
  if (start && end && *end <= *start) {
    r.invalid(end_field, "INVALID_WINDOW", std::string(end_field) + " must be after its start");
  }
}

SeatSelection read_selection(core::ObjectReader& r) {
  SeatSelection s;
  s.section_ids = read_ids(r, "sectionIds", kMaxLayoutIds, "UNKNOWN_SECTION");
  s.row_ids = read_ids(r, "rowIds", kMaxLayoutIds, "UNKNOWN_ROW");
  s.seat_ids = read_ids(r, "seatIds", kMaxSeatIds, "UNKNOWN_SEAT");
  return s;
}

std::optional<std::string> query_time(const http::Request& req, std::string_view name) {
  auto raw = req.query_param(name);
  if (!raw) return std::nullopt;
  auto t = core::wire_timestamp(*raw);
  if (!t) throw http::invalid_query(name, "must be an ISO-8601 date-time");
  return t;
}

// Request readers: each checks the whole body or query (every problem in one 422) before the
// route calls the service.

NewEvent read_new_event(http::Request& req) {
  core::ObjectReader r(req.json());
  NewEvent e;
  auto org_id = r.string("orgId", true);
  auto venue_id = r.string("venueId", true);
  auto title = r.string("title", true);
  e.description = r.string("description", false, core::Chars::kText);
  auto starts_at = r.timestamp("startsAt", true);
  e.ends_at = r.timestamp("endsAt", false);
  auto currency = r.string("currency", false);
  e.sales_start_at = r.timestamp("salesStartAt", false);
  e.sales_end_at = r.timestamp("salesEndAt", false);
  if (org_id && !core::is_uuid(*org_id)) {
    r.invalid("orgId", "INVALID_ID", "orgId must be a UUID");
  }
  if (venue_id && !core::is_uuid(*venue_id)) {
    r.invalid("venueId", "UNKNOWN_VENUE", "venueId must be a venue's id");
  }
  r.length("title", title, 1, 200);
  r.length("description", e.description, 0, 10'000);
  if (currency && !core::is_currency_code(*currency)) {
    r.invalid("currency", "INVALID_CURRENCY", "currency must be an ISO 4217 code such as USD");
  }
  check_window(r, starts_at, "endsAt", e.ends_at);
  check_window(r, e.sales_start_at, "salesEndAt", e.sales_end_at);
  r.finish();
  e.org_id = std::move(*org_id);
  e.venue_id = std::move(*venue_id);
  e.title = std::move(*title);
  e.starts_at = std::move(*starts_at);
  if (currency) e.currency = std::move(*currency);
  return e;
}

// The patch and the names of the fields it changes (for the event.updated event).
std::pair<EventPatch, std::vector<std::string>> read_event_patch(http::Request& req) {
  core::ObjectReader r(req.json());
  EventPatch p;
  std::vector<std::string> changed;
  p.title = r.string("title", false);
  p.description = r.nullable_string("description", core::Chars::kText);
  p.starts_at = r.timestamp("startsAt", false);
  p.ends_at = r.nullable_timestamp("endsAt");
  p.currency = r.string("currency", false);
  p.sales_start_at = r.nullable_timestamp("salesStartAt");
  p.sales_end_at = r.nullable_timestamp("salesEndAt");
  p.status = r.string("status", false);
  p.queue_mode = r.string("queueMode", false);
  p.queue_admit_per_second = r.integer("queueAdmitPerSecond", false);
  p.queue_auto_threshold_per_second = r.integer("queueAutoThresholdPerSecond", false);
  r.length("title", p.title, 1, 200);
  if (p.description && *p.description) {
    r.length("description", **p.description, 0, 10'000);
  }
  if (p.currency && !core::is_currency_code(*p.currency)) {
    r.invalid("currency", "INVALID_CURRENCY", "currency must be an ISO 4217 code such as USD");
  }
  if (p.status && *p.status != "DRAFT" && *p.status != "PUBLISHED" && *p.status != "CANCELLED") {
    r.invalid("status", "INVALID_STATUS", "status must be DRAFT, PUBLISHED or CANCELLED");
  }
  if (p.queue_mode && *p.queue_mode != "OFF" && *p.queue_mode != "ON" && *p.queue_mode != "AUTO") {
    r.invalid("queueMode", "INVALID_QUEUE_MODE", "queueMode must be OFF, ON or AUTO");
  }
  if (p.queue_admit_per_second &&
      (*p.queue_admit_per_second < 1 || *p.queue_admit_per_second > 100'000)) {
    r.invalid("queueAdmitPerSecond", "INVALID_QUEUE_RATE",
              "queueAdmitPerSecond must be an integer from 1 to 100000");
  }
  if (p.queue_auto_threshold_per_second &&
      (*p.queue_auto_threshold_per_second < 1 || *p.queue_auto_threshold_per_second > 1'000'000)) {
    r.invalid("queueAutoThresholdPerSecond", "INVALID_QUEUE_RATE",
              "queueAutoThresholdPerSecond must be an integer from 1 to 1000000");
  }
  if (p.ends_at && *p.ends_at) check_window(r, p.starts_at, "endsAt", **p.ends_at);
  if (p.sales_start_at && *p.sales_start_at && p.sales_end_at && *p.sales_end_at) {
    check_window(r, **p.sales_start_at, "salesEndAt", **p.sales_end_at);
  }
  r.finish();
  if (p.title) changed.emplace_back("title");
  if (p.description) changed.emplace_back("description");
  if (p.starts_at) changed.emplace_back("startsAt");
  if (p.ends_at) changed.emplace_back("endsAt");
  if (p.currency) changed.emplace_back("currency");
  if (p.sales_start_at) changed.emplace_back("salesStartAt");
  if (p.sales_end_at) changed.emplace_back("salesEndAt");
  if (p.queue_mode) changed.emplace_back("queueMode");
  if (p.queue_admit_per_second) changed.emplace_back("queueAdmitPerSecond");
  if (p.queue_auto_threshold_per_second) changed.emplace_back("queueAutoThresholdPerSecond");
  return {std::move(p), std::move(changed)};
}

EventQuery read_event_query(http::Request& req, const http::Page& page) {
  EventQuery q;
  q.org_id = req.query_param("orgId");
  if (q.org_id && !core::is_uuid(*q.org_id)) throw http::invalid_query("orgId", "must be a UUID");
  q.from = query_time(req, "from");
  q.to = query_time(req, "to");
  q.q = req.query_param("q");
  if (q.q && core::code_points(*q.q) > 200)
    throw http::invalid_query("q", "at most 200 characters");
  if (q.q && q.q->empty()) q.q.reset();
  q.status = req.query_param("status");
  if (q.status && *q.status != "DRAFT" && *q.status != "PUBLISHED" && *q.status != "CANCELLED") {
    throw http::invalid_query("status", "must be DRAFT, PUBLISHED or CANCELLED");
  }
  q.limit = page.limit;
  q.offset = (page.page - 1) * page.limit;
  return q;
}

// The field rules a ticket type's creation and changes share; absent fields are not checked.
void check_ticket_type(core::ObjectReader& r, const std::optional<std::string>& name,
                       const std::string* code, std::optional<std::int64_t> price,
                       std::optional<std::int64_t> fees,
                       std::optional<std::int64_t> total_capacity) {
  r.length("name", name, 1, 100);
  if (code != nullptr && !is_ticket_code(*code)) {
    r.invalid("code", "INVALID_CODE", "code must be 1 to 32 letters, digits, '_' or '-'");
  }
  check_money(r, "priceCents", price);
  check_money(r, "feesCents", fees);
  if (total_capacity && (*total_capacity < 1 || *total_capacity > kMaxCapacity)) {
    r.invalid("totalCapacity", "INVALID_CAPACITY",
              "totalCapacity must be between 1 and " + std::to_string(kMaxCapacity));
  }
}

NewTicketType read_new_ticket_type(http::Request& req) {
  core::ObjectReader r(req.json());
  NewTicketType t;
  auto name = r.string("name", true);
  t.code = r.string("code", false);
  auto price = r.integer("priceCents", true);
  auto fees = r.integer("feesCents", false);
  t.total_capacity = r.integer("totalCapacity", false);
  t.seats = read_selection(r);
  check_ticket_type(r, name, t.code ? &*t.code : nullptr, price, fees, t.total_capacity);
  if (t.total_capacity && !t.seats.empty()) {
    r.invalid("totalCapacity", "GA_HAS_NO_SEATS",
              "a general-admission type (totalCapacity) is not bound to seats");
  }
  r.finish();
  t.name = std::move(*name);
  t.price_cents = *price;
  t.fees_cents = fees.value_or(0);
  return t;
}

TicketTypePatch read_ticket_type_patch(http::Request& req) {
  core::ObjectReader r(req.json());
  TicketTypePatch p;
  p.name = r.string("name", false);
  p.code = r.nullable_string("code");
  p.price_cents = r.integer("priceCents", false);
  p.fees_cents = r.integer("feesCents", false);
  p.total_capacity = r.integer("totalCapacity", false);
  p.seats = read_selection(r);
  check_ticket_type(r, p.name, p.code && *p.code ? &**p.code : nullptr, p.price_cents, p.fees_cents,
                    p.total_capacity);
  r.finish();
  return p;
}

SeatPatch read_seat_patch(http::Request& req) {
  core::ObjectReader r(req.json());
  SeatPatch p;
  p.seat_ids = read_ids(r, "seatIds", kMaxSeatIds, "UNKNOWN_SEAT", true);
  p.status = r.string("status", false);
  p.price_cents = r.nullable_integer("priceCents");
  p.fees_cents = r.nullable_integer("feesCents");
  auto type_id = r.nullable_string("ticketTypeId");
  if (p.status && *p.status != "BLOCKED" && *p.status != "AVAILABLE") {
    r.invalid("status", "INVALID_STATUS", "status must be BLOCKED or AVAILABLE");
  }
  if (p.price_cents && *p.price_cents) check_money(r, "priceCents", **p.price_cents);
  if (p.fees_cents && *p.fees_cents) check_money(r, "feesCents", **p.fees_cents);
  if (type_id && *type_id && !core::is_uuid(**type_id)) {
    r.invalid("ticketTypeId", "UNKNOWN_TICKET_TYPE", "ticketTypeId must be a UUID");
  }
  if (!p.status && !p.price_cents && !p.fees_cents && !type_id) {
    r.invalid("status", "NOTHING_TO_CHANGE", "give status, priceCents, feesCents or ticketTypeId");
  }
  r.finish();
  p.ticket_type_id = std::move(type_id);
  return p;
}

SeatQuery read_seat_query(http::Request& req, const http::Page& page) {
  SeatQuery q;
  q.page = page.page;
  q.limit = page.limit;
  if (auto status = req.query_param("status")) {
    q.statuses = 0;
    std::string_view rest = *status;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const auto word = rest.substr(0, comma);
      const unsigned bit = status_bit(word);
      if (bit == 0) {
        throw http::invalid_query("status",
                                  "must be AVAILABLE, RESERVED, SOLD or BLOCKED (comma-separated)");
      }
      q.statuses |= bit;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    if (q.statuses == 0) throw http::invalid_query("status", "must not be empty");
  }
  q.section = req.query_param("section");
  if (q.section && (q.section->empty() || core::code_points(*q.section) > 64)) {
    throw http::invalid_query("section", "a section id or code");
  }
  if (q.section) {
    if (auto id = core::canonical_uuid(*q.section)) q.section = std::move(*id);
  }
  return q;
}

void register_event_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(verb::post, base + "/events",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               NewEvent e = read_new_event(req);
               core::Actor actor = req.actor();
               auto created = co_await service.create(caller, std::move(e), std::move(actor));
               co_return http::created(req, to_json(created), "Event created");
             });

  router.add(verb::get, base + "/events",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               auto page = http::read_page(req, 100);
               EventQuery q = read_event_query(req, page);
               auto listing = co_await service.list(req.principal(), std::move(q));
               co_return http::list(req, listing, page, [](const Event& e) { return to_json(e); });
             });

  router.add(verb::get, base + "/events/:eventId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto id = http::uuid_param(req, "eventId", "Event");
               auto rendered = co_await service.details(req.principal(), id);
               co_return http::ok_rendered(req, rendered->data, rendered->etag);
             });

  router.add(verb::patch, base + "/events/:eventId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "eventId", "Event");
               auto [patch, changed] = read_event_patch(req);
               core::Actor actor = req.actor();
               auto event = co_await service.patch(caller, id, std::move(patch), std::move(changed),
                                                   std::move(actor));
               co_return http::ok(req, to_json(event), "Event updated");
             });
}

void register_ticket_type_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(verb::get, base + "/events/:eventId/ticket-types",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto id = http::uuid_param(req, "eventId", "Event");
               auto types = co_await service.ticket_types(req.principal(), id);
               boost::json::array items;
               for (const auto& t : types) items.push_back(to_json(t));
               const auto n = static_cast<std::int64_t>(items.size());
               co_return http::list(req, items, http::Page{1, n == 0 ? 1 : n, n});
             });

  router.add(verb::post, base + "/events/:eventId/ticket-types",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "eventId", "Event");
               NewTicketType t = read_new_ticket_type(req);
               core::Actor actor = req.actor();
               auto created =
                   co_await service.create_ticket_type(caller, id, std::move(t), std::move(actor));
               co_return http::created(req, to_json(created), "Ticket type created");
             });

  router.add(verb::patch, base + "/events/:eventId/ticket-types/:ticketTypeId",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "eventId", "Event");
               const auto type_id = http::uuid_param(req, "ticketTypeId", "Ticket type");
               TicketTypePatch p = read_ticket_type_patch(req);
               core::Actor actor = req.actor();
               auto updated = co_await service.update_ticket_type(caller, id, type_id, std::move(p),
                                                                  std::move(actor));
               co_return http::ok(req, to_json(updated), "Ticket type updated");
             });
}

void register_seat_routes(http::Router& router, const std::string& base, Service& service) {
  router.add(verb::post, base + "/events/:eventId/seats/sync",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "eventId", "Event");
               // No fields; a body, if sent, is held to the rules of every write (415, 422).
               if (const auto* body = req.json_if_present()) core::ObjectReader(*body).finish();
               core::Actor actor = req.actor();
               auto [added, count] = co_await service.sync_seats(caller, id, std::move(actor));
               boost::json::object data{{"added", added}, {"seatCount", count}};
               co_return http::ok(req, data, "Seats synchronized");
             });

  router.add(verb::patch, base + "/events/:eventId/seats",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto& caller = req.require_principal();
               const auto id = http::uuid_param(req, "eventId", "Event");
               SeatPatch p = read_seat_patch(req);
               core::Actor actor = req.actor();
               auto change =
                   co_await service.patch_seats(caller, id, std::move(p), std::move(actor));
               std::string data = R"({"updated":)" + std::to_string(change.updated) +
                                  R"(,"seats":)" + change.items + "}";
               co_return http::ok_rendered(req, data, std::string());
             });

  router.add(verb::get, base + "/events/:eventId/seats",
             [&service](http::Request& req) -> asio::awaitable<http::Response> {
               const auto id = http::uuid_param(req, "eventId", "Event");
               auto page = http::read_page(req, 500, 100);
               SeatQuery q = read_seat_query(req, page);
               auto rendered = co_await service.seats(req.principal(), id, std::move(q));
               page.total = rendered->total;
               co_return http::list_rendered(req, rendered->data, rendered->etag, page);
             });
}

}  // namespace

void register_routes(http::Router& router, const std::string& base, Service& service) {
  register_event_routes(router, base, service);
  register_ticket_type_routes(router, base, service);
  register_seat_routes(router, base, service);
}

}  // namespace ticketd::events
