#include "app/topics.hpp"

#include <algorithm>
#include <chrono>

#include "core/log.hpp"
#include "infra/kafka/admin.hpp"

namespace ticketd::app {

TopicEnsurer::TopicEnsurer(infra::kafka::Options options, int partitions, int replication)
    : thread_([this, options = std::move(options), partitions, replication] {
        run(options, partitions, replication);
      }) {}

TopicEnsurer::~TopicEnsurer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void TopicEnsurer::run(const infra::kafka::Options& options, int partitions, int replication) {
  auto backoff = std::chrono::milliseconds(500);
  for (;;) {
    try {
      infra::kafka::Admin admin(options);
      admin.ensure_topics(all_topics(), partitions, replication, std::chrono::seconds(10));
      done_.store(true);
      core::log::info("kafka topics ensured", {{"count", all_topics().size()}});
      return;
    } catch (const std::exception& e) {
      core::log::warn("kafka topics not ensured yet", {{"error", e.what()}});
    }
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, backoff, [this] { return stopping_; })) return;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
  }
}

}  // namespace ticketd::app
