#pragma once
// Kafka group consumer with manual, synchronous offset commits: the at-least-once half of the
// outbox → Kafka → worker pipeline.
//
// Every call blocks, so a Consumer belongs to one dedicated worker thread and is used only from
// it (librdkafka's rebalance and error callbacks also run inside poll() on that thread). The
// intended worker loop:
//
//   while (running) {
//     auto msg = consumer.poll(500ms);          // worker thread
//     if (!msg) continue;
//     run the handler on the io_context (co_spawn with a std::promise / use_future) and wait;
//     commit only after the database effect committed:  consumer.commit(*msg);
//   }
//
// Retries with backoff and the dead-letter topic belong to the worker, not to this wrapper: a
// message that is never committed is delivered again after a restart or rebalance.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "infra/kafka/message.hpp"
#include "infra/kafka/metrics.hpp"
#include "infra/kafka/options.hpp"

namespace ticketd::infra::kafka {

class Consumer {
 public:
  static constexpr std::chrono::milliseconds kDefaultCommitTimeout{10000};

  // Subscribes to `topics` as a member of `group_id` with enable.auto.commit=false,
  // auto.offset.reset=earliest and enable.partition.eof=false (Options::extra overrides any of
  // them). Partitions are assigned during later poll() calls. The registry must outlive the
  // consumer; prefer the ConsumerMetrics overload when several consumers share one registry.
  // Throws InfraError(kInternal, "KAFKA_CONFIG_INVALID") for a rejected property and
  // InfraError(kUnavailable, "KAFKA_CLIENT_FAILED" | "KAFKA_SUBSCRIBE_FAILED").
  Consumer(Options options, std::string group_id, std::vector<std::string> topics,
           core::metrics::Registry& registry);
  Consumer(Options options, std::string group_id, std::vector<std::string> topics,
           std::shared_ptr<ConsumerMetrics> metrics);

  // close() (logging instead of throwing on failure), then destroys the client.
  ~Consumer();

  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Blocks up to `timeout` for the next message. Returns std::nullopt when none arrived in time.
  // Transient client errors (broker down, unknown topic) are logged, rate-limited, and polling
  // goes on. Throws InfraError(kUnavailable, "KAFKA_CONSUMER_FATAL") after a fatal client error
  // and InfraError(kUnavailable, "KAFKA_CONSUMER_CLOSED") after close().
  std::optional<Message> poll(std::chrono::milliseconds timeout);

  // Commits offset message.offset + 1 for the message's partition and waits for the broker.
  // Throws InfraError(kUnavailable, "KAFKA_COMMIT_FAILED") when the commit failed or did not
  // complete within `timeout` (for instance because the partition was revoked by a rebalance);
  // the message will then be delivered again, which the handler's idempotency absorbs.
  void commit(const Message& message, std::chrono::milliseconds timeout = kDefaultCommitTimeout);

  // Leaves the group so its partitions move to other members at once (without it they wait for
  // session.timeout.ms). Uncommitted messages stay uncommitted. Blocks, roughly at most
  // session.timeout.ms when the broker is unreachable. Idempotent. Throws
  // InfraError(kUnavailable, "KAFKA_CONSUMER_CLOSE_FAILED").
  void close();

  // Messages behind the high watermark over the assigned partitions that have a known position
  // (librdkafka's cached watermarks; no network round trip). std::nullopt when no assigned
  // partition has a position yet. Also refreshed into ticketd_kafka_consumer_lag once a second
  // by poll().
  std::optional<std::int64_t> lag();

  const std::string& group_id() const noexcept;
  // True once the group gave this member an assignment (possibly empty: more members than
  // partitions): from then on its partitions' messages reach poll(). Safe from any thread.
  bool joined() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ticketd::infra::kafka
