#pragma once
// The waiting room's values: an event's queue settings and sale state as the database has them,
// and a buyer's place as POST /events/:eventId/queue reports it.
#include <cstdint>
#include <optional>
#include <string>

namespace ticketd::queue {

struct EventState {
  std::string status;  // DRAFT | PUBLISHED | CANCELLED
  std::string mode;    // OFF | ON | AUTO
  std::int64_t admit_per_second = 50;
  std::int64_t auto_threshold_per_second = 200;
  std::int64_t sales_start_ms = 0;  // Unix ms; 0: on sale since publication
  // Something is left to sell: an available seat with a ticket type, or a general-admission unit.
  bool sellable = true;
};

struct Place {
  std::string status;         // OPEN | WAITING | ADMITTED | SOLD_OUT
  std::int64_t position = 0;  // buyers still waiting up to and including this one (0: none)
  std::int64_t estimated_wait_seconds = 0;
  std::int64_t retry_after_ms = 0;
  std::optional<std::string> admission_token;
  std::optional<std::string> admission_expires_at;
};

}  // namespace ticketd::queue
