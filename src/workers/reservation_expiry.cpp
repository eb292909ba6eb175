#include "workers/reservation_expiry.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

#include "core/async.hpp"
#include "core/log.hpp"

namespace ticketd::workers {

namespace asio = boost::asio;

ReservationExpiry::ReservationExpiry(const asio::any_io_executor& executor, Step step,
                                     Options options, core::metrics::Registry& metrics)
    : strand_(asio::make_strand(executor)),
      step_(std::move(step)),
      options_(options),
      timer_(strand_),
      passes_(metrics
                  .counter("ticketd_worker_passes_total", "Completed passes of background workers",
                           {"worker"})
                  .with({"reservation_expiry"})),
      failures_(metrics
                    .counter("ticketd_worker_failures_total",
                             "Failed passes of background workers (retried next interval)",
                             {"worker"})
                    .with({"reservation_expiry"})) {}

std::int64_t ReservationExpiry::now_ms() const noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void ReservationExpiry::start() {
  heartbeat_ms_.store(now_ms());
  running_.store(true);
  asio::co_spawn(strand_, run(), asio::detached);
}

asio::awaitable<void> ReservationExpiry::run() {
  while (!stopping_.load()) {
    try {
      std::size_t expired = 0;
      do {
        const int batch = options_.batch;
        expired = co_await step_(batch);
        // Per batch, not per pass: draining a backlog of many batches is progress, and readiness
        // must not call the worker down while it works through one.
        heartbeat_ms_.store(now_ms());
      } while (expired == static_cast<std::size_t>(options_.batch) && !stopping_.load());
      passes_.inc();
    } catch (const std::exception& e) {
      // The database may be restarting: try again next interval; the heartbeat goes stale and
      // readiness reports it if this lasts.
      failures_.inc();
      core::log::warn("reservation expiry pass failed", {{"error", e.what()}});
    }
    if (stopping_.load()) break;
    timer_.expires_after(options_.interval);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  running_.store(false);
}

asio::awaitable<void> ReservationExpiry::stop() {
  stopping_.store(true);
  asio::post(strand_, [this] { timer_.cancel(); });
  co_await core::until_cleared(running_);
}

bool ReservationExpiry::healthy() const noexcept {
  const auto allowed =
      std::max<std::int64_t>(5 * options_.interval.count(), options_.stale_after.count());
  return now_ms() - heartbeat_ms_.load() <= allowed;
}

std::string ReservationExpiry::describe() const {
  return "last batch " + std::to_string(now_ms() - heartbeat_ms_.load()) + " ms ago";
}

}  // namespace ticketd::workers
