// Group commit for holds (reserve_batch() through reservations::Repository, and the Batcher that
// forms batches) against the real PostgreSQL: decisions in arrival order inside a batch, what a
// batch defers, concurrency across instances, and a property test that random request mixes get
// the same answers and leave the same rows as reserve() deciding them one by one.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "core/ids.hpp"
#include "infra/pg/pool.hpp"
#include "integration/modules/reservations/world.hpp"
#include "modules/reservations/batcher.hpp"
#include "modules/reservations/repository.hpp"
#include "support/async.hpp"

namespace ticketd::reservations {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using fixture::input;
using fixture::make_world;
using fixture::pool_options;
using fixture::World;
using Answers = std::vector<std::optional<ReserveResult>>;

Limits limits(int max_active = 1) {
  return Limits{600, max_active, std::chrono::milliseconds(2'000)};
}

class BatchPg : public ::testing::Test {
 protected:
  ticketd::testing::AsyncRunner rt{2};
  core::metrics::Registry metrics;
  infra::pg::Pool pool{rt.ioc().get_executor(), pool_options(), metrics};

  Answers decide(Repository& repo, const std::vector<ReserveInput>& batch) {
    return rt.run([&]() -> asio::awaitable<Answers> {
      auto r = co_await repo.reserve_batch(batch);
      co_return r;
    });
  }
  ReserveResult alone(Repository& repo, ReserveInput in) {
    return rt.run([&]() -> asio::awaitable<ReserveResult> {
      auto r = co_await repo.reserve(std::move(in));
      co_return r;
    });
  }
  // The first column of the first row of `sql`, as text.
  std::string scalar(const std::string& sql) {
    return rt.run([&]() -> asio::awaitable<std::string> {
      auto lease = co_await pool.acquire();
      auto r = co_await lease->exec(sql);
      co_return r.string(0, 0);
    });
  }
  // Every request at once through `batcher`, each from its own coroutine (as HTTP requests are).
  std::vector<ReserveResult> concurrently(Batcher& batcher, std::vector<ReserveInput> requests) {
    std::vector<std::future<ReserveResult>> futures;
    futures.reserve(requests.size());
    for (auto& in : requests) {
      futures.push_back(asio::co_spawn(
          asio::make_strand(rt.ioc()),
          [&batcher, in = std::move(in)]() mutable -> asio::awaitable<ReserveResult> {
            auto r = co_await batcher.reserve(std::move(in));
            co_return r;
          },
          asio::use_future));
    }
    std::vector<ReserveResult> out;
    out.reserve(futures.size());
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }
};

std::string seat_reasons(const ReserveResult& r) {
  std::string out;
  for (const auto& s : r.detail.at("seats").as_array()) {
    out += std::to_string(s.at("index").to_number<int>()) + ":" +
           std::string(s.at("reason").as_string()) + " ";
  }
  return out;
}

TEST_F(BatchPg, ASeatAskedTwiceInOneBatchGoesToTheEarlierRequest) {
  auto w = make_world(rt, pool, 3);
  Repository repo(pool, limits());
  auto answers = decide(
      repo, {input(w, 0, "key-first-001", {w.seats[0]}), input(w, 1, "key-second-01", {w.seats[0]}),
             input(w, 2, "key-third-001", {w.seats[1], w.seats[0]})});
  ASSERT_EQ(answers.size(), 3u);
  ASSERT_TRUE(answers[0] && answers[1] && answers[2]);
  ASSERT_EQ(answers[0]->outcome, Outcome::kCreated);
  EXPECT_NE(answers[0]->reservation.find("\"totalCents\": 1100"), std::string::npos);
  EXPECT_NE(answers[0]->seats.find(w.seats[0]), std::string::npos);
  ASSERT_EQ(answers[1]->outcome, Outcome::kSeatUnavailable);
  EXPECT_EQ(seat_reasons(*answers[1]), "0:HELD ");
  // All or nothing: seat 1 was free, but its request also wanted seat 0.
  ASSERT_EQ(answers[2]->outcome, Outcome::kSeatUnavailable);
  EXPECT_EQ(seat_reasons(*answers[2]), "1:HELD ");
  EXPECT_EQ(scalar("SELECT string_agg(status, ',' ORDER BY seat_number) FROM event_seats "
                   "WHERE event_id = '" +
                   w.event + "'"),
            "RESERVED,AVAILABLE,AVAILABLE,AVAILABLE");
  EXPECT_EQ(scalar("SELECT reservation_id FROM event_seats WHERE id = '" + w.seats[0] + "'"),
            answers[0]->reservation_id);
  // One outbox row, in the envelope outbox_append() writes.
  EXPECT_EQ(scalar("SELECT count(*) || '/' || min(payload->>'type') || '/' || "
                   "min(payload->'actor'->>'userId') || '/' || min(message_key) FROM "
                   "outbox_events WHERE aggregate_id = '" +
                   answers[0]->reservation_id + "'"),
            "1/reservation.created/" + w.users[0] + "/" + answers[0]->reservation_id);
}

TEST_F(BatchPg, AUsersSecondRequestInABatchIsDeferredToTheOneByOnePath) {
  auto w = make_world(rt, pool, 1);
  Repository repo(pool, limits());
  auto answers = decide(repo, {input(w, 0, "key-twice-001", {w.seats[0]}),
                               input(w, 0, "key-twice-001", {w.seats[0]})});
  ASSERT_TRUE(answers[0]);
  EXPECT_EQ(answers[0]->outcome, Outcome::kCreated);
  EXPECT_FALSE(answers[1]);
  // Run alone afterwards (what the Batcher does), it replays the first.
  auto replay = alone(repo, input(w, 0, "key-twice-001", {w.seats[0]}));
  EXPECT_EQ(replay.outcome, Outcome::kReplayed);
  EXPECT_EQ(replay.reservation, answers[0]->reservation);
}

TEST_F(BatchPg, EachRequestOfAMixedBatchIsDecidedOnItsOwn) {
  auto w = make_world(rt, pool, 6);
  Repository repo(pool, limits());
  auto stranger = input(w, 5, "key-stranger1", {w.seats[3]});
  stranger.event_id = core::new_uuid();
  const std::string unknown_type = core::new_uuid();
  auto answers =
      decide(repo, {input(w, 0, "key-mixed-001", {w.seats[0]}, {GaItem{w.ga, 4}}),
                    input(w, 1, "key-mixed-002", {}, {GaItem{w.ga, 7}}),
                    input(w, 2, "key-mixed-003", {w.seats[1]}, {GaItem{w.ga, 3}, GaItem{w.ga, 3}}),
                    input(w, 3, "key-mixed-004", {w.seats[2]}, {GaItem{unknown_type, 1}}),
                    input(w, 4, "key-mixed-005", {}, {GaItem{w.ga, 1}}), stranger});
  for (const auto& a : answers) ASSERT_TRUE(a);
  EXPECT_EQ(answers[0]->outcome, Outcome::kCreated);
  EXPECT_NE(answers[0]->reservation.find("\"totalCents\": 3100"), std::string::npos);
  ASSERT_EQ(answers[1]->outcome, Outcome::kSoldOut);
  EXPECT_EQ(answers[1]->detail.at("ticketTypes").at(0).at("available").to_number<int>(), 6);
  EXPECT_EQ(answers[1]->detail.at("ticketTypes").at(0).at("requested").to_number<int>(), 7);
  ASSERT_EQ(answers[2]->outcome, Outcome::kCreated);  // a type given twice counts as 6 units
  EXPECT_NE(answers[2]->reservation.find("\"totalCents\": 4100"), std::string::npos);
  ASSERT_EQ(answers[3]->outcome, Outcome::kUnknownTicketType);
  EXPECT_EQ(answers[3]->detail.at("ticketTypeIds").at(0).as_string(), unknown_type);
  ASSERT_EQ(answers[4]->outcome, Outcome::kSoldOut);
  EXPECT_EQ(answers[4]->detail.at("ticketTypes").at(0).at("available").to_number<int>(), 0);
  EXPECT_EQ(answers[5]->outcome, Outcome::kEventNotFound);
  // The slots hold exactly the units granted; the GA items of a reservation add up to its ask.
  EXPECT_EQ(scalar("SELECT sum(reserved) FROM event_ticket_type_slots WHERE ticket_type_id = '" +
                   w.ga + "'"),
            "10");
  EXPECT_EQ(scalar("SELECT sum(quantity) FROM reservation_items WHERE reservation_id = '" +
                   answers[2]->reservation_id + "' AND slot IS NOT NULL"),
            "6");
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox_events o JOIN reservations r ON r.id = "
                   "o.aggregate_id WHERE r.event_id = '" +
                   w.event + "'"),
            "2");
}

TEST_F(BatchPg, ReplaysKeyReuseAndTheActiveLimitAcrossBatches) {
  auto w = make_world(rt, pool, 2);
  Repository repo(pool, limits(1));
  auto first = decide(repo, {input(w, 0, "key-across-01", {w.seats[0]})});
  ASSERT_EQ(first[0]->outcome, Outcome::kCreated);
  auto reused = input(w, 0, "key-across-01", {w.seats[0]});
  reused.request_hash = "another";
  auto second = decide(repo, {reused, input(w, 1, "key-across-02", {w.seats[0]})});
  EXPECT_EQ(second[0]->outcome, Outcome::kKeyReused);
  EXPECT_EQ(second[1]->outcome, Outcome::kSeatUnavailable);
  auto third = decide(repo, {input(w, 0, "key-across-01", {w.seats[0]}),
                             input(w, 1, "key-across-03", {w.seats[1]})});
  ASSERT_EQ(third[0]->outcome, Outcome::kReplayed);
  EXPECT_EQ(third[0]->reservation, first[0]->reservation);
  EXPECT_EQ(third[1]->outcome, Outcome::kCreated);
  auto fourth = decide(repo, {input(w, 0, "key-across-04", {w.seats[2]})});
  ASSERT_EQ(fourth[0]->outcome, Outcome::kActiveLimit);
  EXPECT_EQ(fourth[0]->detail.at("limit").to_number<int>(), 1);
}

TEST_F(BatchPg, RowsAnotherTransactionHoldsDeferTheirRequestsWithoutWaiting) {
  auto w = make_world(rt, pool, 3);
  Repository repo(pool, limits());
  // Seat 0's row lock, and user 2's reserve() lock as a request of theirs in progress.
  fixture::LockHolder holder(rt, pool,
                             "SELECT 1 FROM event_seats WHERE id = '" + w.seats[0] +
                                 "' FOR UPDATE; SELECT pg_advisory_xact_lock(hashtextextended('" +
                                 w.users[2] + "/" + w.event + "', 0))");
  const auto start = std::chrono::steady_clock::now();
  auto answers = decide(
      repo, {input(w, 0, "key-held-0001", {w.seats[0]}), input(w, 1, "key-held-0002", {w.seats[1]}),
             input(w, 2, "key-held-0003", {w.seats[2]})});
  const auto took = std::chrono::steady_clock::now() - start;
  holder.release();
  EXPECT_FALSE(answers[0]);
  ASSERT_TRUE(answers[1]);
  EXPECT_EQ(answers[1]->outcome, Outcome::kCreated);
  EXPECT_FALSE(answers[2]);
  EXPECT_LT(took, std::chrono::milliseconds(1'000));  // the lock timeout is 2 s: it never waited
}

TEST_F(BatchPg, TheBatcherAnswersEachConcurrentRequestAsIfAlone) {
  auto w = make_world(rt, pool, 24);
  Repository repo(pool, limits(1));
  Batcher batcher(rt.ioc().get_executor(), repo,
                  BatchOptions{8, 2, std::chrono::microseconds(5'000)}, metrics);
  // 16 users want seat 0: one wins. Users 16-17 send one key twice: one creates, one replays.
  // Users 18-19 send two keys each at the active limit of 1: one holds, one is refused.
  std::vector<ReserveInput> requests;
  requests.reserve(24);
  for (int i = 0; i < 16; ++i)
    requests.push_back(input(w, i, "key-" + core::new_uuid(), {w.seats[0]}));
  for (int u : {16, 17}) {
    for (int k = 0; k < 2; ++k) {
      requests.push_back(input(w, u, "key-same-" + std::to_string(u), {}, {GaItem{w.ga, 1}}));
    }
  }
  for (int u : {18, 19}) {
    for (int k = 0; k < 2; ++k) {
      requests.push_back(input(w, u, "key-" + core::new_uuid(), {}, {GaItem{w.ga, 1}}));
    }
  }
  auto results = concurrently(batcher, std::move(requests));
  std::map<Outcome, int> seat0, same, limit;
  for (std::size_t i = 0; i < results.size(); ++i) {
    (i < 16 ? seat0 : i < 20 ? same : limit)[results[i].outcome]++;
  }
  EXPECT_EQ(seat0[Outcome::kCreated], 1);
  EXPECT_EQ(seat0[Outcome::kSeatUnavailable], 15);
  EXPECT_EQ(same[Outcome::kCreated], 2);
  EXPECT_EQ(same[Outcome::kReplayed], 2);
  EXPECT_EQ(limit[Outcome::kCreated], 2);
  EXPECT_EQ(limit[Outcome::kActiveLimit], 2);
  EXPECT_EQ(scalar("SELECT sum(reserved) FROM event_ticket_type_slots WHERE ticket_type_id = '" +
                   w.ga + "'"),
            "4");
  // They were decided in batches, not one by one.
  const auto rendered = metrics.render();
  const std::string count = "ticketd_reservation_batch_size_count ";
  const auto at = rendered.find(count);
  ASSERT_NE(at, std::string::npos) << rendered;
  EXPECT_LT(std::stoi(rendered.substr(at + count.size())), 24);
}

TEST_F(BatchPg, AUsersNextRequestWaitsForTheBatchHoldingTheirFirst) {
  auto w = make_world(rt, pool, 2);
  Repository repo(pool, limits(2));
  // No window: a second batch starts while the first is in the database. Were a user's second
  // request in it, reserve()'s per-user lock (held by the first batch) would defer it.
  Batcher batcher(rt.ioc().get_executor(), repo, BatchOptions{8, 2, std::chrono::microseconds(0)},
                  metrics);
  auto results = concurrently(batcher, {input(w, 0, "key-" + core::new_uuid(), {w.seats[0]}),
                                        input(w, 0, "key-" + core::new_uuid(), {w.seats[1]}),
                                        input(w, 1, "key-" + core::new_uuid(), {w.seats[2]}),
                                        input(w, 1, "key-" + core::new_uuid(), {w.seats[3]})});
  for (const auto& r : results) EXPECT_EQ(r.outcome, Outcome::kCreated);
  const auto rendered = metrics.render();
  EXPECT_NE(rendered.find("ticketd_reservation_batch_deferred_total 0\n"), std::string::npos)
      << rendered;
}

TEST_F(BatchPg, LoadSheddingSeesTheConnectionsTheGatheredRequestsWillAsk) {
  auto w = make_world(rt, pool, 3);
  Repository repo(pool, limits());
  Batcher batcher(rt.ioc().get_executor(), repo, BatchOptions{8, 1, std::chrono::microseconds(0)},
                  metrics);
  EXPECT_TRUE(batcher.batching());
  EXPECT_EQ(batcher.connections_wanted(), 0u);
  // Another session holds seat 0: the first request goes alone and waits in reserve() (bounded by
  // its 2 s lock timeout), the next two gather behind it.
  fixture::LockHolder holder(
      rt, pool, "SELECT 1 FROM event_seats WHERE id = '" + w.seats[0] + "' FOR UPDATE");
  auto all = std::async(std::launch::async, [&] {
    return concurrently(batcher, {input(w, 0, "key-shed-0001", {w.seats[0]}),
                                  input(w, 1, "key-shed-0002", {w.seats[1]}),
                                  input(w, 2, "key-shed-0003", {w.seats[2]})});
  });
  // One batch in the database, one more that the two gathered requests will make.
  for (int i = 0; i < 200 && batcher.connections_wanted() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(batcher.connections_wanted(), 2u);
  holder.release();
  for (const auto& r : all.get()) EXPECT_EQ(r.outcome, Outcome::kCreated);
  EXPECT_EQ(batcher.connections_wanted(), 0u);
  // Nothing gathered: no wait, whatever the last batches took.
  EXPECT_EQ(batcher.expected_wait(), std::chrono::microseconds(0));
}

TEST_F(BatchPg, TwoInstancesBatchingAtOnceNeverHoldASeatOrUnitTwice) {
  auto w = make_world(rt, pool, 48);
  infra::pg::Pool other_pool{rt.ioc().get_executor(), pool_options(), metrics};
  Repository repo_a(pool, limits(5)), repo_b(other_pool, limits(5));
  core::metrics::Registry other_metrics;
  Batcher a(rt.ioc().get_executor(), repo_a, BatchOptions{8, 2, std::chrono::microseconds(1'000)},
            metrics);
  Batcher b(rt.ioc().get_executor(), repo_b, BatchOptions{8, 2, std::chrono::microseconds(1'000)},
            other_metrics);
  std::mt19937 random(7);
  std::vector<ReserveInput> to_a, to_b;
  for (int i = 0; i < 48; ++i) {
    // Two seats in either order (locks must not deadlock) and a unit or two of GA.
    std::vector<std::string> seats{w.seats[random() % 4], w.seats[random() % 4]};
    if (seats[0] == seats[1]) seats.pop_back();
    auto in = input(w, i, "key-" + core::new_uuid(), seats,
                    {GaItem{w.ga, static_cast<std::int64_t>(1 + random() % 2)}});
    (i % 2 == 0 ? to_a : to_b).push_back(std::move(in));
  }
  auto fa = std::async(std::launch::async, [&] { return concurrently(a, to_a); });
  auto fb = std::async(std::launch::async, [&] { return concurrently(b, to_b); });
  auto results = fa.get();
  for (auto& r : fb.get()) results.push_back(std::move(r));
  int created = 0;
  for (const auto& r : results) {
    if (r.outcome == Outcome::kCreated) ++created;
    EXPECT_TRUE(r.outcome == Outcome::kCreated || r.outcome == Outcome::kSeatUnavailable ||
                r.outcome == Outcome::kSoldOut || r.outcome == Outcome::kLockTimeout)
        << static_cast<int>(r.outcome);
  }
  EXPECT_GE(created, 1);
  // Every held seat is held by a reservation that holds it as an item, and each by one; the
  // slots hold exactly the units of the reservations.
  EXPECT_EQ(scalar("SELECT count(*) FROM event_seats s WHERE s.event_id = '" + w.event +
                   "' AND s.status = 'RESERVED' AND NOT EXISTS (SELECT 1 FROM reservation_items i "
                   "WHERE i.event_seat_id = s.id AND i.reservation_id = s.reservation_id)"),
            "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT event_seat_id FROM reservation_items i JOIN "
                   "reservations r ON r.id = i.reservation_id WHERE r.event_id = '" +
                   w.event +
                   "' AND r.status = 'ACTIVE' AND i.event_seat_id IS NOT NULL GROUP BY "
                   "event_seat_id HAVING count(*) > 1) x"),
            "0");
  EXPECT_EQ(scalar("SELECT (SELECT sum(reserved) FROM event_ticket_type_slots WHERE "
                   "ticket_type_id = '" +
                   w.ga +
                   "') = (SELECT coalesce(sum(quantity), 0) FROM reservation_items WHERE "
                   "ticket_type_id = '" +
                   w.ga + "')"),
            "t");
  EXPECT_EQ(scalar("SELECT count(*) FROM reservations WHERE event_id = '" + w.event + "'"),
            std::to_string(created));
}

// Random request mixes, decided by reserve_batch() in one world and by reserve() one by one, in
// the same order, in an identical world: the same answers and the same rows.
TEST_F(BatchPg, RandomMixesGetTheAnswersAndRowsOfOneByOne) {
  for (unsigned seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const World a = make_world(rt, pool, 8), b = make_world(rt, pool, 8);
    Repository repo(pool, limits(2));
    std::mt19937 random(seed);
    const std::string unknown_type = core::new_uuid();
    std::map<std::string, int> made_a, made_b;  // reservation id -> request number
    int number = 0;
    for (int round = 0; round < 6; ++round) {
      // A batch has one request per user (the Batcher's rule).
      std::vector<int> users{0, 1, 2, 3, 4, 5, 6, 7};
      std::shuffle(users.begin(), users.end(), random);
      users.resize(1 + random() % 8);
      std::vector<ReserveInput> in_a, in_b;
      for (int user : users) {
        const int key = static_cast<int>(random() % 3);
        std::vector<int> seats;
        for (int s = 0; s < 4; ++s) {
          if (random() % 4 == 0) seats.push_back(s);
        }
        std::shuffle(seats.begin(), seats.end(), random);
        const int ga = static_cast<int>(random() % 4);  // 0: none
        const bool unknown = random() % 10 == 0;
        if (seats.empty() && ga == 0 && !unknown) seats.push_back(static_cast<int>(random() % 4));
        std::string hash = std::to_string(ga) + (unknown ? "u" : "") + "/";
        for (int s : seats) hash += std::to_string(s);
        for (const World* world : {&a, &b}) {
          std::vector<std::string> ids;
          ids.reserve(seats.size());
          for (int s : seats) ids.push_back(world->seats[static_cast<std::size_t>(s)]);
          std::vector<GaItem> items;
          if (ga > 0) items.push_back(GaItem{world->ga, ga});
          if (unknown) items.push_back(GaItem{unknown_type, 1});
          auto one = input(*world, user, "key-prop-" + std::to_string(key), ids, items);
          one.request_hash = hash;
          (world == &a ? in_a : in_b).push_back(std::move(one));
        }
      }
      const auto batched = decide(repo, in_a);
      for (std::size_t i = 0; i < in_b.size(); ++i, ++number) {
        SCOPED_TRACE("request " + std::to_string(number));
        ASSERT_TRUE(batched[i]) << "deferred with nothing else running";
        const auto& x = *batched[i];
        const auto y = alone(repo, in_b[i]);
        ASSERT_EQ(x.outcome, y.outcome) << x.detail << " vs " << y.detail;
        if (x.outcome == Outcome::kSeatUnavailable) {
          EXPECT_EQ(seat_reasons(x), seat_reasons(y));
        }
        if (x.outcome == Outcome::kSoldOut) {
          const auto& tx = x.detail.at("ticketTypes").at(0);
          const auto& ty = y.detail.at("ticketTypes").at(0);
          EXPECT_EQ(tx.at("requested"), ty.at("requested"));
          EXPECT_EQ(tx.at("available"), ty.at("available"));
        }
        if (x.outcome == Outcome::kCreated) {
          EXPECT_EQ(json::parse(x.reservation).at("totalCents"),
                    json::parse(y.reservation).at("totalCents"));
          made_a[x.reservation_id] = number;
          made_b[y.reservation_id] = number;
        }
      }
    }
    // The same seats held by the same requests, the same units taken, the same outbox rows.
    auto holders = [&](const World& world, const std::map<std::string, int>& made) {
      std::string out;
      for (const auto& seat : world.seats) {
        const auto id = scalar(
            "SELECT coalesce(reservation_id::text, status) FROM event_seats "
            "WHERE id = '" +
            seat + "'");
        out += made.count(id) ? std::to_string(made.at(id)) + " " : id + " ";
      }
      return out + scalar(
                       "SELECT sum(reserved) || '/' || (SELECT count(*) FROM outbox_events o "
                       "JOIN reservations r ON r.id = o.aggregate_id WHERE r.event_id = '" +
                       world.event + "') FROM event_ticket_type_slots WHERE ticket_type_id = '" +
                       world.ga + "'");
    };
    EXPECT_EQ(holders(a, made_a), holders(b, made_b));
  }
}

}  // namespace
}  // namespace ticketd::reservations
