#pragma once
#include <string>

namespace ticketd::core {

// Who performed a change: recorded in audit rows and in the `actor` of outbox events.
struct Actor {
  std::string user_id;     // empty for an API key
  std::string api_key_id;  // empty for a user
  std::string request_id;  // also the correlation id of the events the change writes
  std::string ip;
};

}  // namespace ticketd::core
