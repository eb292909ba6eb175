#pragma once
// PostgreSQL LISTEN on a dedicated connection (never a pooled one: a pooled connection is
// handed to other coroutines and would lose the subscription).
//
// The listener runs one coroutine on its own strand: connect, `LISTEN <channel>`, then wait for
// the socket to become readable (Asio, no thread blocks), drain PQnotifies and call `on_notify`
// once per batch of notifications. When the connection is lost (PostgreSQL restarted, network
// gone) it reconnects with capped exponential backoff; after every (re)connection it calls
// `on_notify` once more, because notifications sent while it was away are lost for good.
// Notifications carry no delivery guarantee anyway: a listener is a latency optimisation and its
// users keep polling as a fallback.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "infra/pg/connection.hpp"

namespace ticketd::infra::pg {

class Listener {
 public:
  struct Options {
    ConnectOptions connect;
    std::string channel;  // an SQL identifier: [A-Za-z_][A-Za-z0-9_]*
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{5'000};
  };

  // `on_notify` runs on the listener's strand; keep it short and non-blocking (post work
  // elsewhere). Throws std::invalid_argument for a channel that is not a plain identifier.
  Listener(const boost::asio::any_io_executor& executor, Options options,
           std::function<void()> on_notify, core::metrics::Registry& metrics);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Once started, the listener must be stopped (stop() completed) before it is destroyed.
  void start();
  // Closes the connection and completes once the loop has exited. Idempotent.
  boost::asio::awaitable<void> stop();

  // True while LISTEN is in effect on a live connection.
  bool listening() const noexcept { return listening_.load(); }
  // Connections established so far (1 after the first connect; more after reconnects).
  std::uint64_t connects() const noexcept { return connects_.load(); }

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> listen_once();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  Options options_;
  std::function<void()> on_notify_;
  boost::asio::steady_timer backoff_timer_;
  std::unique_ptr<Connection> conn_;  // strand only
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> listening_{false};
  std::atomic<std::uint64_t> connects_{0};
  core::metrics::Counter& notifications_;
  core::metrics::Counter& reconnects_;
};

}  // namespace ticketd::infra::pg
