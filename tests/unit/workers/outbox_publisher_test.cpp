// Pure parts of workers/outbox_publisher: the retry delay and the Kafka headers of a row.
#include "workers/outbox_publisher.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace ticketd::workers {
namespace {

using namespace std::chrono_literals;
using infra::kafka::Header;

TEST(OutboxRetryDelay, DoublesPerAttemptUpToTheCap) {
  EXPECT_EQ(outbox_retry_delay(1, 500ms, 60s, 1.0), 500ms);
  EXPECT_EQ(outbox_retry_delay(2, 500ms, 60s, 1.0), 1000ms);
  EXPECT_EQ(outbox_retry_delay(5, 500ms, 60s, 1.0), 8000ms);
  EXPECT_EQ(outbox_retry_delay(8, 500ms, 60s, 1.0), 60s);     // 64 s capped
  EXPECT_EQ(outbox_retry_delay(1000, 500ms, 60s, 1.0), 60s);  // no overflow
}

TEST(OutboxRetryDelay, JitterScalesTheDelayAndNeverReachesZero) {
  EXPECT_EQ(outbox_retry_delay(1, 500ms, 60s, 0.5), 250ms);
  EXPECT_EQ(outbox_retry_delay(8, 500ms, 60s, 0.5), 30s);  // jitter applies to the cap too
  EXPECT_EQ(outbox_retry_delay(1, 1ms, 1ms, 0.0), 1ms);
  EXPECT_EQ(outbox_retry_delay(0, 500ms, 60s, 1.0), 500ms);  // attempts below 1 count as 1
  EXPECT_EQ(outbox_retry_delay(1, 500ms, 60s, 7.0), 500ms);  // jitter clamped to [0, 1]
}

infra::outbox::ClaimedRow row() {
  infra::outbox::ClaimedRow r;
  r.id = "0b9c6f3e-0000-4000-8000-000000000001";
  r.topic = "event.created";
  r.event_type = "event.created";
  r.correlation_id = "req-1";
  return r;
}

TEST(OutboxHeaders, StandardThreeFromColumns) {
  const auto h = outbox_headers(row());
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0], (Header{"x-correlation-id", "req-1"}));
  EXPECT_EQ(h[1], (Header{"x-event-id", "0b9c6f3e-0000-4000-8000-000000000001"}));
  EXPECT_EQ(h[2], (Header{"x-event-type", "event.created"}));
}

TEST(OutboxHeaders, MissingCorrelationIdIsAnEmptyHeader) {
  auto r = row();
  r.correlation_id.reset();
  const auto h = outbox_headers(r);
  EXPECT_EQ(h[0], (Header{"x-correlation-id", ""}));
}

TEST(OutboxHeaders, RowHeadersFollowAndCannotOverrideTheStandardOnes) {
  auto r = row();
  r.headers = R"({"x-tenant": "acme", "x-event-id": "forged", "n": 5, "o": {"a": true}})";
  const auto h = outbox_headers(r);
  ASSERT_EQ(h.size(), 6u);
  EXPECT_EQ(h[1], (Header{"x-event-id", "0b9c6f3e-0000-4000-8000-000000000001"}));
  EXPECT_EQ(h[3], (Header{"x-tenant", "acme"}));
  EXPECT_EQ(h[4], (Header{"n", "5"}));
  EXPECT_EQ(h[5], (Header{"o", R"({"a":true})"}));
}

TEST(OutboxHeaders, HeadersThatAreNotAnObjectAreRejected) {
  auto r = row();
  r.headers = "[1, 2]";
  EXPECT_THROW(outbox_headers(r), std::invalid_argument);
}

}  // namespace
}  // namespace ticketd::workers
