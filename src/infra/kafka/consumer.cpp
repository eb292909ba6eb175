#include "infra/kafka/consumer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <utility>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "infra/kafka/client.hpp"

namespace ticketd::infra::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kLagRefreshInterval = 1s;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, INT32_MAX));
}

std::string describe(const rd_kafka_topic_partition_list_t* parts) {
  std::string out;
  for (int i = 0; parts && i < parts->cnt; ++i) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}[{}]", parts->elems[i].topic, parts->elems[i].partition);
  }
  return out;
}

Message copy_message(const rd_kafka_message_t* msg) {
  Message out;
  out.topic = rd_kafka_topic_name(msg->rkt);
  out.partition = msg->partition;
  out.offset = msg->offset;
  if (msg->key) out.key.assign(static_cast<const char*>(msg->key), msg->key_len);
  if (msg->payload) out.value.assign(static_cast<const char*>(msg->payload), msg->len);
  rd_kafka_headers_t* headers = nullptr;  // owned by the message
  if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers) {
    const std::size_t count = rd_kafka_header_cnt(headers);
    out.headers.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      if (rd_kafka_header_get_all(headers, i, &name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        break;
      }
      out.headers.push_back(
          Header{name, value ? std::string(static_cast<const char*>(value), size) : ""});
    }
  }
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  out.timestamp_ms = rd_kafka_message_timestamp(msg, &type);
  return out;
}

}  // namespace

struct Consumer::State final : detail::ClientContext {
  State(std::string group, std::vector<std::string> topic_names, std::shared_ptr<ConsumerMetrics> m)
      : ClientContext("consumer"),
        group_id(std::move(group)),
        topics(std::move(topic_names)),
        metrics(std::move(m)) {}

  static void rebalance_callback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<State*>(detail::ClientContext::from_opaque(opaque))->rebalance(rk, err, parts);
  }
  void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* parts) noexcept;
  std::optional<std::int64_t> refresh_lag();

  std::string group_id;
  std::vector<std::string> topics;
  std::shared_ptr<ConsumerMetrics> metrics;
  bool closed = false;
  std::atomic<bool> joined{false};
  Clock::time_point next_lag_refresh{};
  KafkaHandle rk;
};

void Consumer::State::rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* parts) noexcept {
  // With a rebalance callback installed the application must apply the change itself; the
  // protocol decides between eager (whole assignment) and cooperative (incremental) calls.
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0;
  std::string failure;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    joined.store(true);
    if (cooperative) {
      if (ErrorHandle e{rd_kafka_incremental_assign(handle, parts)}) {
        failure = rd_kafka_error_string(e.get());
      }
    } else if (auto e = rd_kafka_assign(handle, parts)) {
      failure = rd_kafka_err2str(e);
    }
  } else {
    // Revoked, or an error such as a lost assignment: either way give the partitions up.
    if (cooperative) {
      if (ErrorHandle e{rd_kafka_incremental_unassign(handle, parts)}) {
        failure = rd_kafka_error_string(e.get());
      }
    } else if (auto e = rd_kafka_assign(handle, nullptr)) {
      failure = rd_kafka_err2str(e);
    }
  }
  try {
    const char* what = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS   ? "assigned"
                       : err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "revoked"
                                                                     : rd_kafka_err2name(err);
    core::log::info("kafka partitions rebalanced",
                    {{"group", group_id},
                     {"change", what},
                     {"partitions", describe(parts)},
                     {"protocol", cooperative ? "cooperative" : "eager"}});
    if (!failure.empty()) {
      core::log::error("kafka rebalance could not be applied",
                       {{"group", group_id}, {"error", failure}});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka rebalance logging failed: %s\n", e.what());
  }
}

std::optional<std::int64_t> Consumer::State::refresh_lag() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(rk.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  TopicPartitionListHandle parts(raw);
  if (rd_kafka_position(rk.get(), parts.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  std::map<std::string, std::int64_t> per_topic;
  bool known = false;
  for (int i = 0; i < parts->cnt; ++i) {
    const auto& p = parts->elems[i];
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (p.offset < 0 ||
        rd_kafka_get_watermark_offsets(rk.get(), p.topic, p.partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;  // nothing consumed yet, or no fetch response cached: unknown, not zero
    }
    per_topic[p.topic] += std::max<std::int64_t>(0, high - p.offset);
    known = true;
  }
  std::int64_t total = 0;
  for (const auto& [topic, lag] : per_topic) {
    metrics->lag.with({group_id, topic}).set(static_cast<double>(lag));
    total += lag;
  }
  if (!known) return std::nullopt;
  return total;
}

Consumer::Consumer(Options options, std::string group_id, std::vector<std::string> topics,
                   core::metrics::Registry& registry)
    : Consumer(std::move(options), std::move(group_id), std::move(topics),
               std::make_shared<ConsumerMetrics>(registry)) {}

Consumer::Consumer(Options options, std::string group_id, std::vector<std::string> topics,
                   std::shared_ptr<ConsumerMetrics> metrics)
    : state_(std::make_unique<State>(std::move(group_id), std::move(topics), std::move(metrics))) {
  State& s = *state_;
  auto conf = s.make_conf(options, {
                                       {"group.id", s.group_id},
                                       // Offsets move only when the worker says its effect is
                                       // durable (Consumer::commit): at-least-once.
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"},
                                       {"auto.offset.reset", "earliest"},
                                       {"enable.partition.eof", "false"},
                                       // A crashed instance's partitions move within 10 s.
                                       {"session.timeout.ms", "10000"},
                                       // Prefetch is bounded; one worker handles one message at
                                       // a time, so a deep local queue only costs memory.
                                       {"queued.max.messages.kbytes", "16384"},
                                       {"reconnect.backoff.ms", "100"},
                                       {"reconnect.backoff.max.ms", "1000"},
                                       {"log.connection.close", "false"},
                                   });
  rd_kafka_conf_set_rebalance_cb(conf.get(), &State::rebalance_callback);
  s.rk = detail::ClientContext::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
  // Errors, logs and rebalances then surface inside poll(), on the worker thread.
  rd_kafka_poll_set_consumer(s.rk.get());

  TopicPartitionListHandle subscription(
      rd_kafka_topic_partition_list_new(static_cast<int>(s.topics.size())));
  for (const auto& topic : s.topics) {
    rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (auto err = rd_kafka_subscribe(s.rk.get(), subscription.get())) {
    throw core::InfraError(core::ErrorKind::kUnavailable, "KAFKA_SUBSCRIBE_FAILED",
                           fmt::format("subscribe group {} to {}: {}", s.group_id,
                                       describe(subscription.get()), rd_kafka_err2str(err)));
  }
  core::log::info("kafka consumer started", {{"brokers", options.brokers},
                                             {"group", s.group_id},
                                             {"topics", describe(subscription.get())}});
}

Consumer::~Consumer() {
  try {
    close();
  } catch (const std::exception& e) {
    core::log::warn("kafka consumer close failed",
                    {{"group", state_->group_id}, {"error", e.what()}});
  }
  state_->rk.reset();
}

std::optional<Message> Consumer::poll(std::chrono::milliseconds timeout) {
  State& s = *state_;
  if (s.closed) {
    throw core::InfraError(core::ErrorKind::kUnavailable, "KAFKA_CONSUMER_CLOSED",
                           fmt::format("poll on closed consumer of group {}", s.group_id));
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (s.fatal()) {
      throw core::InfraError(core::ErrorKind::kUnavailable, "KAFKA_CONSUMER_FATAL",
                             fmt::format("consumer of group {} hit a fatal error", s.group_id));
    }
    if (const auto now = Clock::now(); now >= s.next_lag_refresh) {
      s.next_lag_refresh = now + kLagRefreshInterval;
      s.refresh_lag();
    }
    MessageHandle msg(rd_kafka_consumer_poll(s.rk.get(), remaining_ms(deadline)));
    if (msg && msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Message out = copy_message(msg.get());
      s.metrics->consumed.with({s.group_id, out.topic}).inc();
      return out;
    }
    if (msg) {
      // Consumer errors are informational: librdkafka keeps retrying on its own.
      const char* name = rd_kafka_err2name(msg->err);
      if (auto suppressed = s.limiter().admit(fmt::format("consume:{}", name))) {
        core::log::warn("kafka consumer error",
                        {{"group", s.group_id},
                         {"topic", msg->rkt ? rd_kafka_topic_name(msg->rkt) : ""},
                         {"partition", msg->partition},
                         {"code", name},
                         {"reason", rd_kafka_message_errstr(msg.get())},
                         {"suppressed", *suppressed}});
      }
    }
    if (Clock::now() >= deadline) return std::nullopt;
  }
}

void Consumer::commit(const Message& message, std::chrono::milliseconds timeout) {
  State& s = *state_;
  const auto deadline = Clock::now() + timeout;
  auto fail = [&](std::string_view reason) {
    s.metrics->commits.with({s.group_id, "failed"}).inc();
    return core::InfraError(core::ErrorKind::kUnavailable, "KAFKA_COMMIT_FAILED",
                            fmt::format("commit {}[{}]@{} for group {}: {}", message.topic,
                                        message.partition, message.offset + 1, s.group_id, reason));
  };
  if (s.closed) throw fail("consumer is closed");

  TopicPartitionListHandle offsets(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(offsets.get(), message.topic.c_str(), message.partition)
      ->offset = message.offset + 1;
  // rd_kafka_commit(sync) has no deadline and can wait indefinitely for a lost coordinator;
  // a private result queue gives the wait a bound.
  QueueHandle results(rd_kafka_queue_new(s.rk.get()));
  if (auto err =
          rd_kafka_commit_queue(s.rk.get(), offsets.get(), results.get(), nullptr, nullptr)) {
    throw fail(rd_kafka_err2str(err));
  }
  EventHandle event(rd_kafka_queue_poll(results.get(), remaining_ms(deadline)));
  if (!event) throw fail(fmt::format("no answer within {} ms", timeout.count()));
  if (auto err = rd_kafka_event_error(event.get())) throw fail(rd_kafka_err2str(err));
  if (const auto* parts = rd_kafka_event_topic_partition_list(event.get())) {
    for (int i = 0; i < parts->cnt; ++i) {
      if (parts->elems[i].err) throw fail(rd_kafka_err2str(parts->elems[i].err));
    }
  }
  s.metrics->commits.with({s.group_id, "ok"}).inc();
}

void Consumer::close() {
  State& s = *state_;
  if (s.closed) return;
  s.closed = true;
  const rd_kafka_resp_err_t err = rd_kafka_consumer_close(s.rk.get());
  if (err) {
    throw core::InfraError(
        core::ErrorKind::kUnavailable, "KAFKA_CONSUMER_CLOSE_FAILED",
        fmt::format("close consumer of group {}: {}", s.group_id, rd_kafka_err2str(err)));
  }
  core::log::info("kafka consumer closed", {{"group", s.group_id}});
}

std::optional<std::int64_t> Consumer::lag() {
  if (state_->closed) return std::nullopt;
  return state_->refresh_lag();
}

bool Consumer::joined() const noexcept {
  return state_->joined.load();
}

const std::string& Consumer::group_id() const noexcept {
  return state_->group_id;
}

}  // namespace ticketd::infra::kafka
