// Producer and Admin against the real broker: topic creation, delivery of many concurrent
// messages with their keys, values and headers, offset commits, and bounded failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "infra/kafka/admin.hpp"
#include "infra/kafka/consumer.hpp"
#include "infra/kafka/producer.hpp"
#include "integration/infra/kafka/kafka_test_support.hpp"

namespace ticketd::infra::kafka {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::IoThreads;
using testing::ScopedTopic;
using testing::test_options;

std::string key_of(int k) {
  return "key-" + std::to_string(k);
}
std::string value_of(int k, int seq) {
  return "value-" + std::to_string(k) + "-" + std::to_string(seq);
}

TEST(KafkaAdmin, EnsureTopicsIsIdempotent) {
  Admin admin(test_options());
  const auto topic = testing::unique_name("ensure");
  admin.ensure_topics({topic}, 3, 1, 30s);
  admin.ensure_topics({topic}, 3, 1, 30s);  // exists already: success, nothing changes

  const auto topics = admin.list_topics(10s);
  EXPECT_TRUE(std::binary_search(topics.begin(), topics.end(), topic));

  admin.delete_topics({topic}, 15s);
  admin.delete_topics({topic}, 15s);  // gone already: success too
}

TEST(KafkaAdmin, EnsureTopicsFailsClearly) {
  Admin admin(test_options());
  const auto topic = testing::unique_name("bad-rf");
  try {
    admin.ensure_topics({topic}, 1, 3, 15s);  // three replicas on a one-broker cluster
    FAIL() << "expected InfraError";
  } catch (const core::InfraError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
    EXPECT_EQ(e.code(), "KAFKA_ENSURE_TOPICS_FAILED");
    EXPECT_NE(std::string(e.what()).find(topic), std::string::npos) << e.what();
  }
}

// 100 keys × 10 messages, every one its own coroutine. The coroutines of one key share a strand
// and are spawned in sequence order, so they enqueue in that order; Kafka must keep it.
TEST(KafkaProducer, ConcurrentProducesArriveExactlyOnceInKeyOrder) {
  constexpr int kKeys = 100;
  constexpr int kPerKey = 10;
  constexpr int kTotal = kKeys * kPerKey;
  constexpr int kPartitions = 3;
  ScopedTopic topic("produce", kPartitions);
  core::metrics::Registry registry;
  auto producer_metrics = std::make_shared<ProducerMetrics>(registry);
  auto consumer_metrics = std::make_shared<ConsumerMetrics>(registry);
  IoThreads io;
  Producer producer(io.executor(), test_options(), producer_metrics);

  std::vector<asio::strand<asio::io_context::executor_type>> strands;
  for (int k = 0; k < kKeys; ++k) strands.push_back(asio::make_strand(io.context()));
  std::atomic<int> finished{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  std::promise<void> all_done;
  for (int seq = 0; seq < kPerKey; ++seq) {
    for (int k = 0; k < kKeys; ++k) {
      asio::co_spawn(
          strands[static_cast<std::size_t>(k)],
          producer.produce(topic.name(), key_of(k), value_of(k, seq),
                           {{"x-key", key_of(k)}, {"x-seq", std::to_string(seq)}, {"x-empty", ""}}),
          [&](std::exception_ptr error) {
            if (error) {
              std::lock_guard lock(failures_mutex);
              try {
                std::rethrow_exception(error);
              } catch (const std::exception& e) {
                failures.emplace_back(e.what());
              }
            }
            if (++finished == kTotal) all_done.set_value();
          });
    }
  }
  ASSERT_EQ(all_done.get_future().wait_for(30s), std::future_status::ready)
      << finished << " of " << kTotal << " produces finished";
  ASSERT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  EXPECT_EQ(producer_metrics->produced.with({topic.name(), "ok"}).value(), kTotal);
  EXPECT_EQ(producer_metrics->in_flight.value(), 0);
  EXPECT_EQ(producer_metrics->latency.with({topic.name()}).count(), kTotal);
  EXPECT_TRUE(testing::eventually([&] { return producer.broker_reachable(); }, 10s));

  // A fresh group starts at the beginning of every partition.
  const auto group = testing::unique_name("group");
  std::map<std::string, int> next_seq;                // key → next expected sequence
  std::map<std::string, std::int32_t> key_partition;  // key → the one partition it lives in
  std::map<std::int32_t, Message> last_in_partition;
  std::map<std::int32_t, std::int64_t> count_in_partition;
  int received = 0;
  {
    Consumer consumer(test_options(), group, {topic.name()}, consumer_metrics);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (received < kTotal && std::chrono::steady_clock::now() < deadline) {
      auto msg = consumer.poll(500ms);
      if (!msg) continue;
      ++received;
      ASSERT_EQ(msg->topic, topic.name());
      ASSERT_EQ(msg->headers.size(), 3u);
      ASSERT_EQ(msg->headers[0], (Header{"x-key", msg->key}));
      ASSERT_EQ(msg->headers[1].key, "x-seq");
      ASSERT_EQ(msg->headers[2], (Header{"x-empty", ""}));
      const int seq = std::stoi(msg->headers[1].value);
      // Each key's messages arrive once, in the order they were produced, from one partition.
      ASSERT_EQ(next_seq[msg->key]++, seq) << "key " << msg->key;
      ASSERT_EQ(msg->value, value_of(std::stoi(msg->key.substr(4)), seq));
      auto [it, first] = key_partition.emplace(msg->key, msg->partition);
      ASSERT_EQ(it->second, msg->partition) << "key " << msg->key << " changed partition";
      // Offsets are dense from 0: no duplicate and no gap was written to the log.
      ASSERT_EQ(msg->offset, count_in_partition[msg->partition]++);
      EXPECT_GT(msg->timestamp_ms, 0);
      last_in_partition[msg->partition] = *msg;
    }
    ASSERT_EQ(received, kTotal);
    ASSERT_EQ(next_seq.size(), static_cast<std::size_t>(kKeys));
    for (const auto& [key, n] : next_seq) EXPECT_EQ(n, kPerKey) << key;
    EXPECT_EQ(consumer_metrics->consumed.with({group, topic.name()}).value(), kTotal);

    for (const auto& [partition, msg] : last_in_partition) consumer.commit(msg);
    EXPECT_EQ(consumer_metrics->commits.with({group, "ok"}).value(),
              static_cast<double>(last_in_partition.size()));
    EXPECT_EQ(consumer.lag().value_or(-1), 0);
    consumer.close();
  }

  // One sentinel per partition, sent with a key known to live there. A second member of the
  // group must see exactly these: anything older would arrive before them in its partition.
  std::map<std::int32_t, std::string> sentinel_key;
  for (const auto& [key, partition] : key_partition) sentinel_key.emplace(partition, key);
  ASSERT_EQ(sentinel_key.size(), static_cast<std::size_t>(kPartitions));
  for (const auto& [partition, key] : sentinel_key) {
    io.run(producer.produce(topic.name(), key, "sentinel"), 10s);
  }
  Consumer second(test_options(), group, {topic.name()}, consumer_metrics);
  std::set<std::int32_t> sentinels;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (sentinels.size() < sentinel_key.size() && std::chrono::steady_clock::now() < deadline) {
    auto msg = second.poll(500ms);
    if (!msg) continue;
    ASSERT_EQ(msg->value, "sentinel") << "committed message delivered again: " << msg->key;
    EXPECT_EQ(msg->offset, count_in_partition[msg->partition]);
    EXPECT_TRUE(sentinels.insert(msg->partition).second);
  }
  EXPECT_EQ(sentinels.size(), sentinel_key.size());
}

TEST(KafkaProducer, UnreachableBrokerFailsWithinBoundedTime) {
  Options options;
  options.brokers = "127.0.0.1:1";
  options.extra["message.timeout.ms"] = "1000";
  core::metrics::Registry registry;
  IoThreads io;
  Producer producer(io.executor(), options, registry);

  const auto started = std::chrono::steady_clock::now();
  bool failed = false;
  try {
    io.run(producer.produce("ticketd-test-nowhere", "k", "v"), 15s);
  } catch (const core::InfraError& e) {
    failed = true;
    EXPECT_EQ(e.kind(), core::ErrorKind::kUnavailable);
    EXPECT_EQ(e.code(), "KAFKA_PRODUCE_FAILED");
  }
  EXPECT_TRUE(failed) << "produce to an unreachable broker succeeded";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_FALSE(producer.broker_reachable());
}

TEST(KafkaProducer, FullLocalQueueRejectsAtOnce) {
  Options options;
  options.brokers = "127.0.0.1:1";
  options.extra["queue.buffering.max.messages"] = "2";
  core::metrics::Registry registry;
  auto metrics = std::make_shared<ProducerMetrics>(registry);
  IoThreads io;
  auto producer = std::make_unique<Producer>(io.executor(), options, metrics);
  EXPECT_EQ(metrics->queue_limit.value(), 2);

  std::vector<std::future<void>> queued;
  for (int i = 0; i < 2; ++i) {
    queued.push_back(
        asio::co_spawn(io.context(), producer->produce("t", "k", "v"), asio::use_future));
  }
  ASSERT_TRUE(testing::eventually([&] { return metrics->in_flight.value() == 2; }, 5s));
  try {
    io.run(producer->produce("t", "k", "v"), 5s);
    FAIL() << "third produce fit into a queue of two";
  } catch (const core::InfraError& e) {
    EXPECT_EQ(e.code(), "KAFKA_PRODUCE_FAILED");
  }
  EXPECT_EQ(metrics->produced.with({"t", "rejected"}).value(), 1);

  // Destroying the producer answers the two waiting produces instead of leaking them.
  producer->close(100ms);
  producer.reset();
  for (auto& f : queued) {
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_THROW(f.get(), core::InfraError);
  }
  EXPECT_EQ(metrics->in_flight.value(), 0);
}

TEST(KafkaProducer, ProduceAfterCloseFails) {
  core::metrics::Registry registry;
  IoThreads io;
  Producer producer(io.executor(), test_options(), registry);
  producer.close(1s);
  EXPECT_FALSE(producer.broker_reachable());
  EXPECT_THROW(io.run(producer.produce("t", "k", "v"), 5s), core::InfraError);
}

// Needs a broker this test may stop and start, so it runs only when told how:
//   TICKETD_KAFKA_FAULT_STOP / TICKETD_KAFKA_FAULT_START  shell commands that return once the
//   broker named by KAFKA_BROKERS is down / started (a graceful stop or a kill -9 both work).
//   Never point them at a shared broker.
TEST(KafkaProducer, BrokerReachabilityFollowsABrokerRestart) {
  const char* stop = std::getenv("TICKETD_KAFKA_FAULT_STOP");
  const char* start = std::getenv("TICKETD_KAFKA_FAULT_START");
  if (!stop || !start) GTEST_SKIP() << "TICKETD_KAFKA_FAULT_STOP/START not set";
  ScopedTopic topic("restart", 1);
  core::metrics::Registry registry;
  auto metrics = std::make_shared<ProducerMetrics>(registry);
  IoThreads io;
  Producer producer(io.executor(), test_options(), metrics);
  ASSERT_TRUE(testing::eventually([&] { return producer.broker_reachable(); }, 10s));
  io.run(producer.produce(topic.name(), "k", "before"), 10s);

  ASSERT_EQ(std::system(stop), 0);
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::eventually([&] { return !producer.broker_reachable(); }, 10s));
  const auto noticed = std::chrono::steady_clock::now() - stopped;
  EXPECT_LT(noticed, 3s);
  EXPECT_EQ(metrics->broker_up.value(), 0);
  std::cerr << "broker down noticed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(noticed).count() << " ms\n";

  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(std::system(start), 0);
  ASSERT_TRUE(testing::eventually([&] { return producer.broker_reachable(); }, 60s));
  std::cerr << "broker up noticed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms\n";
  EXPECT_EQ(metrics->broker_up.value(), 1);
  io.run(producer.produce(topic.name(), "k", "after"), 30s);
}

}  // namespace
}  // namespace ticketd::infra::kafka
