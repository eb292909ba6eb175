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
#include "modules/events/snapshot.hpp"
#include "modules/realtime/hub.hpp"

namespace ticketd::events {

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
