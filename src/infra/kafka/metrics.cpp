#include "infra/kafka/metrics.hpp"

namespace ticketd::infra::kafka {

ProducerMetrics::ProducerMetrics(core::metrics::Registry& registry)
    : produced(registry.counter("ticketd_kafka_produced_total",
                                "Messages handed to the Kafka producer, by final outcome "
                                "(ok, failed, rejected = not even enqueued)",
                                {"topic", "outcome"})),
      latency(registry.histogram("ticketd_kafka_produce_latency_seconds",
                                 "Time from enqueue to broker acknowledgement", {"topic"})),
      in_flight(registry
                    .gauge("ticketd_kafka_produce_in_flight",
                           "Messages enqueued and not yet acknowledged or failed")
                    .get()),
      queue_limit(registry
                      .gauge("ticketd_kafka_produce_queue_limit",
                             "Bound of the producer's local queue (queue.buffering.max.messages)")
                      .get()),
      broker_up(registry
                    .gauge("ticketd_kafka_broker_up",
                           "1 while a metadata request to the Kafka cluster succeeds, else 0")
                    .get()) {}

ConsumerMetrics::ConsumerMetrics(core::metrics::Registry& registry)
    : consumed(registry.counter("ticketd_kafka_consumed_total",
                                "Messages returned by Consumer::poll", {"group", "topic"})),
      commits(registry.counter("ticketd_kafka_commits_total",
                               "Synchronous offset commits, by outcome (ok, failed)",
                               {"group", "outcome"})),
      lag(registry.gauge("ticketd_kafka_consumer_lag",
                         "High watermark minus position over the assigned partitions "
                         "(librdkafka's cached watermarks; no extra requests)",
                         {"group", "topic"})) {}

}  // namespace ticketd::infra::kafka
