#pragma once
// workers/reservation_expiry: releases lapsed holds. Every interval it expires due reservations
// in batches (the database function claims them with SKIP LOCKED, so any number of instances may
// run it at once and none waits for another); after each batch the released seats are announced
// through the events module. Its heartbeat, beaten after every completed batch so that a long
// drain reads as progress rather than as a dead worker, feeds /health/ready.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "core/metrics.hpp"

namespace ticketd::workers {

class ReservationExpiry {
 public:
  struct Options {
    std::chrono::milliseconds interval{1'000};
    int batch = 500;
    // Unhealthy once no batch has completed for max(5 intervals, this).
    std::chrono::milliseconds stale_after{10'000};
  };
  // Expires up to n due reservations and announces them; returns how many expired
  // (reservations::Service::expire_batch in production).
  using Step = std::function<boost::asio::awaitable<std::size_t>(int n)>;

  ReservationExpiry(const boost::asio::any_io_executor& executor, Step step, Options options,
                    core::metrics::Registry& metrics);

  void start();
  // Stops after the batch in progress (if any) and completes once the loop has exited.
  boost::asio::awaitable<void> stop();

  // Healthy while the last completed batch is recent (a few intervals).
  bool healthy() const noexcept;
  std::string describe() const;

 private:
  boost::asio::awaitable<void> run();
  std::int64_t now_ms() const noexcept;

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  Step step_;
  Options options_;
  boost::asio::steady_timer timer_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
  std::atomic<std::int64_t> heartbeat_ms_{0};
  core::metrics::Counter& passes_;
  core::metrics::Counter& failures_;
};

}  // namespace ticketd::workers
