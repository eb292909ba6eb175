#pragma once
// Plain values exchanged with Kafka; no librdkafka types leak past this header.
#include <cstdint>
#include <string>
#include <vector>

namespace ticketd::infra::kafka {

struct Header {
  std::string key;
  std::string value;

  friend bool operator==(const Header&, const Header&) = default;
};

// One consumed record, copied out of librdkafka's buffer so it can cross threads freely.
struct Message {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;                 // empty for a null key
  std::string value;               // empty for a null value (tombstone)
  std::vector<Header> headers;     // in wire order; keys may repeat
  std::int64_t timestamp_ms = -1;  // -1 when the record carries no timestamp
};

}  // namespace ticketd::infra::kafka
