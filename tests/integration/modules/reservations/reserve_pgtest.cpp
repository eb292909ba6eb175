// The reservation statement (reserve() of migration 0007 through reservations::Repository)
// against the real PostgreSQL: races, all-or-nothing, GA capacity, idempotency, the lock-timeout
// path and the expiry batch.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "core/ids.hpp"
#include "infra/pg/pool.hpp"
#include "integration/modules/reservations/world.hpp"
#include "modules/reservations/repository.hpp"
#include "support/async.hpp"

namespace ticketd::reservations {
namespace {

namespace asio = boost::asio;
using fixture::input;
using fixture::make_world;
using fixture::pool_options;
using ticketd::testing::AsyncRunner;

class ReservePg : public ::testing::Test {
 protected:
  AsyncRunner rt{2};
  core::metrics::Registry metrics;
  infra::pg::Pool pool{rt.ioc().get_executor(), pool_options(), metrics};

  ReserveResult reserve(Repository& repo, ReserveInput in) {
    return rt.run([&]() -> asio::awaitable<ReserveResult> {
      auto r = co_await repo.reserve(std::move(in));
      co_return r;
    });
  }
};

TEST_F(ReservePg, ConcurrentClaimsOfOneSeatSucceedOnce) {
  auto w = make_world(rt, pool, 16);
  Repository repo(pool, Limits{600, 1, std::chrono::milliseconds(2'000)});
  std::vector<std::future<ReserveResult>> results;
  for (int i = 0; i < 16; ++i) {
    auto in = input(w, i, "key-" + core::new_uuid(), {w.seats[0]});
    results.push_back(asio::co_spawn(
        asio::make_strand(rt.ioc()),
        [&repo, in = std::move(in)]() mutable -> asio::awaitable<ReserveResult> {
          auto r = co_await repo.reserve(std::move(in));
          co_return r;
        },
        asio::use_future));
  }
  int created = 0, unavailable = 0;
  for (auto& f : results) {
    const auto r = f.get();
    if (r.outcome == Outcome::kCreated) ++created;
    if (r.outcome == Outcome::kSeatUnavailable) ++unavailable;
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(unavailable, 15);
}

TEST_F(ReservePg, AllOrNothingAndReplay) {
  auto w = make_world(rt, pool, 2);
  Repository repo(pool, Limits{600, 1, std::chrono::milliseconds(2'000)});
  auto first = reserve(repo, input(w, 0, "key-first-0001", {w.seats[1]}));
  ASSERT_EQ(first.outcome, Outcome::kCreated);
  EXPECT_NE(first.reservation.find("\"totalCents\": 1100"), std::string::npos) << first.reservation;

  // Seats 0 and 2 are free, 1 is held: nothing is taken, and the error names position 1.
  auto blocked = reserve(repo, input(w, 1, "key-second-001", {w.seats[0], w.seats[1], w.seats[2]}));
  ASSERT_EQ(blocked.outcome, Outcome::kSeatUnavailable);
  const auto& detail = blocked.detail;
  ASSERT_EQ(detail.at("seats").as_array().size(), 1u) << detail;
  EXPECT_EQ(detail.at("seats").at(0).at("index").to_number<int>(), 1) << blocked.detail;
  auto retry = reserve(repo, input(w, 1, "key-second-002", {w.seats[0], w.seats[2]}));
  EXPECT_EQ(retry.outcome, Outcome::kCreated);

  auto replay = reserve(repo, input(w, 0, "key-first-0001", {w.seats[1]}));
  EXPECT_EQ(replay.outcome, Outcome::kReplayed);
  EXPECT_EQ(replay.reservation, first.reservation);
  // The same key for a different request (another hash) is refused, not replayed.
  auto in = input(w, 0, "key-first-0001", {w.seats[3]});
  in.request_hash = "another";
  EXPECT_EQ(reserve(repo, std::move(in)).outcome, Outcome::kKeyReused);
}

TEST_F(ReservePg, WithAnInProcessPublisherReservationsSkipNotifyAndWakeItPerCommit) {
  auto w = make_world(rt, pool, 2);
  std::atomic<int> wakes{0};
  Repository repo(pool, Limits{600, 1, std::chrono::milliseconds(2'000)}, [&] { ++wakes; });
  ASSERT_EQ(reserve(repo, input(w, 0, "key-quiet-0001", {w.seats[0]})).outcome, Outcome::kCreated);
  EXPECT_EQ(wakes.load(), 1);
  // Refusals and replays commit no outbox row: no wake-up.
  EXPECT_EQ(reserve(repo, input(w, 1, "key-quiet-0002", {w.seats[0]})).outcome,
            Outcome::kSeatUnavailable);
  EXPECT_EQ(reserve(repo, input(w, 0, "key-quiet-0001", {w.seats[0]})).outcome, Outcome::kReplayed);
  EXPECT_EQ(wakes.load(), 1);
  // reserve_quietly() switches the outbox trigger's NOTIFY off for its own transaction only.
  auto settings = rt.run([&]() -> asio::awaitable<std::string> {
    auto lease = co_await pool.acquire();
    co_await lease->exec("BEGIN");
    infra::pg::Params params(w.users[1], w.event, w.seats[1]);
    constexpr infra::pg::Statement kQuiet{"test_reserve_quietly", R"sql(
SELECT o_outcome || '/' || coalesce(current_setting('ticketd.outbox_notify', true), '')
FROM reserve_quietly($1, $2, 'key-quiet-0003', 'h', ARRAY[$3::uuid], '{}', '{}', 600, 1, 2000,
                     'test'))sql"};
    auto r = co_await lease->query(kQuiet, params);
    std::string out = r.string(0, 0);
    co_await lease->exec("COMMIT");
    constexpr infra::pg::Statement kAfter{
        "test_notify_after", "SELECT coalesce(current_setting('ticketd.outbox_notify', true), '')"};
    auto after = co_await lease->query(kAfter);
    out += " then '" + after.string(0, 0) + "'";
    co_return out;
  });
  EXPECT_EQ(settings, "CREATED/off then ''");
}

TEST_F(ReservePg, GeneralAdmissionNeverExceedsCapacity) {
  auto w = make_world(rt, pool, 12);
  Repository repo(pool, Limits{600, 5, std::chrono::milliseconds(2'000)});
  std::vector<std::future<ReserveResult>> results;
  for (int i = 0; i < 12; ++i) {
    auto in = input(w, i, "key-" + core::new_uuid(), {}, {GaItem{w.ga, 1 + i % 3}});
    results.push_back(asio::co_spawn(
        asio::make_strand(rt.ioc()),
        [&repo, in = std::move(in)]() mutable -> asio::awaitable<ReserveResult> {
          auto r = co_await repo.reserve(std::move(in));
          co_return r;
        },
        asio::use_future));
  }
  std::int64_t granted = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto r = results[i].get();
    if (r.outcome == Outcome::kCreated) {
      granted += 1 + static_cast<std::int64_t>(i % 3);
    } else if (r.outcome != Outcome::kLockTimeout) {
      EXPECT_EQ(r.outcome, Outcome::kSoldOut);
    }
    // kLockTimeout: PostgreSQL chose this request as a deadlock victim (seen under CPU
    // contention: a slow-path taker queued on a slot's old row version while a newer statement
    // locked the new one). Its writes rolled back, which the sums below check; the service
    // retries such requests (Service::reserve, kLockRetries), the repository does not.
  }
  // Demand is 24 units for 10: never more than 10 granted, and what was granted is what the
  // slots hold. (A racing request can be refused while units are only tentatively taken by one
  // that then fails, so the race alone need not sell every unit.)
  EXPECT_LE(granted, 10);
  auto held = [&] {
    return rt.run([&]() -> asio::awaitable<std::int64_t> {
      constexpr infra::pg::Statement kHeld{
          "test_ga_held",
          "SELECT sum(reserved) FROM event_ticket_type_slots WHERE ticket_type_id = $1"};
      infra::pg::Params p(w.ga);
      auto r = co_await pool.query(kHeld, p);
      co_return r.int64(0, 0);
    });
  };
  EXPECT_EQ(held(), granted);
  // What is left is sold exactly: the rest in one request (spanning slots), then nothing more.
  if (granted < 10) {
    auto rest = reserve(
        repo, input(w, 0, "key-rest-" + core::new_uuid(), {}, {GaItem{w.ga, 10 - granted}}));
    EXPECT_EQ(rest.outcome, Outcome::kCreated);
  }
  auto more = reserve(repo, input(w, 1, "key-more-" + core::new_uuid(), {}, {GaItem{w.ga, 1}}));
  EXPECT_EQ(more.outcome, Outcome::kSoldOut);
  EXPECT_EQ(held(), 10);
}

TEST_F(ReservePg, LockWaitsEndAtTheTimeout) {
  auto w = make_world(rt, pool, 1);
  Repository repo(pool, Limits{600, 1, std::chrono::milliseconds(150)});
  // Another session holds the seat's row lock (as a slow concurrent claim would).
  fixture::LockHolder holder(
      rt, pool, "SELECT 1 FROM event_seats WHERE id = '" + w.seats[0] + "' FOR UPDATE");
  const auto start = std::chrono::steady_clock::now();
  auto r = reserve(repo, input(w, 0, "key-locked-001", {w.seats[0]}));
  const auto waited = std::chrono::steady_clock::now() - start;
  holder.release();
  EXPECT_EQ(r.outcome, Outcome::kLockTimeout);
  EXPECT_LT(waited, std::chrono::milliseconds(1'500));
  // Once the lock is gone the seat is taken normally.
  EXPECT_EQ(reserve(repo, input(w, 0, "key-locked-002", {w.seats[0]})).outcome, Outcome::kCreated);
}

TEST_F(ReservePg, ExpiryReleasesSeatsAndUnitsOnce) {
  auto w = make_world(rt, pool, 1);
  Repository repo(pool, Limits{1, 1, std::chrono::milliseconds(2'000)});
  auto r = reserve(repo, input(w, 0, "key-expiring-1", {w.seats[2]}, {GaItem{w.ga, 2}}));
  ASSERT_EQ(r.outcome, Outcome::kCreated);
  std::this_thread::sleep_for(std::chrono::milliseconds(1'200));
  // Two workers at once, batch after batch until nothing is due (the shared test database may
  // hold other due reservations): each is expired by exactly one of them.
  std::size_t mine = 0;
  for (;;) {
    std::string worker_a = "a", worker_b = "b";  // named: GCC 12 and prvalue coroutine arguments
    auto a = asio::co_spawn(asio::make_strand(rt.ioc()), repo.expire(500, std::move(worker_a)),
                            asio::use_future);
    auto b = asio::co_spawn(asio::make_strand(rt.ioc()), repo.expire(500, std::move(worker_b)),
                            asio::use_future);
    std::size_t batch = 0;
    for (auto* f : {&a, &b}) {
      for (const auto& e : f->get()) {
        ++batch;
        if (e.event_id != w.event) continue;
        ++mine;
        EXPECT_EQ(e.released_seats, std::vector<std::string>{w.seats[2]});
      }
    }
    if (batch == 0) break;
  }
  // (A ticketd running against the same database may have expired it first: what matters is
  // the final state below, with exactly one reservation.expired row.)
  EXPECT_LE(mine, 1u);
  auto state = rt.run([&]() -> asio::awaitable<std::string> {
    constexpr infra::pg::Statement kState{"test_expired_state", R"sql(
SELECT (SELECT status FROM event_seats WHERE id = $2) || '/' ||
       (SELECT sum(reserved) FROM event_ticket_type_slots WHERE ticket_type_id = $3) || '/' ||
       (SELECT count(*) FROM outbox_events o JOIN reservations r ON r.id = o.aggregate_id
         WHERE r.event_id = $1 AND o.topic = 'reservation.expired'))sql"};
    infra::pg::Params p(w.event, w.seats[2], w.ga);
    auto res = co_await pool.query(kState, p);
    co_return res.string(0, 0);
  });
  EXPECT_EQ(state, "AVAILABLE/0/1");
}

}  // namespace
}  // namespace ticketd::reservations
