#include "modules/ratelimit/limiter.hpp"

#include <fmt/format.h>

#include <utility>

#include "core/log.hpp"

namespace ticketd::ratelimit {

namespace asio = boost::asio;
using infra::redis::Reply;

namespace {

// All or nothing: takes ARGV[1] tokens from every bucket in KEYS when each holds that many,
// else from none; ARGV[2] = 1 to take, 0 to only look. Then per key: capacity and refill per
// millisecond. A bucket's hash holds its tokens and when they were counted (Redis's clock, so
// instances with skewed clocks agree); it expires once it would be full again.
// Returns {allowed, then per key: tokens left, ms until full, ms until it holds the cost}.
constexpr std::string_view kScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local commit = ARGV[2] == '1'
local have, caps, rates = {}, {}, {}
local allowed = 1
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 * i + 1])
  local rate = tonumber(ARGV[2 * i + 2])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1])
  if tokens == nil then
    tokens = cap
  else
    tokens = math.min(cap, tokens + math.max(0, now - tonumber(state[2])) * rate)
  end
  have[i], caps[i], rates[i] = tokens, cap, rate
  if tokens < cost then allowed = 0 end
end
local out = {allowed}
for i, key in ipairs(KEYS) do
  local retry = 0
  if have[i] < cost then retry = math.ceil((cost - have[i]) / rates[i]) end
  if allowed == 1 and commit then
    have[i] = have[i] - cost
    local full_in = math.ceil((caps[i] - have[i]) / rates[i])
    redis.call('HSET', key, 'tokens', tostring(have[i]), 'at', now)
    redis.call('PEXPIRE', key, full_in + 1000)
  end
  out[#out + 1] = math.floor(have[i])
  out[#out + 1] = math.ceil((caps[i] - have[i]) / rates[i])
  out[#out + 1] = retry
end
return out
)lua";

constexpr std::string_view kKeyPrefix = "ticketd:rl:";

}  // namespace

Limiter::Limiter(std::shared_ptr<infra::redis::Client> redis, core::metrics::Registry& metrics,
                 std::size_t local_max_keys)
    : redis_(std::move(redis)),
      script_(std::string(kScript)),
      local_(local_max_keys),
      local_decisions_(metrics
                           .counter("ticketd_rate_limit_local_decisions_total",
                                    "Rate-limit decisions made per instance while Redis was "
                                    "unreachable")
                           .get()),
      degraded_gauge_(metrics
                          .gauge("ticketd_rate_limit_degraded",
                                 "1 while rate limits are kept per instance (Redis unreachable)")
                          .get()),
      refusals_(metrics.counter("ticketd_rate_limited_total",
                                "Requests answered 429 RATE_LIMITED, by traffic class",
                                {"class"})) {}

asio::awaitable<Verdict> Limiter::take(std::vector<Bucket> buckets, bool commit) {
  std::erase_if(buckets, [](const Bucket& b) { return b.rule.off(); });
  if (buckets.empty()) co_return Verdict{};
  std::string failure;
  if (redis_->connected()) {
    try {
      auto v = co_await in_redis(buckets, commit);
      set_degraded(false, {});
      co_return v;
    } catch (const std::exception& e) {
      failure = e.what();
    }
  } else {
    failure = "not connected";
  }
  set_degraded(true, failure);
  local_decisions_.inc();
  co_return local_.take(buckets, 1, commit, std::chrono::steady_clock::now());
}

asio::awaitable<Verdict> Limiter::in_redis(const std::vector<Bucket>& buckets, bool commit) {
  std::vector<std::string> keys;
  std::vector<std::string> args;
  keys.reserve(buckets.size());
  args.reserve(2 + 2 * buckets.size());
  for (const auto& b : buckets) keys.push_back(std::string(kKeyPrefix) + b.key);
  args.emplace_back("1");
  args.emplace_back(commit ? "1" : "0");
  for (const auto& b : buckets) {
    args.push_back(std::to_string(b.rule.count));
    args.push_back(fmt::format("{:.17g}", b.rule.per_ms()));
  }
  auto reply = co_await script_.run(*redis_, std::move(keys), std::move(args));
  if (reply.is_error() || reply.type != Reply::Type::kArray ||
      reply.elements.size() != 1 + 3 * buckets.size()) {
    throw std::runtime_error("unexpected rate-limit script reply: " + reply.str);
  }
  std::vector<Level> levels(buckets.size());
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    levels[i].tokens = static_cast<double>(reply.elements[1 + 3 * i].integer);
    levels[i].full_in_ms = reply.elements[2 + 3 * i].integer;
    levels[i].retry_in_ms = reply.elements[3 + 3 * i].integer;
  }
  co_return verdict_of(buckets, levels, reply.elements[0].integer == 1);
}

void Limiter::set_degraded(bool degraded, const std::string& why) {
  if (degraded_.exchange(degraded) == degraded) return;
  degraded_gauge_.set(degraded ? 1 : 0);
  if (degraded) {
    core::log::warn("rate limits fall back to per-instance buckets", {{"error", why}});
  } else {
    core::log::info("rate limits are shared through Redis again");
  }
}

}  // namespace ticketd::ratelimit
