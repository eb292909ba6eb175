#pragma once
// Token buckets, the arithmetic and the per-instance store. The same rule runs in Redis (the Lua
// script in limiter.cpp) for limits shared by every instance; LocalBuckets is the fallback while
// Redis is unreachable: limits then hold per instance, never "unlimited", never "refuse all".
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/rate_rule.hpp"

namespace ticketd::ratelimit {

// One bucket a request draws from: its key ("api:ip:10.1.2.3") and its rule.
struct Bucket {
  std::string key;
  core::RateRule rule;
};

// A bucket's state after a decision.
struct Level {
  double tokens = 0;             // left (after the draw, when it was allowed)
  std::int64_t full_in_ms = 0;   // until the bucket is full again
  std::int64_t retry_in_ms = 0;  // until it holds the cost (0 when it did)
};

// What a request learns: allowed or not, and the RateLimit-* values of the bucket closest to
// refusing (the one that refused, when one did).
struct Verdict {
  bool allowed = true;
  bool limited = false;  // false when no bucket applied (no headers then)
  std::int64_t limit = 0;
  std::int64_t remaining = 0;
  std::int64_t reset_seconds = 0;
  std::int64_t retry_after_seconds = 0;  // when refused, at least 1
};

// Combines the levels of `buckets` (same order) into the verdict.
Verdict verdict_of(const std::vector<Bucket>& buckets, const std::vector<Level>& levels,
                   bool allowed);

// Buckets in this process's memory, bounded: past `max_keys` the full ones are forgotten (a full
// bucket is the same as none), then, if still too many, all of them (limits restart rather
// than grow without bound under a flood of addresses).
class LocalBuckets {
 public:
  explicit LocalBuckets(std::size_t max_keys = 100'000) : max_keys_(max_keys) {}

  // Takes `cost` tokens from every bucket when each holds that many, else from none; with
  // `commit` false only looks. `now` is any monotonic clock reading.
  Verdict take(const std::vector<Bucket>& buckets, int cost, bool commit,
               std::chrono::steady_clock::time_point now);

  std::size_t size() const;

 private:
  struct State {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
    std::int64_t capacity = 0;
    double per_ms = 0;
  };
  void prune(std::chrono::steady_clock::time_point now);

  std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, State> states_;
};

}  // namespace ticketd::ratelimit
