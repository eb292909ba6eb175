#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <future>

#include "core/ids.hpp"
#include "infra/pg/pool.hpp"
#include "support/async.hpp"

namespace ticketd::infra::pg {
namespace {

namespace asio = boost::asio;
using ticketd::testing::AsyncRunner;

PoolOptions options(std::size_t size, std::chrono::milliseconds wait = std::chrono::seconds(5)) {
  PoolOptions o;
  o.connect.url = ticketd::testing::test_database_url();
  o.max_size = size;
  o.wait_timeout = wait;
  return o;
}

constexpr Statement kEcho{"test_echo", "SELECT $1::int AS n, pg_sleep(0.005) IS NULL AS slept"};

TEST(Pool, TwoHundredCoroutinesShareEightConnections) {
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  Pool pool(rt.ioc().get_executor(), options(8), metrics);
  constexpr int kTasks = 200;
  std::atomic<int> correct{0};
  std::atomic<std::size_t> peak{0};
  std::vector<std::future<void>> done;
  for (int i = 0; i < kTasks; ++i) {
    done.push_back(asio::co_spawn(
        asio::make_strand(rt.ioc()),
        [&, i]() -> asio::awaitable<void> {
          auto r = co_await pool.query(kEcho, Params(i));
          if (r.rows() == 1 && r.int64(0, 0) == i) correct.fetch_add(1);
          const auto s = pool.stats();
          std::size_t prev = peak.load();
          while (s.total > prev && !peak.compare_exchange_weak(prev, s.total)) {
          }
        },
        asio::use_future));
  }
  for (auto& f : done) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready) << "deadlock?";
    f.get();
  }
  EXPECT_EQ(correct.load(), kTasks);
  EXPECT_LE(peak.load(), 8u);
  const auto s = pool.stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.waiters, 0u);
}

TEST(Pool, WaitIsBoundedAndFailsWithUnavailable) {
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  Pool pool(rt.ioc().get_executor(), options(1, std::chrono::milliseconds(150)), metrics);
  rt.run([&]() -> asio::awaitable<void> {
    Lease held = co_await pool.acquire();
    const auto started = std::chrono::steady_clock::now();
    try {
      Lease second = co_await pool.acquire();
      ADD_FAILURE() << "second acquire should time out";
    } catch (const core::InfraError& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
      EXPECT_EQ(e.code(), "DB_POOL_TIMEOUT");
    }
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_GE(waited, std::chrono::milliseconds(140));
    EXPECT_LT(waited, std::chrono::milliseconds(1000));
  });
  // The held lease went back: the pool serves again.
  auto r =
      rt.run([&]() -> asio::awaitable<Result> { co_return co_await pool.query(kEcho, Params(7)); });
  EXPECT_EQ(r.int64(0, 0), 7);
}

TEST(Pool, ReleaseHandsTheConnectionToTheOldestWaiter) {
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  Pool pool(rt.ioc().get_executor(), options(1, std::chrono::seconds(5)), metrics);
  std::vector<int> order;
  std::mutex m;
  std::vector<std::future<void>> done;
  for (int i = 0; i < 5; ++i) {
    done.push_back(asio::co_spawn(
        asio::make_strand(rt.ioc()),
        [&, i]() -> asio::awaitable<void> {
          Lease l = co_await pool.acquire();
          co_await l->query(kEcho, Params(i));
          std::lock_guard lock(m);
          order.push_back(i);
        },
        asio::use_future));
    // Let each coroutine queue before the next starts, so FIFO order is observable.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (pool.stats().waiters + pool.stats().in_use <
               static_cast<std::size_t>(std::min(i + 1, 5)) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
  for (auto& f : done) f.get();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

// Load shedding asks the pool how long a newcomer would wait. Requests on their way to acquire()
// (contenders beyond the pool's size) count as queued, not only the pool's own waiters.
TEST(Pool, ExpectedWaitCountsContendersBeyondThePoolSize) {
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  Pool pool(rt.ioc().get_executor(), options(2), metrics);
  constexpr Statement kSlow{"test_slow", "SELECT pg_sleep(0.02) IS NULL"};
  const Params none;
  rt.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) co_await pool.query(kSlow, none);
  });
  // Nobody waits: nothing to wait for, whatever the contenders within the pool's size.
  EXPECT_EQ(pool.expected_wait().count(), 0);
  EXPECT_EQ(pool.expected_wait(2).count(), 0);
  // Six contenders on two connections: four queued, each ~20 ms on one of two connections.
  const auto wait = pool.expected_wait(6);
  EXPECT_GE(wait, std::chrono::milliseconds(38));
  EXPECT_LT(wait, std::chrono::milliseconds(400));
}

TEST(Pool, TransactionRollsBackOnException) {
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  Pool pool(rt.ioc().get_executor(), options(2), metrics);
  const std::string key = core::new_uuid();
  rt.run([&]() -> asio::awaitable<void> {
    Lease l = co_await pool.acquire();
    co_await l->exec("CREATE TABLE IF NOT EXISTS pool_test_items (k text PRIMARY KEY, v int)");
  });
  EXPECT_THROW(rt.run([&]() -> asio::awaitable<void> {
    co_await pool.transact([&](Tx& tx) -> asio::awaitable<void> {
      co_await tx.query({"test_insert", "INSERT INTO pool_test_items VALUES ($1, 1)"}, Params(key));
      throw std::runtime_error("boom");
    });
  }),
               std::runtime_error);
  auto count = rt.run([&]() -> asio::awaitable<std::int64_t> {
    auto r = co_await pool.query(
        {"test_count", "SELECT count(*) FROM pool_test_items WHERE k = $1"}, Params(key));
    co_return r.int64(0, 0);
  });
  EXPECT_EQ(count, 0) << "the insert must have been rolled back";

  // A committed transaction returns its value; a duplicate key is a typed conflict.
  auto inserted = rt.run([&]() -> asio::awaitable<std::int64_t> {
    co_return co_await pool.transact([&](Tx& tx) -> asio::awaitable<std::int64_t> {
      auto r = co_await tx.query(
          {"test_insert_ret", "INSERT INTO pool_test_items VALUES ($1, 5) RETURNING v"},
          Params(key));
      co_return r.int64(0, 0);
    });
  });
  EXPECT_EQ(inserted, 5);
  try {
    rt.run([&]() -> asio::awaitable<void> {
      co_await pool.query({"test_insert", "INSERT INTO pool_test_items VALUES ($1, 1)"},
                          Params(key));
    });
    ADD_FAILURE() << "duplicate insert should fail";
  } catch (const DbError& e) {
    EXPECT_TRUE(e.is_unique_violation());
    EXPECT_EQ(e.kind(), core::ErrorKind::kConflict);
    EXPECT_EQ(e.constraint(), "pool_test_items_pkey");
  }
  // Connections used by failed statements are clean for the next user.
  EXPECT_EQ(pool.stats().in_use, 0u);
}

TEST(Pool, UnreachableServerFailsFastWithUnavailable) {
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  PoolOptions o = options(2);
  o.connect.url = "postgres://ticketd:ticketd@127.0.0.1:1/ticketd";
  Pool pool(rt.ioc().get_executor(), o, metrics);
  const auto started = std::chrono::steady_clock::now();
  try {
    rt.run([&]() -> asio::awaitable<void> { co_await pool.query(kEcho, Params(1)); });
    ADD_FAILURE() << "expected failure";
  } catch (const core::InfraError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_EQ(pool.stats().total, 0u) << "the reserved slot is given back";
}

TEST(Pool, ReconnectsAfterServerRestart) {
  const char* services = std::getenv("TICKETD_SERVICES");
  if (services == nullptr) GTEST_SKIP() << "TICKETD_SERVICES (scripts/services) not set";
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  Pool pool(rt.ioc().get_executor(), options(4), metrics);
  auto echo = [&](int n) {
    return rt.run([&]() -> asio::awaitable<std::int64_t> {
      auto r = co_await pool.query(kEcho, Params(n));
      co_return r.int64(0, 0);
    });
  };
  ASSERT_EQ(echo(1), 1);
  ASSERT_EQ(std::system((std::string(services) + " restart pg >/dev/null").c_str()), 0);
  // The old connections are dead; the pool must notice and open new ones.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool recovered = false;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (echo(2) == 2) {
        recovered = true;
        break;
      }
    } catch (const core::InfraError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_TRUE(recovered);
  // Steady state afterwards: every query succeeds on the first try.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(echo(i), i);
}

}  // namespace
}  // namespace ticketd::infra::pg
