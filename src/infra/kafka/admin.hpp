#pragma once
// Topic administration through librdkafka's Admin API.
//
// Every call blocks the calling thread until the cluster answers or the timeout passes. Admin is
// meant for start-up (ensure the topics exist before I/O threads serve traffic) and for tests;
// never call it from an Asio I/O thread.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "infra/kafka/options.hpp"

namespace ticketd::infra::kafka {

class Admin {
 public:
  // Creates the client; does not contact the cluster yet. Throws
  // InfraError(kInternal, "KAFKA_CONFIG_INVALID") or InfraError(kUnavailable,
  // "KAFKA_CLIENT_FAILED").
  explicit Admin(const Options& options);
  ~Admin();

  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Creates the topics that do not exist yet (existing ones are left as they are; a partition
  // count different from `partitions` is logged as a warning) and returns once every topic has a
  // leader for each partition in the cluster's metadata, so producing can start right away.
  // Throws InfraError(kUnavailable, "KAFKA_ENSURE_TOPICS_FAILED") naming each failed topic and
  // its reason, or when `timeout` passes first.
  void ensure_topics(const std::vector<std::string>& topics, int partitions, int replication,
                     std::chrono::milliseconds timeout);

  // Returns the names of every topic in the cluster (internal ones such as __consumer_offsets
  // included), sorted. Throws InfraError(kUnavailable, "KAFKA_METADATA_FAILED").
  std::vector<std::string> list_topics(std::chrono::milliseconds timeout);

  // Deletes the topics; one that does not exist counts as deleted. Throws
  // InfraError(kUnavailable, "KAFKA_DELETE_TOPICS_FAILED").
  void delete_topics(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ticketd::infra::kafka
