// The expiry worker's loop and heartbeat, with a scripted step in place of the database: a
// backlog of many full batches is progress (readiness stays up while it drains), a failing step
// makes the heartbeat go stale, and stop() waits for the batch in progress.
#include "workers/reservation_expiry.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "support/async.hpp"

namespace ticketd::workers {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  timer.expires_after(d);
  co_await timer.async_wait(asio::use_awaitable);
}

ReservationExpiry::Options options() {
  ReservationExpiry::Options o;
  o.interval = 10ms;
  o.batch = 100;
  o.stale_after = 500ms;  // readiness allows max(5 intervals, this) = 500 ms without a batch
  return o;
}

void stop(testing::AsyncRunner& rt, ReservationExpiry& worker) {
  rt.run([&]() -> asio::awaitable<void> { co_await worker.stop(); });
}

// Seen in a flash sale's aftermath: 40,000 lapsed holds in batches of 500 took minutes, and
// readiness answered 503 "reservation_expiry is down" throughout because the heartbeat was only
// beaten once the whole backlog had drained.
TEST(ReservationExpiryWorker, StaysHealthyWhileDrainingABacklogLongerThanTheStaleLimit) {
  testing::AsyncRunner rt(2);
  core::metrics::Registry metrics;
  constexpr int kFullBatches = 60;  // 60 x 20 ms = 1.2 s of draining, well past 500 ms
  std::atomic<int> calls{0};
  auto step = [&](int n) -> asio::awaitable<std::size_t> {
    const int call = ++calls;
    co_await pause(20ms);
    co_return call <= kFullBatches ? static_cast<std::size_t>(n) : 0;
  };
  ReservationExpiry worker(rt.ioc().get_executor(), step, options(), metrics);
  worker.start();

  int unhealthy = 0;
  while (calls.load() <= kFullBatches) {
    if (!worker.healthy()) ++unhealthy;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(unhealthy, 0) << worker.describe();
  EXPECT_TRUE(worker.healthy()) << worker.describe();
  stop(rt, worker);
  // One pass drained everything: the full batches plus the short one that ended it.
  EXPECT_GE(calls.load(), kFullBatches + 1);
}

TEST(ReservationExpiryWorker, FailingStepsLetTheHeartbeatGoStaleAndAreRetriedEachInterval) {
  testing::AsyncRunner rt(2);
  core::metrics::Registry metrics;
  std::atomic<int> calls{0};
  auto step = [&](int) -> asio::awaitable<std::size_t> {
    ++calls;
    co_await pause(1ms);
    throw std::runtime_error("database unavailable");
  };
  ReservationExpiry worker(rt.ioc().get_executor(), step, options(), metrics);
  worker.start();
  EXPECT_TRUE(worker.healthy());  // a fresh worker has its start as heartbeat

  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (worker.healthy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(worker.healthy());
  EXPECT_GT(calls.load(), 5);  // retried every interval, not given up
  stop(rt, worker);
}

TEST(ReservationExpiryWorker, StopWaitsForTheBatchInProgressAndStartsNoOther) {
  testing::AsyncRunner rt(2);
  core::metrics::Registry metrics;
  std::atomic<int> started{0}, finished{0};
  auto step = [&](int n) -> asio::awaitable<std::size_t> {
    ++started;
    co_await pause(200ms);
    ++finished;
    co_return static_cast<std::size_t>(n);  // always a full batch: only stop() ends the drain
  };
  ReservationExpiry worker(rt.ioc().get_executor(), step, options(), metrics);
  worker.start();
  while (started.load() == 0) std::this_thread::sleep_for(1ms);
  stop(rt, worker);
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(finished.load(), 1);
}

}  // namespace
}  // namespace ticketd::workers
