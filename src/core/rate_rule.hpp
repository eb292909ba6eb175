#pragma once
// One rate limit as configured: "<count>/<period>" (RATE_LIMIT_* variables), e.g. "30/1m" is a
// token bucket that holds 30 tokens (the burst) and refills 30 per minute; "off" disables it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ticketd::core {

struct RateRule {
  std::int64_t count = 0;  // bucket capacity; 0 = off
  std::chrono::milliseconds period{0};

  bool off() const noexcept { return count == 0; }
  // Tokens added per millisecond.
  double per_ms() const noexcept {
    return off() ? 0.0 : static_cast<double>(count) / static_cast<double>(period.count());
  }

  // "30/1m", "5/10s", "1000/1h", "off". Count 1..10^9, period 1 s..24 h (s, m or h). nullopt
  // for anything else.
  static std::optional<RateRule> parse(std::string_view text);
};

}  // namespace ticketd::core
