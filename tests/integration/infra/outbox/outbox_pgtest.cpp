// infra/outbox::append against the real schema: the C++ entry point and the SQL functions write
// the same envelope, because both go through outbox_append (one writer, one null handling).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <string>

#include "core/actor.hpp"
#include "core/ids.hpp"
#include "infra/outbox/outbox.hpp"
#include "infra/pg/pool.hpp"
#include "support/async.hpp"

namespace ticketd::infra::outbox {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using ticketd::testing::AsyncRunner;

constexpr pg::Statement kRow{"outbox_test_row",
                             "SELECT payload::text, message_key, correlation_id, event_type, "
                             "aggregate_id::text FROM outbox_events WHERE id = $1::uuid"};
constexpr pg::Statement kSqlAppend{
    "outbox_test_sql_append",
    "SELECT outbox_append($1, 'test', $2::uuid, NULL, '{\"n\": 1}'::jsonb, '', NULL)::text"};
constexpr pg::Statement kDelete{"outbox_test_delete", "DELETE FROM outbox_events WHERE topic = $1"};

struct Row {
  json::object payload;
  std::string key;
  bool correlation_null = false;
  std::string event_type;
  std::string aggregate_id;
};

class OutboxAppend : public ::testing::Test {
 protected:
  OutboxAppend() : pool_(rt_.ioc().get_executor(), options(), metrics_) {}
  ~OutboxAppend() override {
    const pg::Params params(topic_);
    rt_.run([&]() -> asio::awaitable<void> { co_await pool_.query(kDelete, params); });
  }

  static pg::PoolOptions options() {
    pg::PoolOptions o;
    o.connect.url = ticketd::testing::test_database_url();
    o.max_size = 2;
    return o;
  }

  std::string append_cpp(const Event& event, const core::Actor& actor) {
    return rt_.run([&]() -> asio::awaitable<std::string> {
      auto body = [&](pg::Tx& tx) -> asio::awaitable<std::string> {
        std::string id = co_await append(tx, event, actor);
        co_return id;
      };
      std::string id = co_await pool_.transact(body);
      co_return id;
    });
  }

  Row row(const std::string& id) {
    const pg::Params params(id);
    pg::Result r = rt_.run([&]() -> asio::awaitable<pg::Result> {
      pg::Result result = co_await pool_.query(kRow, params);
      co_return result;
    });
    EXPECT_EQ(r.rows(), 1);
    Row out;
    out.payload = json::parse(r.text(0, 0)).as_object();
    out.key = r.string(0, 1);
    out.correlation_null = r.is_null(0, 2);
    out.event_type = r.string(0, 3);
    out.aggregate_id = r.string(0, 4);
    return out;
  }

  AsyncRunner rt_{2};
  core::metrics::Registry metrics_;
  pg::Pool pool_;
  const std::string topic_ = "outbox.test." + core::random_hex(6);
};

TEST_F(OutboxAppend, WritesTheEnvelopeWithEmptyPartsAsNull) {
  Event ev;
  ev.topic = topic_;
  ev.aggregate_type = "test";
  ev.aggregate_id = core::new_uuid();
  ev.data["n"] = 1;
  core::Actor actor;  // no user, no request id
  const std::string id = append_cpp(ev, actor);

  const Row r = row(id);
  EXPECT_EQ(r.key, ev.aggregate_id);  // an empty key is the aggregate id
  EXPECT_TRUE(r.correlation_null);
  EXPECT_EQ(r.event_type, topic_);
  EXPECT_EQ(r.payload.at("eventId").as_string(), id);
  EXPECT_EQ(r.payload.at("type").as_string(), topic_);
  EXPECT_EQ(r.payload.at("version").as_int64(), 1);
  EXPECT_TRUE(r.payload.at("correlationId").is_null());
  EXPECT_TRUE(r.payload.at("actor").at("userId").is_null());
  EXPECT_EQ(r.payload.at("data").at("n").as_int64(), 1);
  const std::string occurred(r.payload.at("occurredAt").as_string());
  EXPECT_EQ(occurred.size(), 24u) << occurred;  // YYYY-MM-DDTHH:MM:SS.mmmZ
  EXPECT_EQ(occurred.back(), 'Z');
}

TEST_F(OutboxAppend, CarriesKeyCorrelationAndActor) {
  Event ev;
  ev.topic = topic_;
  ev.aggregate_type = "test";
  ev.aggregate_id = core::new_uuid();
  ev.key = "custom-key";
  core::Actor actor;
  actor.user_id = core::new_uuid();
  actor.request_id = "req-1";
  const Row r = row(append_cpp(ev, actor));
  EXPECT_EQ(r.key, "custom-key");
  EXPECT_FALSE(r.correlation_null);
  EXPECT_EQ(r.payload.at("correlationId").as_string(), "req-1");
  EXPECT_EQ(r.payload.at("actor").at("userId").as_string(), actor.user_id);
  EXPECT_TRUE(r.payload.at("actor").at("apiKeyId").is_null());
}

TEST_F(OutboxAppend, TheSqlCallersGetTheSameNullHandling) {
  const std::string aggregate = core::new_uuid();
  const pg::Params params(topic_, aggregate);
  const std::string id = rt_.run([&]() -> asio::awaitable<std::string> {
    pg::Result result = co_await pool_.query(kSqlAppend, params);
    co_return result.string(0, 0);
  });
  const Row r = row(id);
  EXPECT_EQ(r.key, aggregate);
  EXPECT_TRUE(r.correlation_null);
  EXPECT_TRUE(r.payload.at("correlationId").is_null());
  EXPECT_TRUE(r.payload.at("actor").as_object().empty());
}

}  // namespace
}  // namespace ticketd::infra::outbox
