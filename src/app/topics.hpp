#pragma once
// The Kafka topics ticketd writes (README, "Outbox → Kafka"), ensured at start-up. Consumed
// topics also get a `<topic>.dlq`.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "infra/kafka/options.hpp"

namespace ticketd::app {

inline constexpr std::string_view kDomainTopics[] = {
    "reservation.created", "reservation.expired", "reservation.cancelled",   "payment.succeeded",
    "payment.failed",      "payment.refunded",    "payment.refund_required", "ticket.issued",
    "seat.sold",           "event.created",       "event.updated",
};

inline constexpr std::string_view kConsumedTopics[] = {"payment.succeeded"};

inline std::vector<std::string> all_topics() {
  std::vector<std::string> out(std::begin(kDomainTopics), std::end(kDomainTopics));
  for (auto t : kConsumedTopics) out.push_back(std::string(t) + ".dlq");
  return out;
}

// Ensures the Kafka topics off the I/O threads, retrying while the broker is unreachable so the
// API can start (and report not-ready) before Kafka does.
class TopicEnsurer {
 public:
  TopicEnsurer(infra::kafka::Options options, int partitions, int replication);
  ~TopicEnsurer();
  TopicEnsurer(const TopicEnsurer&) = delete;
  TopicEnsurer& operator=(const TopicEnsurer&) = delete;
  bool done() const noexcept { return done_.load(); }

 private:
  void run(const infra::kafka::Options& options, int partitions, int replication);

  std::atomic<bool> done_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

}  // namespace ticketd::app
