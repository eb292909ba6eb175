#pragma once
// Metric families of the Kafka clients. core::metrics::Registry does not deduplicate names, so a
// family set is created once per registry and shared by every client that reports into it.
#include <memory>

#include "core/metrics.hpp"

namespace ticketd::infra::kafka {

struct ProducerMetrics {
  explicit ProducerMetrics(core::metrics::Registry& registry);

  core::metrics::Family<core::metrics::Counter>& produced;   // {topic, outcome}
  core::metrics::Family<core::metrics::Histogram>& latency;  // {topic}, enqueue → broker ack
  core::metrics::Gauge& in_flight;    // enqueued, not yet acknowledged or failed
  core::metrics::Gauge& queue_limit;  // queue.buffering.max.messages in effect
  core::metrics::Gauge& broker_up;    // 1 while the reachability probe succeeds
};

struct ConsumerMetrics {
  explicit ConsumerMetrics(core::metrics::Registry& registry);

  core::metrics::Family<core::metrics::Counter>& consumed;  // {group, topic}
  core::metrics::Family<core::metrics::Counter>& commits;   // {group, outcome}
  core::metrics::Family<core::metrics::Gauge>& lag;         // {group, topic}
};

}  // namespace ticketd::infra::kafka
