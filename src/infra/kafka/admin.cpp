#include "infra/kafka/admin.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <thread>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "infra/kafka/client.hpp"

namespace ticketd::infra::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kErrstrSize = 512;
// librdkafka enforces the request timeout itself; the extra wait only covers delivering its
// timeout result to our queue.
constexpr auto kResultMargin = 1s;
constexpr auto kMetadataRetryDelay = 100ms;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, INT32_MAX));
}

std::string join(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ", "));
}

core::InfraError admin_error(const char* code, const std::string& detail) {
  return core::InfraError(core::ErrorKind::kUnavailable, code, detail);
}

}  // namespace

struct Admin::State final : detail::ClientContext {
  State() : ClientContext("admin") {}

  // Sets both timeouts of an admin request: the client-side request timeout and the broker-side
  // operation timeout (how long the controller may take to apply the change).
  AdminOptionsHandle admin_options(rd_kafka_admin_op_t op, Clock::time_point deadline,
                                   const char* code);
  EventHandle await_result(rd_kafka_queue_t* queue, Clock::time_point deadline, const char* code,
                           const char* what);
  // Waits until every topic has a leader for each partition; returns their partition counts.
  std::vector<int> await_leaders(const std::vector<std::string>& topics,
                                 Clock::time_point deadline);

  std::string brokers;
  KafkaHandle rk;
};

AdminOptionsHandle Admin::State::admin_options(rd_kafka_admin_op_t op, Clock::time_point deadline,
                                               const char* code) {
  AdminOptionsHandle options(rd_kafka_AdminOptions_new(rk.get(), op));
  std::array<char, kErrstrSize> errstr{};
  const int ms = std::max(1, remaining_ms(deadline));
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), ms, errstr.data(), errstr.size()) ||
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), ms, errstr.data(),
                                                  errstr.size())) {
    throw admin_error(code, fmt::format("admin options: {}", errstr.data()));
  }
  return options;
}

EventHandle Admin::State::await_result(rd_kafka_queue_t* queue, Clock::time_point deadline,
                                       const char* code, const char* what) {
  EventHandle event(rd_kafka_queue_poll(queue, remaining_ms(deadline + kResultMargin)));
  // Client errors (broker down…) queue up on the main queue, which nobody else serves here.
  rd_kafka_poll(rk.get(), 0);
  if (!event) {
    throw admin_error(code, fmt::format("{}: no answer from {} in time", what, brokers));
  }
  if (rd_kafka_event_error(event.get())) {
    throw admin_error(code,
                      fmt::format("{}: {} ({})", what, rd_kafka_event_error_string(event.get()),
                                  rd_kafka_err2name(rd_kafka_event_error(event.get()))));
  }
  return event;
}

std::vector<int> Admin::State::await_leaders(const std::vector<std::string>& topics,
                                             Clock::time_point deadline) {
  std::vector<std::string> missing;
  for (;;) {
    missing.clear();
    std::vector<int> counts;
    const rd_kafka_metadata_t* raw = nullptr;
    const auto err = rd_kafka_metadata(rk.get(), 1, nullptr, &raw,
                                       std::max(1, std::min(remaining_ms(deadline), 1000)));
    MetadataHandle metadata(raw);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (const auto& name : topics) {
        const rd_kafka_metadata_topic_t* found = nullptr;
        for (int i = 0; i < metadata->topic_cnt; ++i) {
          if (name == metadata->topics[i].topic) found = &metadata->topics[i];
        }
        const bool ready =
            found && found->err == RD_KAFKA_RESP_ERR_NO_ERROR && found->partition_cnt > 0 &&
            std::all_of(found->partitions, found->partitions + found->partition_cnt,
                        [](const rd_kafka_metadata_partition_t& p) { return p.leader >= 0; });
        if (ready) {
          counts.push_back(found->partition_cnt);
        } else {
          missing.push_back(name);
        }
      }
      if (missing.empty()) return counts;
    } else {
      missing = {fmt::format("metadata: {}", rd_kafka_err2str(err))};
    }
    if (Clock::now() + kMetadataRetryDelay >= deadline) {
      throw admin_error("KAFKA_ENSURE_TOPICS_FAILED",
                        fmt::format("topics without a leader in time: {}", join(missing)));
    }
    // Start-up only (see admin.hpp): a short pause between metadata requests is harmless here.
    std::this_thread::sleep_for(kMetadataRetryDelay);
  }
}

Admin::Admin(const Options& options) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.brokers = options.brokers;
  auto conf = s.make_conf(options, {
                                       {"reconnect.backoff.ms", "100"},
                                       {"reconnect.backoff.max.ms", "1000"},
                                       {"log.connection.close", "false"},
                                   });
  s.rk = detail::ClientContext::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
}

Admin::~Admin() = default;

void Admin::ensure_topics(const std::vector<std::string>& topics, int partitions, int replication,
                          std::chrono::milliseconds timeout) {
  constexpr const char* kCode = "KAFKA_ENSURE_TOPICS_FAILED";
  if (topics.empty()) return;
  State& s = *state_;
  const auto deadline = Clock::now() + timeout;

  std::vector<NewTopicHandle> owned;
  std::vector<rd_kafka_NewTopic_t*> requests;
  for (const auto& name : topics) {
    std::array<char, kErrstrSize> errstr{};
    NewTopicHandle topic(
        rd_kafka_NewTopic_new(name.c_str(), partitions, replication, errstr.data(), errstr.size()));
    if (!topic) throw admin_error(kCode, fmt::format("topic {}: {}", name, errstr.data()));
    requests.push_back(topic.get());
    owned.push_back(std::move(topic));
  }
  auto options = s.admin_options(RD_KAFKA_ADMIN_OP_CREATETOPICS, deadline, kCode);
  QueueHandle queue(rd_kafka_queue_new(s.rk.get()));
  rd_kafka_CreateTopics(s.rk.get(), requests.data(), requests.size(), options.get(), queue.get());
  auto event = s.await_result(queue.get(), deadline, kCode, "create topics");

  const auto* result = rd_kafka_event_CreateTopics_result(event.get());
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  std::vector<std::string> created;
  std::vector<std::string> failures;
  for (std::size_t i = 0; i < count; ++i) {
    const auto err = rd_kafka_topic_result_error(results[i]);
    const char* name = rd_kafka_topic_result_name(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      created.emplace_back(name);
    } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* text = rd_kafka_topic_result_error_string(results[i]);
      failures.push_back(fmt::format("{}: {} ({})", name, text ? text : rd_kafka_err2str(err),
                                     rd_kafka_err2name(err)));
    }
  }
  if (!failures.empty()) {
    throw admin_error(kCode, fmt::format("create topics failed: {}", join(failures)));
  }

  const auto counts = s.await_leaders(topics, deadline);
  for (std::size_t i = 0; i < topics.size(); ++i) {
    if (counts[i] != partitions) {
      core::log::warn("kafka topic exists with another partition count",
                      {{"topic", topics[i]}, {"partitions", counts[i]}, {"wanted", partitions}});
    }
  }
  core::log::info("kafka topics ensured", {{"topics", topics.size()}, {"created", created.size()}});
}

std::vector<std::string> Admin::list_topics(std::chrono::milliseconds timeout) {
  State& s = *state_;
  const rd_kafka_metadata_t* raw = nullptr;
  const auto err =
      rd_kafka_metadata(s.rk.get(), 1, nullptr, &raw,
                        static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 1, INT32_MAX)));
  MetadataHandle metadata(raw);
  rd_kafka_poll(s.rk.get(), 0);
  if (err) {
    throw admin_error("KAFKA_METADATA_FAILED",
                      fmt::format("list topics on {}: {}", s.brokers, rd_kafka_err2str(err)));
  }
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(metadata->topic_cnt));
  for (int i = 0; i < metadata->topic_cnt; ++i) names.emplace_back(metadata->topics[i].topic);
  std::sort(names.begin(), names.end());
  return names;
}

void Admin::delete_topics(const std::vector<std::string>& topics,
                          std::chrono::milliseconds timeout) {
  constexpr const char* kCode = "KAFKA_DELETE_TOPICS_FAILED";
  if (topics.empty()) return;
  State& s = *state_;
  const auto deadline = Clock::now() + timeout;

  std::vector<DeleteTopicHandle> owned;
  std::vector<rd_kafka_DeleteTopic_t*> requests;
  for (const auto& name : topics) {
    owned.emplace_back(rd_kafka_DeleteTopic_new(name.c_str()));
    requests.push_back(owned.back().get());
  }
  auto options = s.admin_options(RD_KAFKA_ADMIN_OP_DELETETOPICS, deadline, kCode);
  QueueHandle queue(rd_kafka_queue_new(s.rk.get()));
  rd_kafka_DeleteTopics(s.rk.get(), requests.data(), requests.size(), options.get(), queue.get());
  auto event = s.await_result(queue.get(), deadline, kCode, "delete topics");

  const auto* result = rd_kafka_event_DeleteTopics_result(event.get());
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_DeleteTopics_result_topics(result, &count);
  std::vector<std::string> failures;
  for (std::size_t i = 0; i < count; ++i) {
    const auto err = rd_kafka_topic_result_error(results[i]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      failures.push_back(
          fmt::format("{}: {}", rd_kafka_topic_result_name(results[i]), rd_kafka_err2str(err)));
    }
  }
  if (!failures.empty()) {
    throw admin_error(kCode, fmt::format("delete topics failed: {}", join(failures)));
  }
}

}  // namespace ticketd::infra::kafka
