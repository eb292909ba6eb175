#include "infra/kafka/log_limiter.hpp"

namespace ticketd::infra::kafka {

std::optional<std::uint64_t> LogLimiter::admit(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxKeys) entries_.clear();
    entries_.emplace(std::string(key), Entry{now, 0});
    return 0;
  }
  Entry& e = it->second;
  if (now - e.last < interval_) {
    ++e.suppressed;
    return std::nullopt;
  }
  const std::uint64_t suppressed = e.suppressed;
  e = Entry{now, 0};
  return suppressed;
}

void LogLimiter::reset() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

}  // namespace ticketd::infra::kafka
