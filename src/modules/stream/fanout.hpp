#pragma once
// Live seat maps over SSE: GET /events/:eventId/stream.
//
// Per event with clients on this instance there is one Feed: one watch of the event's realtime
// channel (the hub keeps one Redis subscription per channel), the seats' current statuses, and
// the clients. A feed reads its seats only after Redis confirmed the subscription, buffers what
// arrives while that read runs and folds it in, so a client's snapshot plus the updates after it
// miss nothing. A new client of a live feed gets the feed's snapshot (rendered once per change)
// and every later update, in order, under the feed's lock. Each update is parsed and serialized
// once and the same buffer is queued to every client; a client whose queue passes the bound is
// cut off alone. When the Redis link comes back, every feed re-reads its seats and sends every
// client a fresh snapshot; while it is down, clients keep getting heartbeats.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/metrics.hpp"
#include "http/sse.hpp"
#include "modules/events/service.hpp"
#include "modules/ratelimit/streams.hpp"
#include "modules/realtime/hub.hpp"
#include "modules/stream/feed.hpp"

namespace ticketd::stream {

struct Settings {
  std::chrono::milliseconds heartbeat{15'000};
  std::size_t client_queue_max = 256;  // frames queued per client before it is dropped
  int max_streams = 10'000;            // per instance (503 above)
  // Per client address and per signed-in user (429 above); 0 = no cap (RATE_LIMIT_ENABLED=false).
  int max_streams_per_ip = 20;
  int max_streams_per_user = 5;
  std::chrono::milliseconds write_timeout{10'000};
};

// Who opens a stream: the client's address and, when signed in, the user.
struct Viewer {
  std::string ip;
  std::string user_id;  // empty: anonymous
  std::string lease;    // its lease in the caps shared by instances, when it holds one
};

class Fanout : public std::enable_shared_from_this<Fanout> {
 public:
  Fanout(const boost::asio::any_io_executor& executor, events::Service& events, realtime::Hub& hub,
         Settings settings, core::metrics::Registry& metrics);
  ~Fanout();
  Fanout(const Fanout&) = delete;
  Fanout& operator=(const Fanout&) = delete;

  // Before start(): the per-address and per-user caps also count the other instances' streams
  // (leases renewed every heartbeat). While Redis cannot answer, this instance's own count
  // decides alone.
  void share_caps(ratelimit::StreamLeases& leases);

  // Starts the heartbeats and listens to the hub's link state. Once, after construction by
  // std::make_shared.
  void start();
  // Ends every stream (gracefully), drops every feed and its subscription, stops heartbeats.
  boost::asio::awaitable<void> async_stop();

  // A new stream of the event's seat map for `viewer`. Throws ApiError: 404 for an id that is
  // not a UUID or not a published event, 429 past the per-address or per-user limit, 503 past
  // the instance's limit (both with Retry-After).
  boost::asio::awaitable<std::shared_ptr<http::sse::Stream>> open(std::string event_id,
                                                                  Viewer viewer);

  std::size_t open_streams() const;

 private:
  // open()'s parts: one stream of the instance's, the address's and the user's budgets (throws
  // past any), returned when the stream never got attached; attaching the stream to the event's
  // feed (created, subscribed, when it is the first) hands the slot to the stream's close.
  void take_slot(const Viewer& viewer);
  void give_back_slot(const Viewer& viewer);
  // The shared caps' part of a slot: takes a lease (sets viewer.lease) or throws 429.
  boost::asio::awaitable<void> take_lease(Viewer& viewer);
  boost::asio::awaitable<void> give_back_lease(ratelimit::StreamLease lease);
  boost::asio::awaitable<void> renew_leases();
  std::pair<std::shared_ptr<Feed>, bool> attach(const std::string& event_id, const Viewer& viewer,
                                                const std::shared_ptr<http::sse::Stream>& stream);
  void release(const std::string& event_id, std::uint64_t client, const Viewer& viewer,
               http::sse::CloseReason why);
  // Asks the feed for a fresh read of its seats; starts the reader unless one runs.
  void request_load(const std::shared_ptr<Feed>& feed);
  boost::asio::awaitable<void> load_loop(std::shared_ptr<Feed> feed);
  boost::asio::awaitable<void> heartbeat_loop();
  void on_link(bool up);

  boost::asio::any_io_executor executor_;
  events::Service& events_;
  realtime::Hub& hub_;
  Settings settings_;
  Metrics metrics_;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Feed>> feeds_;
  std::unordered_map<std::string, int> per_ip_;
  std::unordered_map<std::string, int> per_user_;
  ratelimit::StreamLeases* leases_ = nullptr;
  std::string lease_prefix_;  // this instance's, so lease ids are unique across instances
  std::uint64_t next_lease_ = 1;
  std::unordered_map<std::string, ratelimit::StreamLease> live_leases_;  // by id
  std::size_t open_ = 0;
  std::uint64_t next_client_ = 1;
  bool stopping_ = false;
  boost::asio::steady_timer heartbeat_timer_;
};

}  // namespace ticketd::stream
