#pragma once
// One immutable, pre-rendered picture of an event's inventory (details, seat pages, seat items),
// shared by every reader on this instance; SeatMapCache (seat_map.hpp) decides when one is read
// and dropped.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "modules/events/model.hpp"
#include "modules/events/repository.hpp"

namespace ticketd::events {

enum StatusBit : unsigned {
  kAvailable = 1,
  kReserved = 2,
  kSold = 4,
  kBlocked = 8,
  kAnyStatus = 15,
};
// The bit of a status name, 0 for an unknown one.
unsigned status_bit(std::string_view status) noexcept;

struct SeatQuery {
  unsigned statuses = kAnyStatus;
  std::optional<std::string> section;  // section id or code
  std::int64_t page = 1;
  std::int64_t limit = 100;
};

// A rendered JSON document (the envelope's `data`) and its weak ETag.
struct Rendered {
  std::string data;
  std::string etag;
  std::int64_t total = 0;  // lists: matching items before pagination
};

class Snapshot {
 public:
  Snapshot(Repository::SeatMapRows rows, std::chrono::steady_clock::time_point loaded_at,
           std::chrono::steady_clock::time_point valid_until);

  const Event& event() const noexcept { return event_; }
  const std::vector<TicketType>& ticket_types() const noexcept { return ticket_types_; }
  const Counts& counts() const noexcept { return counts_; }
  bool fresh(std::chrono::steady_clock::time_point now) const noexcept {
    return now < valid_until_;
  }

  // GET /events/:id data: the event with availability and ticket types.
  std::shared_ptr<const Rendered> details() const;
  // GET /events/:id/seats data for one query (memoized per query).
  std::shared_ptr<const Rendered> page(const SeatQuery& q) const;
  // The items of these seat ids (for answers to seat changes).
  std::string items(const std::vector<std::string>& seat_ids) const;

  // When the load that read it started (its statuses are at least that recent).
  std::chrono::steady_clock::time_point loaded_at() const noexcept { return loaded_at_; }
  // Seats in natural order, for live seat maps: id, seatNo, status and hold expiry.
  std::size_t seat_count() const noexcept { return seat_ids_.size(); }
  const std::string& seat_id(std::size_t i) const { return seat_ids_[i]; }
  const std::string& seat_no(std::size_t i) const { return seat_nos_[i]; }
  std::string_view seat_status(std::size_t i) const noexcept;
  const std::optional<std::string>& reserved_until(std::size_t i) const {
    return reserved_until_[i];
  }

 private:
  std::shared_ptr<const Rendered> render_page(const SeatQuery& q) const;

  Event event_;
  std::vector<TicketType> ticket_types_;
  Counts counts_;
  std::vector<unsigned> status_bits_;
  std::vector<std::string> section_ids_;    // per seat, for filtering
  std::vector<std::string> section_codes_;  // per seat
  std::vector<std::string> seat_ids_;
  std::vector<std::string> seat_nos_;
  std::vector<std::optional<std::string>> reserved_until_;
  std::unordered_map<std::string_view, std::size_t> index_;  // seat id → position
  std::vector<std::string> fragments_;                       // per seat, its JSON item
  std::chrono::steady_clock::time_point loaded_at_;
  std::chrono::steady_clock::time_point valid_until_;

  std::shared_ptr<const Rendered> details_;
  mutable std::mutex memo_mutex_;
  mutable std::map<std::string, std::shared_ptr<const Rendered>> memo_;
};

}  // namespace ticketd::events
