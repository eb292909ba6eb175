// Consumer against the real broker: at-least-once delivery until an offset is committed.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "infra/kafka/consumer.hpp"
#include "infra/kafka/producer.hpp"
#include "integration/infra/kafka/kafka_test_support.hpp"

namespace ticketd::infra::kafka {
namespace {

using namespace std::chrono_literals;
using testing::IoThreads;
using testing::ScopedTopic;
using testing::test_options;

// Polls until `n` messages arrived or the deadline passed.
std::vector<Message> poll_n(Consumer& consumer, std::size_t n, std::chrono::milliseconds timeout) {
  std::vector<Message> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    if (auto msg = consumer.poll(250ms)) out.push_back(std::move(*msg));
  }
  return out;
}

TEST(KafkaConsumer, UncommittedMessagesAreRedeliveredToTheGroup) {
  constexpr int kMessages = 10;
  constexpr int kCommitted = 4;  // messages 0..3 are committed, 4..9 are not
  ScopedTopic topic("redeliver", 1);
  core::metrics::Registry registry;
  auto metrics = std::make_shared<ConsumerMetrics>(registry);
  {
    IoThreads io;
    Producer producer(io.executor(), test_options(), registry);
    for (int i = 0; i < kMessages; ++i) {
      // Even messages carry a null key: it must come back as an empty key.
      io.run(producer.produce(topic.name(), i % 2 ? "k" + std::to_string(i) : "",
                              "m" + std::to_string(i), {{"x-i", std::to_string(i)}}),
             10s);
    }
  }
  const auto group = testing::unique_name("group");
  {
    Consumer first(test_options(), group, {topic.name()}, metrics);
    const auto got = poll_n(first, kMessages, 20s);
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kMessages));
    for (int i = 0; i < kMessages; ++i) {
      EXPECT_EQ(got[i].offset, i);
      EXPECT_EQ(got[i].value, "m" + std::to_string(i));
      EXPECT_EQ(got[i].key, i % 2 ? "k" + std::to_string(i) : "");
      ASSERT_EQ(got[i].headers.size(), 1u);
      EXPECT_EQ(got[i].headers[0], (Header{"x-i", std::to_string(i)}));
    }
    first.commit(got[kCommitted - 1]);
    EXPECT_EQ(metrics->commits.with({group, "ok"}).value(), 1);
    // Processed but never committed: as if the worker crashed before its transaction committed.
    first.close();
    EXPECT_THROW(first.poll(10ms), core::InfraError);
    EXPECT_THROW(first.commit(got.back()), core::InfraError);
    EXPECT_EQ(metrics->commits.with({group, "failed"}).value(), 1);
  }
  {
    Consumer second(test_options(), group, {topic.name()}, metrics);
    const auto again = poll_n(second, kMessages - kCommitted, 20s);
    ASSERT_EQ(again.size(), static_cast<std::size_t>(kMessages - kCommitted));
    for (std::size_t i = 0; i < again.size(); ++i) {
      EXPECT_EQ(again[i].offset, static_cast<std::int64_t>(kCommitted + i));
    }
    EXPECT_EQ(second.lag().value_or(-1), 0);
    EXPECT_FALSE(second.poll(200ms).has_value());
    second.commit(again.back());
  }
  EXPECT_EQ(metrics->consumed.with({group, topic.name()}).value(), 2 * kMessages - kCommitted);
}

TEST(KafkaConsumer, MissingTopicIsNotFatal) {
  core::metrics::Registry registry;
  Consumer consumer(test_options(), testing::unique_name("group"), {testing::unique_name("absent")},
                    registry);
  // librdkafka reports the unknown topic as a consumer error; poll logs it and times out.
  EXPECT_FALSE(consumer.poll(1500ms).has_value());
}

}  // namespace
}  // namespace ticketd::infra::kafka
