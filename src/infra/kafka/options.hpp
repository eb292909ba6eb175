#pragma once
// Connection options shared by Producer, Consumer and Admin, and RAII owners for every
// librdkafka C handle: a handle is wrapped the moment librdkafka returns it, so no early return
// or exception can leak one.
#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

namespace ticketd::infra::kafka {

struct Options {
  std::string brokers = "127.0.0.1:9092";
  std::string client_id = "ticketd";
  // Raw librdkafka properties, applied after each component's defaults so an operator can
  // override any of them (for example "message.timeout.ms" or "auto.offset.reset").
  std::map<std::string, std::string> extra;
};

namespace detail {

struct KafkaDeleter {
  void operator()(rd_kafka_t* p) const noexcept { rd_kafka_destroy(p); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* p) const noexcept { rd_kafka_conf_destroy(p); }
};
struct TopicPartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* p) const noexcept {
    rd_kafka_topic_partition_list_destroy(p);
  }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* p) const noexcept { rd_kafka_headers_destroy(p); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* p) const noexcept { rd_kafka_message_destroy(p); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* p) const noexcept { rd_kafka_error_destroy(p); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* p) const noexcept { rd_kafka_queue_destroy(p); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* p) const noexcept { rd_kafka_event_destroy(p); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* p) const noexcept { rd_kafka_metadata_destroy(p); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* p) const noexcept { rd_kafka_AdminOptions_destroy(p); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* p) const noexcept { rd_kafka_NewTopic_destroy(p); }
};
struct DeleteTopicDeleter {
  void operator()(rd_kafka_DeleteTopic_t* p) const noexcept { rd_kafka_DeleteTopic_destroy(p); }
};

}  // namespace detail

// rd_kafka_destroy() joins librdkafka's threads; a consumer must be closed first
// (Consumer does that) or destroy performs the close itself and may block.
using KafkaHandle = std::unique_ptr<rd_kafka_t, detail::KafkaDeleter>;
// rd_kafka_new() takes ownership of the conf only on success: release() it then, not before.
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, detail::ConfDeleter>;
using TopicPartitionListHandle =
    std::unique_ptr<rd_kafka_topic_partition_list_t, detail::TopicPartitionListDeleter>;
using HeadersHandle = std::unique_ptr<rd_kafka_headers_t, detail::HeadersDeleter>;
using MessageHandle = std::unique_ptr<rd_kafka_message_t, detail::MessageDeleter>;
using ErrorHandle = std::unique_ptr<rd_kafka_error_t, detail::ErrorDeleter>;
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, detail::QueueDeleter>;
using EventHandle = std::unique_ptr<rd_kafka_event_t, detail::EventDeleter>;
using MetadataHandle = std::unique_ptr<const rd_kafka_metadata_t, detail::MetadataDeleter>;
using AdminOptionsHandle = std::unique_ptr<rd_kafka_AdminOptions_t, detail::AdminOptionsDeleter>;
using NewTopicHandle = std::unique_ptr<rd_kafka_NewTopic_t, detail::NewTopicDeleter>;
using DeleteTopicHandle = std::unique_ptr<rd_kafka_DeleteTopic_t, detail::DeleteTopicDeleter>;

}  // namespace ticketd::infra::kafka
