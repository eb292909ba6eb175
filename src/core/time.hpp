#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::core {

// ISO-8601 UTC with milliseconds, e.g. 2026-11-25T10:00:00.123Z (the wire format for timestamps).
// Takes milliseconds: a parsed year up to 9999 does not fit system_clock's nanoseconds (they end in
// 2262), and converting one there overflowed.
std::string iso8601(std::chrono::sys_time<std::chrono::milliseconds> t);
inline std::string iso8601(std::chrono::system_clock::time_point t) {
  return iso8601(std::chrono::floor<std::chrono::milliseconds>(t));
}
inline std::string iso8601_now() {
  return iso8601(std::chrono::system_clock::now());
}
// Seconds since the Unix epoch (webhook signature timestamps).
inline std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Milliseconds since the Unix epoch (admission token expiries).
inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Parses an ISO-8601 date-time with a zone: YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|±HH:MM|±HHMM),
// years 1970–9999. nullopt for anything else, including impossible dates (Feb 30).
std::optional<std::chrono::sys_time<std::chrono::milliseconds>> parse_iso8601(std::string_view s);
// parse_iso8601 then iso8601: what a client's timestamp is stored and answered as, or nullopt.
inline std::optional<std::string> wire_timestamp(std::string_view s) {
  auto t = parse_iso8601(s);
  if (!t) return std::nullopt;
  return iso8601(*t);
}

}  // namespace ticketd::core
