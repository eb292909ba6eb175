// pg::Listener against the real server: committed NOTIFYs wake it, rolled-back ones do not, and
// a terminated connection is replaced (with one extra wake-up, since notifications were lost).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/ids.hpp"
#include "infra/pg/listener.hpp"
#include "infra/pg/pool.hpp"
#include "support/async.hpp"

namespace ticketd::infra::pg {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ticketd::testing::AsyncRunner;

template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

PoolOptions pool_options() {
  PoolOptions o;
  o.connect.url = ticketd::testing::test_database_url();
  o.max_size = 2;
  return o;
}

constexpr Statement kNotify{"listener_test_notify", "SELECT pg_notify($1, $2)"};
constexpr Statement kTerminate{
    "listener_test_terminate",
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1"};

TEST(Listener, WakesOnCommittedNotifyAndReconnectsAfterTermination) {
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  Pool pool(rt.ioc().get_executor(), pool_options(), metrics);
  const std::string channel = "ticketd_test_" + core::random_hex(6);
  const std::string app_name = "ticketd-listener-test-" + core::random_hex(4);

  Listener::Options lo;
  lo.connect.url = ticketd::testing::test_database_url();
  lo.connect.application_name = app_name;
  lo.channel = channel;
  lo.backoff_min = 20ms;
  lo.backoff_max = 200ms;
  std::atomic<int> wakes{0};
  Listener listener(
      rt.ioc().get_executor(), lo, [&wakes] { wakes.fetch_add(1); }, metrics);
  listener.start();

  ASSERT_TRUE(eventually([&] { return listener.listening(); }, 5s));
  // One wake-up right after subscribing: whatever was notified before is unknown.
  ASSERT_TRUE(eventually([&] { return wakes.load() == 1; }, 2s));
  EXPECT_EQ(listener.connects(), 1u);

  auto notify = [&](bool commit) {
    rt.run([&]() -> asio::awaitable<void> {
      auto body = [&](Tx& tx) -> asio::awaitable<void> {
        const Params params(channel, "payload");
        co_await tx.query(kNotify, params);
        if (!commit) throw std::runtime_error("roll back");
      };
      try {
        co_await pool.transact(body);
      } catch (const std::runtime_error&) {
      }
    });
  };

  // A rolled-back transaction notifies nobody; the committed one after it does, exactly once.
  notify(false);
  notify(true);
  ASSERT_TRUE(eventually([&] { return wakes.load() >= 2; }, 2s));
  EXPECT_EQ(wakes.load(), 2) << "the rolled-back NOTIFY must not be delivered";
  EXPECT_EQ(metrics.counter("ticketd_db_listen_notifications_total", "", {"channel"})
                .with({channel})
                .value(),
            1);

  // The server drops the listening session: the listener reconnects, LISTENs again and wakes
  // its user once for what it may have missed.
  const auto terminated = rt.run([&]() -> asio::awaitable<std::int64_t> {
    const Params params(app_name);
    auto r = co_await pool.query(kTerminate, params);
    co_return r.int64(0, 0);
  });
  ASSERT_EQ(terminated, 1);
  ASSERT_TRUE(eventually([&] { return listener.connects() == 2 && listener.listening(); }, 10s));
  ASSERT_TRUE(eventually([&] { return wakes.load() == 3; }, 2s));

  notify(true);
  ASSERT_TRUE(eventually([&] { return wakes.load() == 4; }, 2s));

  rt.run([&]() -> asio::awaitable<void> { co_await listener.stop(); });
  EXPECT_FALSE(listener.listening());
}

TEST(Listener, RejectsChannelsThatAreNotIdentifiers) {
  AsyncRunner rt(1);
  core::metrics::Registry metrics;
  Listener::Options lo;
  lo.connect.url = ticketd::testing::test_database_url();
  lo.channel = "bad; DROP TABLE x";
  EXPECT_THROW(Listener(
                   rt.ioc().get_executor(), lo, [] {}, metrics),
               std::invalid_argument);
}

TEST(Listener, StopsPromptlyWhileTheServerIsUnreachable) {
  AsyncRunner rt(2);
  core::metrics::Registry metrics;
  Listener::Options lo;
  lo.connect.url = "postgres://ticketd:ticketd@127.0.0.1:1/ticketd";
  lo.channel = "ticketd_test_unreachable";
  lo.backoff_min = 20ms;
  std::atomic<int> wakes{0};
  Listener listener(
      rt.ioc().get_executor(), lo, [&wakes] { wakes.fetch_add(1); }, metrics);
  listener.start();
  std::this_thread::sleep_for(100ms);  // a few failed attempts
  const auto started = std::chrono::steady_clock::now();
  rt.run([&]() -> asio::awaitable<void> { co_await listener.stop(); });
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_FALSE(listener.listening());
  EXPECT_EQ(wakes.load(), 0);
  EXPECT_EQ(listener.connects(), 0u);
}

}  // namespace
}  // namespace ticketd::infra::pg
