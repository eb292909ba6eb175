#pragma once
// Seat-map snapshots: one immutable, pre-rendered picture of an event's inventory per instance,
// shared by every reader, so on-sale reads of GET /events/:id and /events/:id/seats do not touch
// PostgreSQL. A snapshot is dropped when
//   - a change is announced on the event's realtime channel (any instance, through Redis),
//   - this instance changes the event (invalidate()),
//   - its first live hold lapses (statuses are computed by the database at load time),
//   - it is older than the TTL (a bound for invalidations lost while Redis was unreachable).
// Loads are single-flight: concurrent readers of a changed event share one query. A snapshot
// that only aged (TTL, first hold lapsed) keeps being served while one background load
// replaces it, so readers never queue behind a periodic refresh.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/metrics.hpp"
#include "modules/events/model.hpp"
#include "modules/events/repository.hpp"
#include "modules/realtime/hub.hpp"

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

class SeatMapCache {
 public:
  struct Options {
    std::chrono::milliseconds ttl{5'000};
    std::size_t max_events = 256;
  };

  SeatMapCache(Repository& repo, realtime::Hub& hub, Options options,
               core::metrics::Registry& metrics);
  ~SeatMapCache();
  SeatMapCache(const SeatMapCache&) = delete;
  SeatMapCache& operator=(const SeatMapCache&) = delete;

  // The current snapshot, loading it when needed; nullptr when the event does not exist.
  boost::asio::awaitable<std::shared_ptr<const Snapshot>> get(std::string event_id);
  // The same, but only a snapshot whose load started at or after `not_before` will do (live
  // seat maps: read after their realtime subscription was confirmed, so no change between the
  // two is missed); an older one is replaced by a new load, shared with concurrent callers.
  boost::asio::awaitable<std::shared_ptr<const Snapshot>> get_since(
      std::string event_id, std::chrono::steady_clock::time_point not_before);
  // Drops the event's snapshot (after a change committed by this instance).
  void invalidate(const std::string& event_id);

 private:
  struct Flight;
  struct Entry {
    std::shared_ptr<const Snapshot> snapshot;
    std::uint64_t snapshot_generation = 0;
    std::uint64_t generation = 0;  // bumped by every invalidation
    std::shared_ptr<Flight> flight;
    std::uint64_t flight_generation = 0;
    std::chrono::steady_clock::time_point flight_started;
    std::shared_ptr<realtime::Hub::Watch> watch;
    std::list<std::string>::iterator lru;
  };

  boost::asio::awaitable<std::shared_ptr<const Snapshot>> load(std::string event_id,
                                                               std::shared_ptr<Flight> flight,
                                                               std::uint64_t generation);
  Entry& entry_locked(const std::string& event_id);
  void invalidate_all();

  Repository& repo_;
  realtime::Hub& hub_;
  Options options_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // front = most recently used
  bool hub_up_ = false;
  core::metrics::Counter& hits_;
  core::metrics::Counter& loads_;
  core::metrics::Counter& joins_;
  core::metrics::Counter& stale_hits_;
  core::metrics::Counter& invalidations_;
  core::metrics::Histogram& load_seconds_;
};

}  // namespace ticketd::events
