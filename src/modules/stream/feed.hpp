#pragma once
// One event's live seat map on this instance (the design is in fanout.hpp): its clients, the
// seats' current statuses and the updates buffered while a read of them runs.
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

#include "core/metrics.hpp"
#include "http/sse.hpp"
#include "modules/events/seat_map.hpp"
#include "modules/realtime/hub.hpp"

namespace ticketd::stream {

// What the fan-out and its feeds count (ticketd_sse_* in /metrics).
struct Metrics {
  core::metrics::Gauge& open;
  core::metrics::Gauge& feeds;
  core::metrics::Family<core::metrics::Counter>& frames;
  core::metrics::Counter& slow_dropped;
  core::metrics::Family<core::metrics::Counter>& closed;
  core::metrics::Family<core::metrics::Counter>& rejected;
  core::metrics::Histogram& lag;
  core::metrics::Counter& loads;
};

struct SeatUpdate {
  std::string id;
  std::string status;
  std::optional<std::string> reserved_until;
};

// One announcement of the event's channel, parsed once per instance.
struct Change {
  enum Kind { kSeats, kReload, kIgnore } kind = kIgnore;
  std::int64_t version = 0;
  std::vector<SeatUpdate> seats;
  std::string data;  // the seat.updated payload sent to clients
};

// Every method is thread-safe; frames are queued to clients under the feed's lock so that
// snapshot and updates reach each client in order.
class Feed {
 public:
  Feed(std::string event_id, Metrics& metrics)
      : event_id_(std::move(event_id)), metrics_(metrics) {}

  const std::string& event_id() const noexcept { return event_id_; }

  void set_watch(std::shared_ptr<realtime::Hub::Watch> watch);

  // Ends every stream and drops the subscription; nothing reaches a client afterwards.
  void stop(http::sse::CloseReason why);

  void add(std::uint64_t id, std::shared_ptr<http::sse::Stream> stream);

  // True when no client is left.
  bool remove(std::uint64_t id);

  // From the hub (its strand). Returns true when the feed wants a fresh read of its seats.
  bool on_message(std::string_view payload);

  void heartbeat(bool linked);

  // True when the last installed read is older than `age` (or there is none).
  bool older_than(std::chrono::steady_clock::duration age) const;

  // Asks for a fresh read. True when the caller must start the reader (none runs).
  bool want_load();

  // The reader takes a request: true to read now (updates are buffered from here on), false
  // when nothing is asked any more (the reader ends).
  bool begin_load();

  void load_failed();

  // Installs a read: the statuses become `snapshot`'s plus what arrived meanwhile, and every
  // client gets the new snapshot. An event that is gone or no longer published ends them.
  void install(const std::shared_ptr<const events::Snapshot>& snapshot);

 private:
  struct Client {
    std::shared_ptr<http::sse::Stream> stream;
  };

  void apply_locked(const Change& c);

  // {eventId, version, seats: [{id, seatNo, status, reservedUntil}]}, rendered once per state.
  http::sse::Frame snapshot_locked();

  // The same buffer to every client; a client that cannot take it (closed, or its queue is
  // full: it is cut off) leaves the feed, the others are unaffected.
  void broadcast_locked(const http::sse::Frame& f, std::string_view kind);

  const std::string event_id_;
  Metrics& metrics_;
  mutable std::mutex mutex_;
  bool stopped_ = false;
  bool live_ = false;  // seats_ holds a read (plus the updates since)
  std::chrono::steady_clock::time_point installed_at_;
  bool reading_ = false;  // a reader coroutine runs
  bool loading_ = false;  // a read is in flight: updates go to pending_
  bool reload_ = false;   // a (new) read is wanted
  std::shared_ptr<realtime::Hub::Watch> watch_;
  std::map<std::uint64_t, Client> clients_;
  std::vector<SeatUpdate> seats_;
  std::vector<std::string> seat_nos_;
  std::unordered_map<std::string_view, std::size_t> index_;  // views into seats_[i].id
  std::vector<Change> pending_;
  std::int64_t version_ = 0;
  std::int64_t last_id_ = 0;  // the `id:` of the latest message (strictly increasing)
  http::sse::Frame snapshot_;
};

}  // namespace ticketd::stream
