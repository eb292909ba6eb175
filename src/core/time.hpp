#pragma once
#include <chrono>
#include <string>

namespace ticketd::core {

// ISO-8601 UTC with milliseconds, e.g. 2026-11-25T10:00:00.123Z (the wire format for timestamps).
std::string iso8601(std::chrono::system_clock::time_point t);
inline std::string iso8601_now() {
  return iso8601(std::chrono::system_clock::now());
}

}  // namespace ticketd::core
