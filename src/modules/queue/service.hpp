#pragma once
// The flash-sale waiting room (openapi/openapi.yaml, /events/{eventId}/queue). While an event's
// queue runs (queueMode ON, or AUTO above its attempt rate), buyers join a line in Redis, are
// admitted at the event's rate while something is left to sell, and reserve with a signed
// admission token bound to them and the event. No HTTP types here.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/metrics.hpp"
#include "core/principal.hpp"
#include "modules/queue/line.hpp"
#include "modules/queue/model.hpp"
#include "modules/queue/passes.hpp"
#include "modules/queue/repository.hpp"

namespace ticketd::queue {

struct Settings {
  std::chrono::seconds admission_ttl{600};  // QUEUE_ADMISSION_TTL_SECONDS
  // How long an event's settings and "anything left?" are reused per instance: a change made on
  // another instance applies within this.
  std::chrono::milliseconds state_ttl{1'000};
};

class Service {
 public:
  Service(Repository& repo, Line& line, Passes passes, Settings settings,
          core::metrics::Registry& metrics);

  // POST /events/:eventId/queue: joins or reports. 404 for an event that is not on sale to the
  // public (absent, draft, cancelled); 503 QUEUE_UNAVAILABLE with Retry-After while Redis is
  // unreachable.
  boost::asio::awaitable<Place> join(const core::Principal& caller, std::string event_id);

  // reservations::AdmissionGate: passes when the event's queue does not run or `token` admits
  // this user to this event; else throws 429 QUEUE_REQUIRED with Retry-After and the buyer's
  // place. An ON queue is checked without Redis; an AUTO one counts the attempt there (and lets
  // buyers through while Redis is unreachable: the queue is for fairness, seats stay exact).
  boost::asio::awaitable<void> gate(std::string user_id, std::string event_id,
                                    std::optional<std::string> token);

  // Drops this instance's copy of the event's settings (after a change made here).
  void forget(const std::string& event_id);

 private:
  // The event's settings and sale state: this instance's copy while fresh, the aged copy while a
  // background read replaces it, a read when there is none.
  boost::asio::awaitable<std::optional<EventState>> state(std::string event_id);
  boost::asio::awaitable<std::optional<EventState>> refresh(std::string event_id);
  [[noreturn]] void require_queue(const std::string& event_id, const EventState& state,
                                  const std::optional<Standing>& standing) const;

  Repository& repo_;
  Line& line_;
  Passes passes_;
  Settings settings_;

  struct Cached {
    EventState state;
    std::chrono::steady_clock::time_point until;
    bool refreshing = false;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Cached> cache_;
  static constexpr std::size_t kMaxCached = 10'000;

  core::metrics::Family<core::metrics::Counter>& answers_;
  core::metrics::Family<core::metrics::Counter>& gate_;
};

}  // namespace ticketd::queue
