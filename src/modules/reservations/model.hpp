#pragma once
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ticketd::reservations {

struct GaItem {
  std::string ticket_type_id;
  std::int64_t quantity = 0;
};

struct ReserveInput {
  std::string user_id;
  std::string event_id;
  std::string idempotency_key;
  std::string request_hash;  // of the normalized request: replay vs. key reuse
  std::vector<std::string> seat_ids;
  std::vector<GaItem> items;
  std::string correlation_id;
};

enum class Outcome {
  kCreated,
  kReplayed,
  kKeyReused,
  kEventNotFound,
  kNotOnSale,
  kActiveLimit,
  kUnknownTicketType,
  kSeatUnavailable,
  kSoldOut,
  kLockTimeout,
};

// What the database answered; JSON members are rendered by PostgreSQL (reservation_json).
struct ReserveResult {
  Outcome outcome = Outcome::kCreated;
  std::string reservation;  // JSON object (CREATED, REPLAYED)
  std::string reservation_id;
  std::string seats;  // JSON array [{id, status, reservedUntil}] (CREATED)
  // The refusal's particulars (an object), parsed once where the database answered; null when
  // there are none.
  boost::json::value detail;
};

// A reservation's owner and tenancy, for authorization, plus its JSON.
struct Found {
  std::string user_id;
  std::string org_id;
  std::string event_id;
  std::string status;
  std::string json;
};

enum class CancelOutcome { kCancelled, kAlreadyCancelled, kNotActive, kNotFound };

struct Cancelled {
  CancelOutcome outcome = CancelOutcome::kNotFound;
  std::string reservation;  // its JSON, unless kNotFound
  std::string status;       // the reservation's status after the call
  std::vector<std::string> released_seats;
};

struct Expired {
  std::string reservation_id;
  std::string event_id;
  std::vector<std::string> released_seats;
};

}  // namespace ticketd::reservations
