#include "modules/ratelimit/buckets.hpp"

#include <algorithm>
#include <cmath>

namespace ticketd::ratelimit {
namespace {

double refilled(double tokens, double per_ms, std::int64_t capacity, double elapsed_ms) {
  return std::min(static_cast<double>(capacity), tokens + std::max(0.0, elapsed_ms) * per_ms);
}

std::int64_t ms_until(double missing, double per_ms) {
  return missing <= 0 ? 0 : static_cast<std::int64_t>(std::ceil(missing / per_ms));
}

}  // namespace

Verdict verdict_of(const std::vector<Bucket>& buckets, const std::vector<Level>& levels,
                   bool allowed) {
  Verdict v;
  v.allowed = allowed;
  // The bucket to report: when refused, the one that must wait longest; else the emptiest
  // (smallest share of its capacity left).
  std::size_t pick = buckets.size();
  for (std::size_t i = 0; i < buckets.size() && i < levels.size(); ++i) {
    if (pick == buckets.size()) {
      pick = i;
      continue;
    }
    const auto share = [&](std::size_t k) {
      return levels[k].tokens / static_cast<double>(buckets[k].rule.count);
    };
    const bool worse =
        allowed ? share(i) < share(pick) : levels[i].retry_in_ms > levels[pick].retry_in_ms;
    if (worse) pick = i;
  }
  if (pick == buckets.size()) return v;
  const Level& l = levels[pick];
  v.limited = true;
  v.limit = buckets[pick].rule.count;
  v.remaining = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(l.tokens)));
  v.reset_seconds = (l.full_in_ms + 999) / 1000;
  if (!allowed) v.retry_after_seconds = std::max<std::int64_t>(1, (l.retry_in_ms + 999) / 1000);
  return v;
}

Verdict LocalBuckets::take(const std::vector<Bucket>& buckets, int cost, bool commit,
                           std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (states_.size() + buckets.size() > max_keys_) prune(now);
  std::vector<Level> levels(buckets.size());
  std::vector<State*> states(buckets.size());
  bool allowed = true;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const auto& rule = buckets[i].rule;
    auto [it, fresh] = states_.try_emplace(buckets[i].key);
    State& s = it->second;
    if (fresh || s.capacity != rule.count || s.per_ms != rule.per_ms()) {
      s = State{static_cast<double>(rule.count), now, rule.count, rule.per_ms()};
    }
    const double elapsed = std::chrono::duration<double, std::milli>(now - s.at).count();
    s.tokens = refilled(s.tokens, s.per_ms, s.capacity, elapsed);
    s.at = now;
    states[i] = &s;
    levels[i].tokens = s.tokens;
    levels[i].retry_in_ms = ms_until(cost - s.tokens, s.per_ms);
    if (s.tokens < cost) allowed = false;
  }
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    State& s = *states[i];
    if (allowed && commit) s.tokens -= cost;
    levels[i].tokens = s.tokens;
    levels[i].full_in_ms = ms_until(static_cast<double>(s.capacity) - s.tokens, s.per_ms);
  }
  return verdict_of(buckets, levels, allowed);
}

std::size_t LocalBuckets::size() const {
  std::lock_guard lock(mutex_);
  return states_.size();
}

void LocalBuckets::prune(std::chrono::steady_clock::time_point now) {
  std::erase_if(states_, [now](const auto& entry) {
    const State& s = entry.second;
    const double elapsed = std::chrono::duration<double, std::milli>(now - s.at).count();
    return refilled(s.tokens, s.per_ms, s.capacity, elapsed) >= static_cast<double>(s.capacity);
  });
  if (states_.size() >= max_keys_) states_.clear();
}

}  // namespace ticketd::ratelimit
