#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/actor.hpp"

namespace ticketd::events {

// The flash-sale waiting room's settings (modules/queue runs it).
struct QueueSettings {
  std::string mode = "OFF";  // OFF | ON | AUTO
  std::int64_t admit_per_second = 50;
  std::int64_t auto_threshold_per_second = 200;
};

struct Event {
  std::string id;
  std::string org_id;
  std::string venue_id;
  std::string title;
  std::optional<std::string> description;
  std::string status;  // DRAFT | PUBLISHED | CANCELLED
  std::string starts_at;
  std::optional<std::string> ends_at;
  std::string currency;
  std::optional<std::string> sales_start_at;
  std::optional<std::string> sales_end_at;
  std::optional<std::string> published_at;
  std::optional<std::string> cancelled_at;
  std::string created_at;
  std::string updated_at;
  std::int64_t seat_count = 0;
  std::int64_t inventory_version = 0;
  QueueSettings queue;

  // Customers see published events, and cancelled ones that had been published (their buyers
  // must learn of the cancellation); drafts only the organization's members.
  bool public_visible() const noexcept {
    return status == "PUBLISHED" || (status == "CANCELLED" && published_at.has_value());
  }
};

struct Counts {
  std::int64_t total = 0;
  std::int64_t available = 0;
  std::int64_t reserved = 0;
  std::int64_t sold = 0;
  std::int64_t blocked = 0;
};

struct TicketType {
  std::string id;
  std::string event_id;
  std::string name;
  std::optional<std::string> code;
  std::string kind;  // SEATED | GA
  std::int64_t price_cents = 0;
  std::int64_t fees_cents = 0;
  std::optional<std::int64_t> total_capacity;
  Counts counts;  // GA: from the capacity slots; SEATED: filled from the seats
  std::string created_at;
  std::string updated_at;
};

struct NewEvent {
  std::string org_id;
  std::string venue_id;
  std::string title;
  std::optional<std::string> description;
  std::string starts_at;
  std::optional<std::string> ends_at;
  std::string currency = "USD";
  std::optional<std::string> sales_start_at;
  std::optional<std::string> sales_end_at;
};

// Absent fields stay; an engaged empty optional clears a nullable column.
struct EventPatch {
  std::optional<std::string> title;
  std::optional<std::optional<std::string>> description;
  std::optional<std::string> starts_at;
  std::optional<std::optional<std::string>> ends_at;
  std::optional<std::string> currency;
  std::optional<std::optional<std::string>> sales_start_at;
  std::optional<std::optional<std::string>> sales_end_at;
  std::optional<std::string> status;
  std::optional<std::string> queue_mode;
  std::optional<std::int64_t> queue_admit_per_second;
  std::optional<std::int64_t> queue_auto_threshold_per_second;
};

struct SeatSelection {
  std::vector<std::string> section_ids;
  std::vector<std::string> row_ids;
  std::vector<std::string> seat_ids;
  bool empty() const noexcept { return section_ids.empty() && row_ids.empty() && seat_ids.empty(); }
};

struct NewTicketType {
  std::string name;
  std::optional<std::string> code;
  std::int64_t price_cents = 0;
  std::int64_t fees_cents = 0;
  std::optional<std::int64_t> total_capacity;
  SeatSelection seats;
};

struct TicketTypePatch {
  std::optional<std::string> name;
  std::optional<std::optional<std::string>> code;
  std::optional<std::int64_t> price_cents;
  std::optional<std::int64_t> fees_cents;
  std::optional<std::int64_t> total_capacity;
  SeatSelection seats;
};

struct SeatPatch {
  std::vector<std::string> seat_ids;
  std::optional<std::string> status;  // BLOCKED | AVAILABLE
  std::optional<std::optional<std::int64_t>> price_cents;
  std::optional<std::optional<std::int64_t>> fees_cents;
  std::optional<std::optional<std::string>> ticket_type_id;
};

// One seat of the seat map, as read for a snapshot.
struct Seat {
  std::string id;
  std::int64_t seat_number = 0;
  std::optional<std::string> label;
  std::string seat_code;
  std::string section;
  std::string section_id;
  std::string section_code;
  std::string row;
  std::string row_id;
  std::string status;  // a lapsed hold reads AVAILABLE
  std::optional<std::int64_t> price_cents;
  std::optional<std::int64_t> fees_cents;
  std::optional<std::string> ticket_type_id;
  std::optional<std::string> reserved_until;
  std::optional<double> x;
  std::optional<double> y;
  std::int64_t section_sort = 0;
  std::int64_t row_sort = 0;
};

}  // namespace ticketd::events

#include <boost/json/object.hpp>

namespace ticketd::events {

// Wire shapes (camelCase), shared by responses and outbox event data.
boost::json::object to_json(const Event& e);
boost::json::object to_json(const Counts& c);
boost::json::object to_json(const TicketType& t);

}  // namespace ticketd::events
