#pragma once
// The instance's link to the realtime channels `realtime:event:{eventId}`: publishes
// seat changes after commit, and keeps exactly one Redis subscription per event channel while
// anything on this instance watches it (reference-counted), handing each message to every
// watcher of that channel. Watchers are the seat-map cache (invalidation) and SSE streams.
// Redis is never on the correctness path: a failed publish is logged and counted, and a lost
// link is reported to state listeners so they can stop trusting what they derived from it.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.hpp"

namespace ticketd::infra::redis {
class Client;
class Subscriber;
struct Options;
}  // namespace ticketd::infra::redis

namespace ticketd::realtime {

class Hub {
 public:
  // Runs on the subscriber's strand; must be cheap and must not block.
  using Listener = std::function<void(std::string_view payload)>;
  using StateListener = std::function<void(bool up)>;

  Hub(const boost::asio::any_io_executor& executor, std::shared_ptr<infra::redis::Client> client,
      const infra::redis::Options& subscriber_options, core::metrics::Registry& metrics);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  void start();
  boost::asio::awaitable<void> async_stop();

  static std::string channel(std::string_view event_id);

  // Unique per process: messages carry it as "origin", so an instance can tell its own
  // announcements (already applied locally) from other instances'.
  const std::string& instance_id() const noexcept { return instance_id_; }

  // PUBLISH; never throws. False when Redis did not take the message (down, slow).
  boost::asio::awaitable<bool> publish(std::string event_id, std::string payload);
  // The same without waiting for Redis: queued on the hub's strand, so this instance's
  // announcements leave in the order they were made. For hot paths whose answer must not wait.
  void publish_detached(std::string event_id, std::string payload);

  // While the returned handle lives, `listener` gets every message of the event's channel.
  class Watch;
  std::shared_ptr<Watch> watch(const std::string& event_id, Listener listener);

  // `callback` runs (on the subscriber's strand, cheap and non-blocking) once the event's channel
  // is subscribed and confirmed by Redis, at once if it already is: from then on every message
  // published on it reaches the watchers. Only meaningful while a Watch of the event lives; never
  // called if the last one goes first (callers keep a deadline).
  void when_subscribed(const std::string& event_id, std::function<void()> callback);

  // Called on every link transition (false: messages may have been lost since).
  void on_state(StateListener listener);
  // The subscription link is up and every channel (re)subscribed.
  bool connected() const noexcept;

 private:
  struct Channel {
    std::map<std::uint64_t, std::shared_ptr<const Listener>> listeners;
  };
  void unwatch(const std::string& channel, std::uint64_t id);
  void dispatch(std::string_view channel, std::string_view payload);
  void state(bool up);

  boost::asio::any_io_executor executor_;  // a strand: detached publishes keep their order
  std::string instance_id_;
  std::shared_ptr<infra::redis::Client> client_;
  std::shared_ptr<infra::redis::Subscriber> subscriber_;
  mutable std::mutex mutex_;
  std::map<std::string, Channel, std::less<>> channels_;
  std::vector<StateListener> state_listeners_;
  std::uint64_t next_id_ = 1;
  core::metrics::Counter& published_;
  core::metrics::Counter& publish_failures_;
  core::metrics::Counter& received_;
};

class Hub::Watch {
 public:
  Watch(Hub& hub, std::string channel, std::uint64_t id)
      : hub_(hub), channel_(std::move(channel)), id_(id) {}
  ~Watch() { hub_.unwatch(channel_, id_); }
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

 private:
  Hub& hub_;
  std::string channel_;
  std::uint64_t id_;
};

}  // namespace ticketd::realtime
