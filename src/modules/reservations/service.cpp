#include "modules/reservations/service.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <map>

#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "infra/outbox/outbox.hpp"
#include "modules/iam/policy.hpp"

namespace ticketd::reservations {

namespace asio = boost::asio;
using core::ApiError;
using core::ErrorKind;
using iam::Decision;
using iam::OrgAction;

namespace {

constexpr int kLockRetries = 3;

[[noreturn]] void refuse(const ReserveResult& r, const ReserveRequest& req) {
  switch (r.outcome) {
    case Outcome::kKeyReused:
      throw ApiError(
          ErrorKind::kUnprocessable, "IDEMPOTENCY_KEY_REUSED",
          "This idempotency key was used for a different request",
          {{"IDEMPOTENCY_KEY_REUSED", "idempotencyKey", "use a new key for a different request"}});
    case Outcome::kEventNotFound:
      throw core::not_found("Event");
    case Outcome::kNotOnSale: {
      const auto& detail = r.detail;
      std::string reason(detail.at("reason").as_string());
      const char* why = reason == "EVENT_CANCELLED"     ? "the event is cancelled"
                        : reason == "EVENT_STARTED"     ? "the event has started"
                        : reason == "SALES_NOT_STARTED" ? "sales have not started yet"
                                                        : "sales have ended";
      throw ApiError(ErrorKind::kUnprocessable, "EVENT_NOT_ON_SALE", "The event is not on sale",
                     {{"EVENT_NOT_ON_SALE", "eventId", std::string("not on sale: ") + why},
                      {reason, "eventId", why}});
    }
    case Outcome::kActiveLimit:
      throw ApiError(ErrorKind::kConflict, "ACTIVE_RESERVATION_LIMIT",
                     "You already hold the maximum number of active reservations for this event",
                     {{"ACTIVE_RESERVATION_LIMIT", "eventId",
                       "cancel or pay for your active reservation first"}});
    case Outcome::kUnknownTicketType: {
      const auto& detail = r.detail;
      std::vector<core::FieldError> errors;
      for (const auto& id : detail.at("ticketTypeIds").as_array()) {
        for (std::size_t i = 0; i < req.items.size(); ++i) {
          if (req.items[i].ticket_type_id != id.as_string()) continue;
          errors.push_back({"UNKNOWN_TICKET_TYPE", "items[" + std::to_string(i) + "].ticketTypeId",
                            "not a general-admission ticket type of this event"});
        }
      }
      throw ApiError(ErrorKind::kUnprocessable, "UNKNOWN_TICKET_TYPE",
                     "Unknown ticket type for this event", std::move(errors));
    }
    case Outcome::kSeatUnavailable: {
      const auto& detail = r.detail;
      std::vector<core::FieldError> errors;
      for (const auto& s : detail.at("seats").as_array()) {
        const auto& o = s.as_object();
        errors.push_back(
            {"SEAT_UNAVAILABLE",
             "seatIds[" + std::to_string(o.at("index").to_number<std::int64_t>()) + "]",
             "seat " + std::string(o.at("id").as_string()) + " is " +
                 std::string(o.at("reason").as_string())});
      }
      throw ApiError(ErrorKind::kConflict, "SEAT_UNAVAILABLE", "Some seats are not available",
                     std::move(errors));
    }
    case Outcome::kSoldOut: {
      const auto& detail = r.detail;
      std::vector<core::FieldError> errors;
      for (const auto& t : detail.at("ticketTypes").as_array()) {
        const auto& o = t.as_object();
        errors.push_back({"SOLD_OUT", "items",
                          "ticket type " + std::string(o.at("ticketTypeId").as_string()) + ": " +
                              std::to_string(o.at("available").to_number<std::int64_t>()) + " of " +
                              std::to_string(o.at("requested").to_number<std::int64_t>()) +
                              " requested are available"});
      }
      throw ApiError(ErrorKind::kConflict, "SOLD_OUT", "Not enough tickets left",
                     std::move(errors));
    }
    case Outcome::kLockTimeout:
      if (!req.seat_ids.empty()) {
        throw ApiError(ErrorKind::kConflict, "SEAT_UNAVAILABLE",
                       "Some seats are being reserved by another request right now",
                       {{"SEAT_UNAVAILABLE", "seatIds", "being reserved by another request"}});
      }
      throw ApiError(ErrorKind::kUnavailable, "RESERVATION_BUSY",
                     "Too many concurrent reservations for these tickets; retry shortly")
          .with_retry_after(1);
    case Outcome::kCreated:
    case Outcome::kReplayed:
      break;
  }
  throw ApiError(ErrorKind::kInternal, "INTERNAL_ERROR", "unexpected reservation outcome");
}

const char* outcome_label(Outcome o) {
  switch (o) {
    case Outcome::kCreated:
      return "created";
    case Outcome::kReplayed:
      return "replayed";
    case Outcome::kSeatUnavailable:
    case Outcome::kLockTimeout:
      return "conflict";
    case Outcome::kSoldOut:
      return "sold_out";
    default:
      return "rejected";
  }
}

}  // namespace

Service::Service(Repository& repo, Batcher& batcher, events::Service& events,
                 core::metrics::Registry& metrics)
    : repo_(repo),
      batcher_(batcher),
      events_(events),
      outcomes_(metrics.counter("ticketd_reservations_total",
                                "Reservation attempts by outcome (created, replayed, conflict, "
                                "sold_out, rejected)",
                                {"outcome"})),
      latency_(metrics
                   .histogram("ticketd_reservation_seconds",
                              "Time to decide one reservation request (its batch's database "
                              "call included)")
                   .get()),
      expired_(metrics
                   .counter("ticketd_reservations_expired_total",
                            "Reservations expired by the expiry worker")
                   .get()) {}

std::string Service::request_hash(const ReserveRequest& r) {
  std::vector<std::string> seats = r.seat_ids;
  std::sort(seats.begin(), seats.end());
  std::map<std::string, std::int64_t> items;
  for (const auto& i : r.items) items[i.ticket_type_id] += i.quantity;
  std::string canonical = r.event_id + "|";
  for (const auto& s : seats) canonical += s + ",";
  canonical += "|";
  for (const auto& [type, qty] : items) canonical += type + ":" + std::to_string(qty) + ",";
  return core::sha256_hex(canonical);
}

asio::awaitable<Reserved> Service::reserve(const core::Principal& caller, ReserveRequest request,
                                           core::Actor actor) {
  if (caller.user_id.empty()) {
    throw ApiError(ErrorKind::kForbidden, "FORBIDDEN", "Reservations are made by users");
  }
  if (gate_) {
    std::string user = caller.user_id;
    std::string event = request.event_id;
    std::optional<std::string> token = request.admission_token;
    co_await gate_(std::move(user), std::move(event), std::move(token));
  }
  ReserveInput in;
  in.user_id = caller.user_id;
  in.event_id = request.event_id;
  in.idempotency_key = request.idempotency_key;
  in.request_hash = request_hash(request);
  in.seat_ids = request.seat_ids;
  in.items = request.items;
  in.correlation_id = actor.request_id;
  const auto start = std::chrono::steady_clock::now();
  auto result = co_await batcher_.reserve(in);
  // A lock wait past RESERVE_LOCK_TIMEOUT_MS (or a deadlock) is contention, not an answer:
  // retry a few times after a short jittered pause (bounded retries); the same
  // idempotency key makes a retry safe. Only then report busy/unavailable.
  for (int attempt = 1; attempt <= kLockRetries && result.outcome == Outcome::kLockTimeout;
       ++attempt) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer pause(executor);
    pause.expires_after(std::chrono::milliseconds(5 * attempt + core::random_below(20)));
    co_await pause.async_wait(asio::use_awaitable);
    result = co_await repo_.reserve(in);
  }
  latency_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  outcomes_.with({outcome_label(result.outcome)}).inc();
  if (result.outcome == Outcome::kReplayed)
    co_return Reserved{false, std::move(result.reservation)};
  if (result.outcome != Outcome::kCreated) refuse(result, request);
  // Committed: tell every instance (seat-map snapshots, live seat maps), without making the
  // buyer wait for Redis.
  events_.announce_seats_changed(request.event_id, "reservation.created", result.reservation_id,
                                 result.seats);
  co_return Reserved{true, std::move(result.reservation)};
}

asio::awaitable<Found> Service::visible(const core::Principal& caller, std::string id, bool write) {
  auto found = co_await repo_.find(std::move(id));
  if (!found) throw core::not_found("Reservation");
  const auto decision = iam::decide_owned(caller, found->user_id, found->org_id,
                                          write ? OrgAction::kWrite : OrgAction::kRead);
  if (decision == Decision::kAllow) co_return std::move(*found);
  if (decision == Decision::kForbidden) {
    throw ApiError(ErrorKind::kForbidden, "FORBIDDEN", "Not allowed to change this reservation");
  }
  throw core::not_found("Reservation");
}

asio::awaitable<std::string> Service::get(const core::Principal& caller, std::string id) {
  auto found = co_await visible(caller, std::move(id), false);
  co_return std::move(found.json);
}

asio::awaitable<core::Listing<std::string>> Service::mine(const core::Principal& caller,
                                                          std::int64_t limit, std::int64_t offset) {
  if (caller.user_id.empty()) co_return core::Listing<std::string>{};
  auto page = co_await repo_.list_for_user(caller.user_id, limit, offset);
  co_return page;
}

asio::awaitable<core::Listing<std::string>> Service::for_event(const core::Principal& caller,
                                                               std::string event_id,
                                                               std::optional<std::string> status,
                                                               std::int64_t limit,
                                                               std::int64_t offset) {
  co_await events_.staff_view(caller, event_id);
  auto page = co_await repo_.list_for_event(std::move(event_id), std::move(status), limit, offset);
  co_return page;
}

asio::awaitable<std::string> Service::cancel(const core::Principal& caller, std::string id,
                                             core::Actor actor) {
  auto found = co_await visible(caller, id, true);
  auto result = co_await repo_.cancel(id, actor.request_id, infra::outbox::actor_json_text(actor));
  switch (result.outcome) {
    case CancelOutcome::kNotFound:
      throw core::not_found("Reservation");
    case CancelOutcome::kNotActive:
      // The status now, not the one read before the cancel (it may just have expired).
      throw ApiError(ErrorKind::kConflict, "RESERVATION_NOT_ACTIVE",
                     "Only an active reservation can be cancelled",
                     {{"RESERVATION_NOT_ACTIVE", "status", "the reservation is " + result.status}});
    case CancelOutcome::kCancelled: {
      std::string type = "reservation.cancelled";
      std::string seats = events::Service::seat_statuses(result.released_seats, "AVAILABLE");
      co_await events_.seats_changed(found.event_id, std::move(type), std::move(id),
                                     std::move(seats));
      break;
    }
    case CancelOutcome::kAlreadyCancelled:
      break;  // cancelling twice answers the cancelled reservation
  }
  co_return std::move(result.reservation);
}

asio::awaitable<std::size_t> Service::expire_batch(int batch) {
  std::string correlation = "reservation-expiry-" + core::new_uuid();
  auto expired = co_await repo_.expire(batch, std::move(correlation));
  for (auto& e : expired) {
    std::string type = "reservation.expired";
    std::string seats = events::Service::seat_statuses(e.released_seats, "AVAILABLE");
    co_await events_.seats_changed(std::move(e.event_id), std::move(type),
                                   std::move(e.reservation_id), std::move(seats));
  }
  expired_.inc(static_cast<double>(expired.size()));
  co_return expired.size();
}

}  // namespace ticketd::reservations
