#include "core/rate_rule.hpp"

#include <charconv>

#include "core/strings.hpp"

namespace ticketd::core {
namespace {

std::optional<std::int64_t> whole(std::string_view s, std::int64_t lo, std::int64_t hi) {
  std::int64_t n = 0;
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, n);
  if (s.empty() || ec != std::errc{} || ptr != end || n < lo || n > hi) return std::nullopt;
  return n;
}

}  // namespace

std::optional<RateRule> RateRule::parse(std::string_view text) {
  text = trim(text);
  if (text == "off") return RateRule{};
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto count = whole(trim(text.substr(0, slash)), 1, 1'000'000'000);
  std::string_view period = trim(text.substr(slash + 1));
  if (!count || period.size() < 2) return std::nullopt;
  std::int64_t unit_ms = 0;
  switch (period.back()) {
    case 's':
      unit_ms = 1'000;
      break;
    case 'm':
      unit_ms = 60'000;
      break;
    case 'h':
      unit_ms = 3'600'000;
      break;
    default:
      return std::nullopt;
  }
  period.remove_suffix(1);
  const auto units = whole(period, 1, 86'400);
  if (!units || *units * unit_ms > 86'400'000) return std::nullopt;
  return RateRule{*count, std::chrono::milliseconds(*units * unit_ms)};
}

}  // namespace ticketd::core
