#pragma once
// Rate limits shared by every instance: token buckets in Redis, decided by one Lua script call
// per request (EVALSHA, one round trip, all of the request's buckets at once, on Redis's clock).
// When Redis cannot answer, the same buckets are kept in this process (LocalBuckets): logged
// when it starts and ends, counted, never "unlimited" and never "refuse everyone".
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "infra/redis/client.hpp"
#include "infra/redis/script.hpp"
#include "modules/ratelimit/buckets.hpp"

namespace ticketd::ratelimit {

class Limiter {
 public:
  Limiter(std::shared_ptr<infra::redis::Client> redis, core::metrics::Registry& metrics,
          std::size_t local_max_keys = 100'000);

  // Takes one token from every bucket when each holds one, else from none; with `commit` false
  // only looks (would one be taken?). Buckets whose rule is off are ignored. Never throws.
  boost::asio::awaitable<Verdict> take(std::vector<Bucket> buckets, bool commit);

  // Whether the last decision was made in this process (Redis unreachable).
  bool degraded() const noexcept { return degraded_.load(); }

  // ticketd_rate_limited_total{class}: requests answered 429. Registered with the limiter, so
  // /metrics lists it (and dashboards find it) also while RATE_LIMIT_ENABLED=false.
  core::metrics::Family<core::metrics::Counter>& refusals() noexcept { return refusals_; }

 private:
  // One EVALSHA. Throws when Redis cannot answer.
  boost::asio::awaitable<Verdict> in_redis(const std::vector<Bucket>& buckets, bool commit);
  void set_degraded(bool degraded, const std::string& why);

  std::shared_ptr<infra::redis::Client> redis_;
  infra::redis::Script script_;
  LocalBuckets local_;
  std::atomic<bool> degraded_{false};
  core::metrics::Counter& local_decisions_;
  core::metrics::Gauge& degraded_gauge_;
  core::metrics::Family<core::metrics::Counter>& refusals_;
};

}  // namespace ticketd::ratelimit
