#pragma once
// librdkafka repeats the same error on every reconnect attempt (about once a second while a broker
// is down). LogLimiter lets the first line of each kind through and then at most one per
// interval, counting what it held back, so an outage costs a handful of lines instead of a flood.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ticketd::infra::kafka {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogLimiter(Clock::duration interval = std::chrono::seconds(30)) : interval_(interval) {}

  // Returns the number of lines of this key suppressed since the last admitted one when the line
  // should be written now, or std::nullopt when it should be dropped. Thread-safe.
  std::optional<std::uint64_t> admit(std::string_view key, Clock::time_point now);
  std::optional<std::uint64_t> admit(std::string_view key) { return admit(key, Clock::now()); }

  // Forgets every key, so that the first error of the next outage is logged at once.
  void reset();

 private:
  struct Entry {
    Clock::time_point last;
    std::uint64_t suppressed = 0;
  };
  // Keys are librdkafka facilities and error names, a small fixed set; the cap only guards
  // against a surprise.
  static constexpr std::size_t kMaxKeys = 256;

  Clock::duration interval_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace ticketd::infra::kafka
