// workers/outbox_publisher against the real PostgreSQL and Kafka: committed rows reach Kafka
// with their key, value and headers and become SENT (woken by NOTIFY, not by polling); a row
// whose lease was taken over is not marked by its old owner; failed deliveries back off and end
// FAILED; two publishers share a backlog without publishing anything twice.
//
// The tests use a database of their own (ticketd_outbox_test on the test server, created and
// migrated on first use): a publisher claims every due row of its database, and the shared test
// database holds other suites' rows.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/actor.hpp"
#include "core/ids.hpp"
#include "core/metrics.hpp"
#include "infra/kafka/consumer.hpp"
#include "infra/kafka/producer.hpp"
#include "infra/outbox/outbox.hpp"
#include "infra/outbox/relay.hpp"
#include "infra/pg/errors.hpp"
#include "infra/pg/migrations.hpp"
#include "infra/pg/pool.hpp"
#include "integration/infra/kafka/kafka_test_support.hpp"
#include "support/async.hpp"
#include "workers/outbox_publisher.hpp"

namespace ticketd::workers {
namespace {

namespace asio = boost::asio;
namespace pg = infra::pg;
namespace kafka = infra::kafka;
using namespace std::chrono_literals;
using kafka::testing::eventually;
using kafka::testing::IoThreads;
using kafka::testing::ScopedTopic;
using kafka::testing::test_options;
using kafka::testing::unique_name;

constexpr std::string_view kDatabase = "ticketd_outbox_test";

std::string outbox_database_url() {
  const std::string base = ticketd::testing::test_database_url();
  return base.substr(0, base.rfind('/') + 1) + std::string(kDatabase);
}

pg::PoolOptions pool_options(const std::string& url) {
  pg::PoolOptions o;
  o.connect.url = url;
  o.max_size = 4;
  return o;
}

constexpr pg::Statement kDatabaseExists{"outbox_test_db_exists",
                                        "SELECT count(*) FROM pg_database WHERE datname = $1"};

// Creates (if needed) and migrates the publisher tests' database, once per process.
void prepare_database(IoThreads& io) {
  static std::once_flag once;
  std::call_once(once, [&io] {
    core::metrics::Registry metrics;
    {
      pg::Pool admin(io.executor(), pool_options(ticketd::testing::test_database_url()), metrics);
      io.run(
          [&]() -> asio::awaitable<void> {
            const pg::Params params(kDatabase);
            auto r = co_await admin.query(kDatabaseExists, params);
            if (r.int64(0, 0) > 0) co_return;
            pg::Lease lease = co_await admin.acquire();
            try {
              const std::string create = "CREATE DATABASE " + std::string(kDatabase);
              co_await lease->exec(create);
            } catch (const pg::DbError& e) {
              if (e.sqlstate() != "42P04") throw;  // created by a concurrent run: fine
            }
          }(),
          60s);
    }
    pg::Pool pool(io.executor(), pool_options(outbox_database_url()), metrics);
    io.run(pg::migrate(pool, pg::embedded_migrations(), pg::embedded_functions()), 120s);
  });
}

// Rows of the test database by topic, as the tests inspect them.
struct RowState {
  std::string id;
  std::string status;
  int attempts = 0;
  std::optional<std::string> lease_owner;
  std::optional<std::string> last_error;
  bool has_sent_at = false;
  double retry_in_ms = 0;  // next_attempt_at − now()
  std::string payload;
};

constexpr pg::Statement kRowsOfTopic{"outbox_test_rows", R"sql(
SELECT id::text, status, attempts, lease_owner, last_error, sent_at IS NOT NULL,
       extract(epoch FROM next_attempt_at - now()) * 1000, payload::text
  FROM outbox_events WHERE topic = $1 ORDER BY seq)sql"};
constexpr pg::Statement kDeleteTopic{"outbox_test_delete",
                                     "DELETE FROM outbox_events WHERE topic = $1"};
constexpr pg::Statement kSetHeaders{
    "outbox_test_headers", "UPDATE outbox_events SET headers = $2::jsonb WHERE id = $1::uuid"};
constexpr pg::Statement kAgeAsSent{"outbox_test_age_sent", R"sql(
UPDATE outbox_events SET status = 'SENT', sent_at = now() - $2::int * interval '1 hour'
 WHERE id = $1::uuid)sql"};
constexpr pg::Statement kSteal{"outbox_test_steal", R"sql(
UPDATE outbox_events SET lease_owner = $2, lease_until = now() + interval '1 minute'
 WHERE id = $1::uuid AND lease_owner = $3)sql"};

class OutboxPublisherTest : public ::testing::Test {
 protected:
  OutboxPublisherTest() {
    prepare_database(io_);
    pool_ =
        std::make_unique<pg::Pool>(io_.executor(), pool_options(outbox_database_url()), metrics_);
  }
  ~OutboxPublisherTest() override {
    for (const auto& topic : topics_to_clean_) {
      // Retried: other suites restart the shared server now and then, and the pool only learns
      // that a connection died by using it.
      for (int attempt = 1;; ++attempt) {
        try {
          const pg::Params params(topic);
          io_.run(pool_->query(kDeleteTopic, params), 10s);
          break;
        } catch (const std::exception& e) {
          if (attempt == 3) {
            ADD_FAILURE() << "cleaning up " << topic << ": " << e.what();
            break;
          }
        }
      }
    }
    pool_->close();
  }

  // Writes `count` outbox rows for `topic` in one transaction through the real writer; returns
  // (row id, aggregate id) pairs in order.
  // `headers_of_third`, when given, becomes the third row's `headers` in the same transaction.
  std::vector<std::pair<std::string, std::string>> write_rows(
      const std::string& topic, int count, const std::string& request_id,
      std::optional<std::string> headers_of_third = std::nullopt) {
    topics_to_clean_.insert(topic);
    return io_.run(
        [&]() -> asio::awaitable<std::vector<std::pair<std::string, std::string>>> {
          auto body =
              [&](pg::Tx& tx) -> asio::awaitable<std::vector<std::pair<std::string, std::string>>> {
            std::vector<std::pair<std::string, std::string>> out;
            core::Actor actor;
            actor.user_id = core::new_uuid();
            actor.request_id = request_id;
            for (int i = 0; i < count; ++i) {
              infra::outbox::Event ev;
              ev.topic = topic;
              ev.aggregate_type = "test";
              ev.aggregate_id = core::new_uuid();
              ev.data["n"] = i;
              std::string id = co_await infra::outbox::append(tx, ev, actor);
              if (i == 2 && headers_of_third) {
                const pg::Params params(id, *headers_of_third);
                co_await tx.query(kSetHeaders, params);
              }
              out.emplace_back(std::move(id), ev.aggregate_id);
            }
            co_return out;
          };
          co_return co_await pool_->transact(body);
        }(),
        30s);
  }

  std::vector<RowState> rows(const std::string& topic) {
    const pg::Params params(topic);
    auto r = io_.run(pool_->query(kRowsOfTopic, params), 10s);
    std::vector<RowState> out;
    for (int i = 0; i < r.rows(); ++i) {
      RowState s;
      s.id = r.string(i, 0);
      s.status = r.string(i, 1);
      s.attempts = static_cast<int>(r.int64(i, 2));
      s.lease_owner = r.opt_string(i, 3);
      s.last_error = r.opt_string(i, 4);
      s.has_sent_at = r.boolean(i, 5);
      s.retry_in_ms = r.float64(i, 6);
      s.payload = r.string(i, 7);
      out.push_back(std::move(s));
    }
    return out;
  }

  bool all_sent(const std::string& topic, std::size_t expected) {
    const auto rs = rows(topic);
    if (rs.size() != expected) return false;
    for (const auto& r : rs) {
      if (r.status != "SENT") return false;
    }
    return true;
  }

  // Where a topic's rows stand, for failure messages: "SENT 280, PENDING 20 (attempts 1: <error>)".
  std::string states(const std::string& topic) {
    std::map<std::string, int> counts;
    std::string detail;
    for (const auto& r : rows(topic)) {
      ++counts[r.status];
      if (r.status != "SENT" && detail.empty()) {
        detail =
            " (attempts " + std::to_string(r.attempts) + ": " + r.last_error.value_or("") + ")";
      }
    }
    std::string out;
    for (const auto& [status, n] : counts) out += status + " " + std::to_string(n) + ", ";
    return out + detail;
  }

  double counter(const std::string& name, const std::string& topic) {
    return metrics_.counter(name, "", {"topic"}).with({topic}).value();
  }

  // Every message of `topic` until `expected` arrived or the deadline passed.
  std::vector<kafka::Message> consume(const std::string& topic, std::size_t expected) {
    kafka::Consumer consumer(test_options(), unique_name("group"), {topic}, metrics_);
    std::vector<kafka::Message> out;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
      if (auto m = consumer.poll(200ms)) out.push_back(std::move(*m));
    }
    // Anything more would be a duplicate: give it a moment to show up.
    const auto linger = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < linger) {
      if (auto m = consumer.poll(100ms)) out.push_back(std::move(*m));
    }
    consumer.close();
    return out;
  }

  OutboxPublisher::Options options() {
    OutboxPublisher::Options o;
    o.instance = "kafkatest";
    o.interval = 60s;  // only NOTIFY or an explicit pass moves rows in these tests
    o.backoff_base = 100ms;
    o.backoff_max = 1s;
    return o;
  }

  IoThreads io_;
  core::metrics::Registry metrics_;
  std::unique_ptr<pg::Pool> pool_;
  std::set<std::string> topics_to_clean_;
};

// Stops a started publisher however the test exits (a running one must not be destroyed).
class Running {
 public:
  Running(IoThreads& io, OutboxPublisher& publisher) : io_(io), publisher_(publisher) {
    publisher_.start();
  }
  ~Running() {
    try {
      io_.run(publisher_.stop(), 60s);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "stopping the publisher: " << e.what();
    }
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

 private:
  IoThreads& io_;
  OutboxPublisher& publisher_;
};

// A first message through `producer` to `topic`, so broker connection, idempotence id and topic
// metadata are in place before a test measures anything.
void warm_up(IoThreads& io, kafka::Producer& producer, const std::string& topic) {
  std::string t = topic;
  std::string key = "warm-up";
  std::string value = "{}";
  io.run(producer.produce(std::move(t), std::move(key), std::move(value)), 30s);
}

std::map<std::string, std::string> header_map(const kafka::Message& m) {
  std::map<std::string, std::string> out;
  for (const auto& h : m.headers) out.emplace(h.key, h.value);
  return out;
}

TEST_F(OutboxPublisherTest, CommittedRowsArePublishedWithinMillisecondsAndMarkedSent) {
  ScopedTopic topic("outbox", 3);
  kafka::Producer producer(io_.executor(), test_options(), metrics_);
  warm_up(io_, producer, topic.name());
  OutboxPublisher publisher(io_.executor(), *pool_, producer,
                            pool_options(outbox_database_url()).connect, options(), metrics_);
  Running running(io_, publisher);
  ASSERT_TRUE(eventually([&] { return publisher.listening(); }, 5s));

  const std::string request_id = "req-" + core::random_hex(6);
  // One row carries extra headers of its own.
  auto written = write_rows(topic.name(), 5, request_id, R"({"x-tenant": "t1", "n": 5})");
  // The polling interval is a minute: only the notification of the commit can be this fast.
  const auto committed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return all_sent(topic.name(), 5); }, 10s));
  const auto elapsed = std::chrono::steady_clock::now() - committed;
  EXPECT_LT(elapsed, 2s);
  EXPECT_GE(metrics_.counter("ticketd_db_listen_notifications_total", "", {"channel"})
                .with({"outbox_events"})
                .value(),
            1);

  const auto stored = rows(topic.name());
  for (const auto& r : stored) {
    EXPECT_EQ(r.status, "SENT");
    EXPECT_TRUE(r.has_sent_at);
    EXPECT_FALSE(r.lease_owner.has_value());
    EXPECT_EQ(r.attempts, 0);
  }
  EXPECT_EQ(counter("ticketd_outbox_sent_total", topic.name()), 5);
  EXPECT_EQ(metrics_.histogram("ticketd_outbox_publish_latency_seconds", "", {"topic"})
                .with({topic.name()})
                .count(),
            5u);

  auto messages = consume(topic.name(), 6);
  // The warm-up message is not an outbox row.
  std::erase_if(messages, [](const kafka::Message& m) { return m.key == "warm-up"; });
  ASSERT_EQ(messages.size(), 5u);
  std::map<std::string, const kafka::Message*> by_id;
  for (const auto& m : messages) {
    auto headers = header_map(m);
    ASSERT_TRUE(by_id.emplace(headers["x-event-id"], &m).second) << "duplicate " << m.value;
  }
  for (std::size_t i = 0; i < written.size(); ++i) {
    const auto& [id, aggregate_id] = written[i];
    ASSERT_TRUE(by_id.contains(id)) << id;
    const kafka::Message& m = *by_id[id];
    EXPECT_EQ(m.key, aggregate_id);
    // The stored payload, as is: the envelope outbox_append() builds.
    EXPECT_EQ(boost::json::parse(m.value), boost::json::parse(stored[i].payload));
    const auto envelope = boost::json::parse(m.value).as_object();
    EXPECT_EQ(envelope.at("eventId").as_string(), id);
    EXPECT_EQ(envelope.at("type").as_string(), topic.name());
    EXPECT_EQ(envelope.at("version").as_int64(), 1);
    EXPECT_EQ(envelope.at("correlationId").as_string(), request_id);
    EXPECT_TRUE(envelope.at("occurredAt").is_string());
    EXPECT_TRUE(envelope.at("actor").as_object().at("userId").is_string());
    EXPECT_EQ(envelope.at("data").as_object().at("n").as_int64(), static_cast<int>(i));
    auto headers = header_map(m);
    EXPECT_EQ(headers["x-correlation-id"], request_id);
    EXPECT_EQ(headers["x-event-type"], topic.name());
    if (i == 2) {
      EXPECT_EQ(headers["x-tenant"], "t1");
      EXPECT_EQ(headers["n"], "5");
      EXPECT_EQ(m.headers.size(), 5u);
    } else {
      EXPECT_EQ(m.headers.size(), 3u);
    }
  }
}

TEST_F(OutboxPublisherTest, RowWhoseLeaseWasTakenOverIsNotMarkedSentByTheOldOwner) {
  ScopedTopic topic("outbox-lease", 1);
  // A long linger keeps the acknowledgement away long enough to take the lease in between.
  auto slow = test_options();
  slow.extra["linger.ms"] = "1500";
  kafka::Producer producer(io_.executor(), slow, metrics_);
  OutboxPublisher publisher(io_.executor(), *pool_, producer, std::nullopt, options(), metrics_);

  auto written = write_rows(topic.name(), 1, "req-lease");
  const std::string& id = written[0].first;
  auto pass = asio::co_spawn(io_.context(), publisher.publish_batch(), asio::use_future);
  ASSERT_TRUE(eventually(
      [&] {
        auto rs = rows(topic.name());
        return rs.size() == 1 && rs[0].lease_owner == publisher.owner();
      },
      5s));
  // Another publisher takes the row over (as if the lease had run out).
  const auto stolen = io_.run(
      [&]() -> asio::awaitable<std::int64_t> {
        const pg::Params params(id, "another-publisher", publisher.owner());
        auto r = co_await pool_->query(kSteal, params);
        co_return r.affected();
      }(),
      10s);
  ASSERT_EQ(stolen, 1) << "the acknowledgement came before the lease could be taken";
  ASSERT_EQ(pass.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(pass.get(), 1u);

  const auto after = rows(topic.name());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].status, "PENDING") << "the old owner marked a row it no longer leased";
  EXPECT_EQ(after[0].lease_owner, std::optional<std::string>("another-publisher"));
  EXPECT_FALSE(after[0].has_sent_at);
  EXPECT_EQ(metrics_.counter("ticketd_outbox_lease_lost_total", "").get().value(), 1);
  EXPECT_EQ(counter("ticketd_outbox_sent_total", topic.name()), 0);
}

TEST_F(OutboxPublisherTest, BatchWaitingLongerThanItsLeaseKeepsItAndIsSentOnce) {
  ScopedTopic topic("outbox-renew", 1);
  // Acknowledgements take over 2 s; the lease is 600 ms and the loop polls every 100 ms, so
  // without renewal the publisher would claim its own rows again and send them twice.
  auto slow = test_options();
  slow.extra["linger.ms"] = "2000";
  kafka::Producer producer(io_.executor(), slow, metrics_);
  auto o = options();
  o.lease = 600ms;
  o.interval = 100ms;
  OutboxPublisher publisher(io_.executor(), *pool_, producer, std::nullopt, o, metrics_);
  auto written = write_rows(topic.name(), 3, "req-renew");
  {
    Running running(io_, publisher);
    ASSERT_TRUE(eventually([&] { return all_sent(topic.name(), 3); }, 15s));
  }
  EXPECT_EQ(metrics_.counter("ticketd_outbox_lease_lost_total", "").get().value(), 0);
  EXPECT_EQ(counter("ticketd_outbox_sent_total", topic.name()), 3);
  const auto messages = consume(topic.name(), 3);
  EXPECT_EQ(messages.size(), 3u) << "a row was produced more than once";
}

TEST_F(OutboxPublisherTest, StopLetsTheBatchInFlightSettle) {
  ScopedTopic topic("outbox-stop", 1);
  auto slow = test_options();
  slow.extra["linger.ms"] = "1000";
  kafka::Producer producer(io_.executor(), slow, metrics_);
  OutboxPublisher publisher(io_.executor(), *pool_, producer, std::nullopt, options(), metrics_);
  write_rows(topic.name(), 3, "req-stop");
  publisher.start();
  // The batch is claimed and waits for its acknowledgements (linger) when stop() is called.
  ASSERT_TRUE(eventually(
      [&] {
        auto rs = rows(topic.name());
        return rs.size() == 3 && rs[0].lease_owner == publisher.owner();
      },
      5s));
  io_.run(publisher.stop(), 30s);
  const auto after = rows(topic.name());
  ASSERT_EQ(after.size(), 3u);
  for (const auto& r : after) {
    EXPECT_EQ(r.status, "SENT");
    EXPECT_FALSE(r.lease_owner.has_value());
  }
  EXPECT_EQ(counter("ticketd_outbox_sent_total", topic.name()), 3);
}

TEST_F(OutboxPublisherTest, FailedDeliveriesBackOffAndEndFailedAfterMaxAttempts) {
  // Topic auto-creation is off on the test broker: delivery to this topic fails.
  const std::string missing = unique_name("outbox-missing");
  auto quick = test_options();
  quick.extra["message.timeout.ms"] = "1000";
  kafka::Producer producer(io_.executor(), quick, metrics_);
  auto o = options();
  o.max_attempts = 3;
  o.backoff_base = 400ms;
  o.backoff_max = 600ms;
  OutboxPublisher publisher(io_.executor(), *pool_, producer, std::nullopt, o, metrics_);
  write_rows(missing, 1, "req-fail");

  auto pass = [&] { return io_.run(publisher.publish_batch(), 20s); };
  ASSERT_EQ(pass(), 1u);
  auto r = rows(missing);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, "PENDING");
  EXPECT_EQ(r[0].attempts, 1);
  EXPECT_FALSE(r[0].lease_owner.has_value());
  ASSERT_TRUE(r[0].last_error.has_value());
  EXPECT_NE(r[0].last_error->find(missing), std::string::npos) << *r[0].last_error;
  // First retry after base · 2^0 · jitter: 200..400 ms.
  EXPECT_GT(r[0].retry_in_ms, 100);
  EXPECT_LE(r[0].retry_in_ms, 400);
  // Not due yet: a pass right now claims nothing.
  EXPECT_EQ(pass(), 0u);

  // Second attempt once due; its delay is capped at 600 ms · jitter.
  ASSERT_TRUE(eventually([&] { return pass() == 1; }, 3s));
  r = rows(missing);
  EXPECT_EQ(r[0].status, "PENDING");
  EXPECT_EQ(r[0].attempts, 2);
  EXPECT_GT(r[0].retry_in_ms, 200);
  EXPECT_LE(r[0].retry_in_ms, 600);

  // The third failure is the last one.
  ASSERT_TRUE(eventually([&] { return pass() == 1; }, 3s));
  r = rows(missing);
  EXPECT_EQ(r[0].status, "FAILED");
  EXPECT_EQ(r[0].attempts, 3);
  EXPECT_FALSE(r[0].has_sent_at);
  EXPECT_EQ(counter("ticketd_outbox_retried_total", missing), 2);
  EXPECT_EQ(counter("ticketd_outbox_failed_total", missing), 1);
  EXPECT_EQ(counter("ticketd_outbox_sent_total", missing), 0);
  // FAILED rows are never claimed again.
  EXPECT_EQ(pass(), 0u);
}

TEST_F(OutboxPublisherTest, RunningPublisherRetriesWhenTheBackoffIsDueNotAtTheNextPoll) {
  const std::string missing = unique_name("outbox-missing");
  auto quick = test_options();
  quick.extra["message.timeout.ms"] = "1000";
  kafka::Producer producer(io_.executor(), quick, metrics_);
  auto o = options();  // polls once a minute: only the retry schedule can bring the next attempt
  o.max_attempts = 3;
  o.backoff_base = 200ms;
  o.backoff_max = 400ms;
  OutboxPublisher publisher(io_.executor(), *pool_, producer, std::nullopt, o, metrics_);
  write_rows(missing, 1, "req-retry-due");
  const auto started = std::chrono::steady_clock::now();
  {
    Running running(io_, publisher);
    // Three attempts of about 1 s each (the message timeout) with two short backoffs between.
    ASSERT_TRUE(eventually(
        [&] {
          const auto r = rows(missing);
          return r.size() == 1 && r[0].status == "FAILED";
        },
        20s))
        << "attempts so far: " << rows(missing).at(0).attempts;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
  EXPECT_EQ(counter("ticketd_outbox_retried_total", missing), 2);
  EXPECT_EQ(counter("ticketd_outbox_failed_total", missing), 1);
}

TEST_F(OutboxPublisherTest, RelayCountsTheBacklogAndPurgesOnlyOldSentRows) {
  // No publisher runs here: the rows only move when the test moves them.
  const std::string topic = unique_name("outbox-purge");
  auto written = write_rows(topic, 4, "req-purge");
  infra::outbox::Relay relay(*pool_);
  auto backlog = io_.run(relay.backlog(100'000), 10s);
  EXPECT_EQ(backlog.pending, 4);
  EXPECT_GE(backlog.oldest_age_seconds, 0.0);
  EXPECT_LT(backlog.oldest_age_seconds, 60.0);

  // Two rows sent 200 hours ago, one sent just now, one still pending.
  auto age = [&](const std::string& id, int hours) {
    io_.run(
        [&]() -> asio::awaitable<void> {
          const pg::Params params(id, hours);
          co_await pool_->query(kAgeAsSent, params);
        }(),
        10s);
  };
  age(written[0].first, 200);
  age(written[1].first, 200);
  age(written[2].first, 0);
  const std::chrono::hours retention(168);
  EXPECT_EQ(io_.run(relay.purge_sent(retention, 1), 10s), 1) << "bounded by the limit";
  EXPECT_EQ(io_.run(relay.purge_sent(retention, 10), 10s), 1);
  EXPECT_EQ(io_.run(relay.purge_sent(retention, 10), 10s), 0);
  const auto left = rows(topic);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].id, written[2].first);
  EXPECT_EQ(left[0].status, "SENT");
  EXPECT_EQ(left[1].id, written[3].first);
  EXPECT_EQ(left[1].status, "PENDING");
  backlog = io_.run(relay.backlog(100'000), 10s);
  EXPECT_EQ(backlog.pending, 1);
}

TEST_F(OutboxPublisherTest, TwoPublishersShareABacklogAndPublishEachRowOnce) {
  ScopedTopic topic("outbox-pair", 3);
  constexpr int kRows = 300;
  kafka::Producer producer_a(io_.executor(), test_options(), metrics_);
  kafka::Producer producer_b(io_.executor(), test_options(), metrics_);
  auto o = options();
  o.batch_size = 25;
  // Written before the publishers start: they find the backlog on their first pass.
  auto written = write_rows(topic.name(), kRows, "req-pair");
  core::metrics::Registry metrics_b;
  OutboxPublisher a(io_.executor(), *pool_, producer_a, pool_options(outbox_database_url()).connect,
                    o, metrics_);
  OutboxPublisher b(io_.executor(), *pool_, producer_b, pool_options(outbox_database_url()).connect,
                    o, metrics_b);
  ASSERT_NE(a.owner(), b.owner());
  {
    Running running_a(io_, a);
    Running running_b(io_, b);
    ASSERT_TRUE(eventually([&] { return all_sent(topic.name(), kRows); }, 30s))
        << states(topic.name());
  }
  const double sent_a = counter("ticketd_outbox_sent_total", topic.name());
  const double sent_b =
      metrics_b.counter("ticketd_outbox_sent_total", "", {"topic"}).with({topic.name()}).value();
  EXPECT_EQ(sent_a + sent_b, kRows);

  const auto messages = consume(topic.name(), kRows);
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(header_map(m)["x-event-id"]);
  EXPECT_EQ(messages.size(), static_cast<std::size_t>(kRows)) << "duplicates or losses";
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kRows));
}

}  // namespace
}  // namespace ticketd::workers
