#pragma once
// Pub/sub on a dedicated connection (a subscribed Redis connection takes no other commands).
// Channels are remembered: after every reconnect all of them are subscribed again and only then is
// the state handler told "up", so realtime code knows that messages published while the link was
// down are lost and sends fresh snapshots.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "infra/redis/metrics.hpp"
#include "infra/redis/options.hpp"

struct redisAsyncContext;

namespace ticketd::infra::redis {

class Connection;

class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  // Both handlers run on the subscriber's strand and must be cheap and non-blocking (post real
  // work elsewhere). An exception from a handler is logged and the subscriber carries on. The
  // views are valid only during the call.
  using MessageHandler = std::function<void(std::string_view channel, std::string_view payload)>;
  // true: connected and every remembered channel confirmed by Redis (again). false: the link was
  // lost or stopped after a true. Only transitions are reported; a Redis that is down at start()
  // gives no call until it comes up.
  using StateHandler = std::function<void(bool up)>;

  // Throws std::invalid_argument for invalid options (see validate()). Nothing connects yet.
  static std::shared_ptr<Subscriber> create(const boost::asio::any_io_executor& executor,
                                            Options options, Metrics& metrics,
                                            MessageHandler on_message, StateHandler on_state);
  // The same, with the families found or registered in `registry` (which must outlive it).
  static std::shared_ptr<Subscriber> create(const boost::asio::any_io_executor& executor,
                                            Options options, core::metrics::Registry& registry,
                                            MessageHandler on_message, StateHandler on_state);

  // Connects in the background and keeps reconnecting until stop(). Any thread; once only.
  void start();
  // Any thread, idempotent, never blocks. After it has run on the strand no handler is called
  // again, except StateHandler(false) if the state was up. Required before the last reference is
  // dropped: a started subscriber keeps itself alive until stopped.
  void stop();
  // stop(), then completes on the caller's executor once the strand has carried it out (the last
  // handler call has returned, the socket is closed). For shutdown, before stopping the io_context.
  boost::asio::awaitable<void> async_stop();
  // Any thread: the last StateHandler call said true.
  bool connected() const noexcept { return ready_.load(std::memory_order_acquire); }

  // Any thread, idempotent (a set of plain channel names, no patterns). Remembered across
  // reconnects; sent to Redis at once when connected. After unsubscribe() has run on the strand,
  // no message of that channel reaches the handler, even one already in flight.
  void subscribe(std::string channel);
  void unsubscribe(std::string channel);
  // Any thread. `callback` runs on the strand once `channel` is subscribed and Redis has
  // confirmed it (at once if it already is): every message published after that moment reaches
  // the handler. Waits across reconnects; dropped, never called, if the channel is unsubscribed
  // or the subscriber stops first (callers keep their own deadline).
  void when_subscribed(std::string channel, std::function<void()> callback);

  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

 private:
  struct Private {};

 public:
  Subscriber(Private, const boost::asio::any_io_executor& executor, Options options,
             Metrics& metrics, MessageHandler on_message, StateHandler on_state);

 private:
  static void on_push(redisAsyncContext* ac, void* reply, void* privdata) noexcept;

  void on_up();
  void on_down();
  void send(std::string_view verb, const std::vector<std::string_view>& channels);
  void announce(bool up);
  void forget_all();
  void confirm(std::string_view channel);

  std::shared_ptr<Connection> connection_;
  MessageHandler on_message_;
  StateHandler on_state_;
  core::metrics::Counter& messages_received_;
  core::metrics::Gauge& subscribed_channels_;

  // Strand-only state.
  std::set<std::string, std::less<>> channels_;  // wanted
  std::set<std::string, std::less<>> awaiting_;  // resubscribed, not yet confirmed
  // SUBSCRIBE commands sent on this link and not confirmed yet, per channel: a channel counts as
  // confirmed only when the latest one is (an earlier subscription may have been dropped since).
  std::map<std::string, int, std::less<>> unconfirmed_;
  std::set<std::string, std::less<>> confirmed_;
  std::multimap<std::string, std::function<void()>, std::less<>> confirm_waiters_;
  bool announced_up_ = false;

  std::atomic<bool> ready_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace ticketd::infra::redis
